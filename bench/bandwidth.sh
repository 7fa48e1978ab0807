#!/usr/bin/env bash
# Ring-step bandwidth of the UCX transport (BandwidthBench: in-JVM, UCX shared memory, UCX TCP
# loopback; medians), then ucx_perftest's one-way tag_bw and ucp_put_bw for the same sizes when it
# is installed. Usage: bench/bandwidth.sh [--sizes 65536,...] [--modes injvm,shm-tag,...]
set -euo pipefail
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
export MAVEN_OPTS=${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
SIZES=65536,262144,1048576,4194304,16777216
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [[ ${args[i]} == --sizes ]]; then SIZES=${args[i + 1]}; fi
done

JAR=bench/target/benchmarks.jar
if [[ ! -f $JAR ]]; then
  mvn -q -pl bench -am package -DskipTests
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A private copy of the jar: a concurrent build of the tree must not pull it away mid-run.
cp "$JAR" "$work/benchmarks.jar"

echo "== ringattn BandwidthBench (ring step, 2 ranks, both directions at once; GB/s = 1e9 B/s per direction)"
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -cp "$work/benchmarks.jar" \
  ringattn.bench.BandwidthBench --sizes "$SIZES" "$@" 2> >(grep -v -e '^\[rank' -e WARNING >&2)

if ! command -v ucx_perftest >/dev/null; then
  echo "ucx_perftest not installed (apt-get install ucx-utils): no comparison"
  exit 0
fi
echo
echo "== ucx_perftest (one direction at a time; 'overall' bandwidth; GB/s = 1e9 B/s)"
port=$((13000 + RANDOM % 2000))
perftest() { # label env test size
  local label=$1 envs=$2 test=$3 size=$4
  local n=$(( 536870912 / size )); (( n < 200 )) && n=200; (( n > 5000 )) && n=5000
  port=$((port + 1))
  env $envs ucx_perftest -t "$test" -s "$size" -n "$n" -w $((n / 10)) -p "$port" -f >/dev/null 2>&1 &
  local server=$!
  sleep 0.4
  local line
  line=$(env $envs ucx_perftest 127.0.0.1 -t "$test" -s "$size" -n "$n" -w $((n / 10)) -p "$port" -f 2>/dev/null \
    | awk '$1 ~ /^[0-9]+$/ && NF >= 8 {l=$0} END {print l}')
  wait "$server" 2>/dev/null || true
  # field 6: overall bandwidth in MB/s with MB = 2^20 bytes
  awk -v l="$line" 'BEGIN {split(l, f); if (f[6] == "") printf "%10s", "-"; else printf "%10.2f", f[6] * 1048576 / 1e9}'
}
printf '%-22s' "GB/s (overall)"
IFS=, read -ra sz <<<"$SIZES"
for s in "${sz[@]}"; do
  if (( s >= 1048576 )); then printf '%10s' "$((s / 1048576)) MiB"; else printf '%10s' "$((s / 1024)) KiB"; fi
done
echo
for row in "shm tag_bw|UCX_NET_DEVICES=lo|tag_bw" "shm ucp_put_bw|UCX_NET_DEVICES=lo|ucp_put_bw" \
           "tcp tag_bw|UCX_TLS=tcp UCX_NET_DEVICES=lo|tag_bw" "tcp ucp_put_bw|UCX_TLS=tcp UCX_NET_DEVICES=lo|ucp_put_bw"; do
  IFS='|' read -r label envs test <<<"$row"
  printf '%-22s' "$label"
  for s in "${sz[@]}"; do perftest "$label" "$envs" "$test" "$s"; done
  echo
done
