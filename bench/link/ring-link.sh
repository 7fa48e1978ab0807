#!/usr/bin/env bash
# Where does communication stop hiding? Two ranks in two network namespaces joined by a veth pair
# shaped with tbf, UCX over TCP, the demo's forward ring at several sequence lengths and link rates.
# Prints one CSV line per run: rate_gbit,seq,seconds,hidden_comm_fraction,block_tokens,threshold_tokens
# where threshold_tokens is the published overlap condition (block size >= FLOP/s / bandwidth) for
# one ring step, in tokens:
#   compute per step  = 4 * c^2 * D * H / F      (c = tokens per block, F = one rank's FLOP/s on a
#                                                 c x c block, measured here by a 1-rank job of c tokens)
#   transfer per step = 2 * c * Hkv * D * 4 / B  (K and V in fp32, B = link bytes/s)
#   hidden iff c >= 2 * Hkv * F / (H * B)        (non-causal)
# Needs root (ip netns, tc). Usage: bench/link/ring-link.sh [rates_gbit] [seqs]  e.g. "1 2 5 10" "2048 4096 8192"
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RATES=${1:-"1 2 4 8"}
SEQS=${2:-"2048 4096 8192"}
HEADS=${HEADS:-8}
DIM=${DIM:-128}
[ "$(id -u)" = 0 ] || { echo "error: needs root for ip netns and tc" >&2; exit 2; }
command -v ip >/dev/null && command -v tc >/dev/null || { echo "error: needs iproute2 (ip, tc)" >&2; exit 2; }

NS0=ralink0; NS1=ralink1; V0=ralv0; V1=ralv1; A0=10.78.0.1; A1=10.78.0.2
cleanup() { ip netns del $NS0 2>/dev/null || true; ip netns del $NS1 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add $NS0; ip netns add $NS1
ip link add $V0 type veth peer name $V1
ip link set $V0 netns $NS0; ip link set $V1 netns $NS1
ip -n $NS0 addr add $A0/24 dev $V0; ip -n $NS1 addr add $A1/24 dev $V1
for ns in $NS0 $NS1; do ip -n $ns link set lo up; done
ip -n $NS0 link set $V0 up; ip -n $NS1 link set $V1 up

"$ROOT/ringattn" demo --help >/dev/null 2>&1 || true   # builds when needed
LAUNCH=$(mktemp); trap 'cleanup; rm -f "$LAUNCH"' EXIT
# The worker command line, as the launcher runs it (without its build step).
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
MP="$ROOT/modules/cli/target/ringattn-cli-0.1.0-SNAPSHOT.jar:$ROOT/modules/cli/target/lib"
JAVA=("$JAVA_HOME/bin/java" --module-path "$MP" --add-modules jdk.incubator.vector
      --enable-native-access=ringattn.engine,ringattn.cli,ringattn.cuda,ringattn.transport.ucx,jucx
      -XX:+UseG1GC -m ringattn.cli/ringattn.cli.Main)

# One rank's compute rate on a block of c = S/2 tokens (no communication): F(c).
declare -A FLOPS
for seq in $SEQS; do
  c=$((seq / 2))
  FLOPS[$seq]=$("${JAVA[@]}" demo --transport local --ranks 1 --threads 1 --seq "$c" --heads "$HEADS" --head-dim "$DIM" \
      --no-causal --check-rows 4 --repeat 3 --json 2>/dev/null | tail -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["gflops"])')
done
echo "rate_gbit,seq,seconds,hidden_comm_fraction,compute_gflops_per_rank,block_tokens,threshold_tokens"
for rate in $RATES; do
  # The smallest bucket tbf allows at this rate (rate / HZ, with margin): a large burst would let
  # the first megabytes of every block through at line rate.
  burst=$(python3 -c "print(max(32768, int($rate * 1e9 / 8 / 250 * 1.5)))")
  for ns_dev in "$NS0 $V0" "$NS1 $V1"; do
    set -- $ns_dev
    ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate "${rate}gbit" burst "$burst" latency 50ms
  done
  for seq in $SEQS; do
    port=$((47100 + RANDOM % 500))
    common=(worker demo --ranks 2 --seq "$seq" --heads "$HEADS" --head-dim "$DIM" --no-causal --threads 1
            --check-rows 8 --repeat 2 --coordinator "$A0:$port" --bind "$A0" --job-id "link-$rate-$seq" --timeout 120)
    ip netns exec $NS1 env RINGATTN_RANK=1 RINGATTN_WORLD_SIZE=2 RINGATTN_SECRET=linkbench UCX_TLS=tcp,self UCX_NET_DEVICES=$V1 \
      "${JAVA[@]}" "${common[@]}" >/dev/null 2>"$LAUNCH.r1" &
    r1=$!
    out=$(ip netns exec $NS0 env RINGATTN_RANK=0 RINGATTN_WORLD_SIZE=2 RINGATTN_SECRET=linkbench UCX_TLS=tcp,self UCX_NET_DEVICES=$V0 \
      "${JAVA[@]}" "${common[@]}" --json 2>"$LAUNCH.r0" | tail -1) || { cat "$LAUNCH.r0" "$LAUNCH.r1" >&2; exit 1; }
    wait $r1
    python3 - "$rate" "$seq" "$HEADS" "$DIM" "$out" "${FLOPS[$seq]}" <<'PY'
import json, sys
rate, seq, heads, dim, line = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
j = json.loads(line)
ranks = j["ranks"]; block = seq // ranks
f = float(sys.argv[6]) * 1e9
b = rate * 1e9 / 8
threshold = 2 * j["kv_heads"] * f / (heads * b)
print(f'{rate:g},{seq},{j["seconds"]:.3f},{j["hidden_comm_fraction"]:.3f},{f/1e9:.1f},{block},{threshold:.0f}')
PY
  done
done
