#!/usr/bin/env bash
# Decode speed against context length and rank count, beside llama.cpp's decode of the same GGUF.
# For each context C: a prompt of BOS and C−1 seeded random ids (written by DecodeBench, the same ids
# for both), prefilled, then N greedy tokens. Ours (DecodeBench): for each P, the ranks as threads of
# one JVM (a fresh JVM per point, warmed up on a 1024-token prompt) and, for P > 1, as P UCX processes
# on this host; both read the GGUF. llama.cpp: bench/decode/llama_decode.c over the prebuilt CPU library of the npm package
# @node-llama-cpp/linux-x64 3.22.1 (F32 K/V cache, flash attention off, same threads). Decode tokens/s
# count the N−1 steps after the first token. Medians over ROUNDS; prints one Markdown table.
#
# usage: bench/decode.sh
# env: QUICK=1            smoke test: CONTEXTS=1024,4096, NEW=16
#      CONTEXTS=1024,4096,16384,65536   RANKS=1,2,4   NEW=64   THREADS=1 (per rank, and llama.cpp's)
#      ROUNDS=1           runs per point (medians)
#      UCX=1              also P>1 as UCX processes (0: in-JVM ranks only)
#      LLAMA=1            run llama.cpp (0: skip; also skipped with a note when npm, gcc or the bundle is missing)
#      UBATCH=512         llama.cpp's prefill chunk (n_batch = n_ubatch)
#      ISA=native|avx2    avx2: ours with -XX:UseAVX=2 (llama.cpp picks its CPU variant itself)
#      JVM_OPTS           more JVM options;  IDLE_WAIT=60 seconds to wait for an idle machine
#      OUT=DIR            logs and JSON lines (default a fresh /tmp folder)
#      LLAMA_CPP_NPM_DIR  a folder holding node_modules with the npm package (default bench/cold-start/.llama,
#                         installed there on first use, shared with cold-start.sh)
set -euo pipefail
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
export MAVEN_OPTS=${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${QUICK:-0}" = 1 ]; then
  CONTEXTS=${CONTEXTS:-1024,4096}; NEW=${NEW:-16}
fi
CONTEXTS=${CONTEXTS:-1024,4096,16384,65536}
RANKS=${RANKS:-1,2,4}
NEW=${NEW:-64}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-1}
UCX=${UCX:-1}
UBATCH=${UBATCH:-512}
list='^[1-9][0-9]*(,[1-9][0-9]*)*$'
[[ "$CONTEXTS" =~ $list ]] || { echo "error: CONTEXTS: expected positive integers separated by commas, got '$CONTEXTS'" >&2; exit 2; }
[[ "$RANKS" =~ $list ]] || { echo "error: RANKS: expected positive integers separated by commas, got '$RANKS'" >&2; exit 2; }
for v in NEW THREADS ROUNDS UBATCH; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "error: $v: expected a positive integer, got '${!v}'" >&2; exit 2; }
done
(( NEW >= 2 )) || { echo "error: NEW: must be >= 2 (the first token comes from the prefill), got $NEW" >&2; exit 2; }
MODEL="$ROOT/../shared/models/stories260K"
[ -f "$MODEL/stories260K.gguf" ] \
  || { echo "error: $MODEL: no stories260K model (../shared/models beside the checkout)" >&2; exit 2; }
JVM=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -Xmx8g)
case "${ISA:-native}" in
  native) ;;
  avx2) JVM+=(-XX:UseAVX=2) ;;
  *) echo "error: ISA: expected native or avx2, got '$ISA'" >&2; exit 2 ;;
esac
# shellcheck disable=SC2206
JVM+=(${JVM_OPTS:-})
WORK="$ROOT/bench/decode/.work"
OUT=${OUT:-$(mktemp -d /tmp/decode-bench.XXXXXX)}
mkdir -p "$WORK" "$OUT/prompts"

# ours: build, then a private copy of the jar (a concurrent build must not pull it away mid-run)
(cd "$ROOT" && { mvn -B -o -q -pl bench -am package -DskipTests || mvn -B -q -pl bench -am package -DskipTests; }) >"$OUT/build.log" 2>&1 \
  || { tail -20 "$OUT/build.log" >&2; echo "error: the build failed (log: $OUT/build.log)" >&2; exit 1; }
cp "$ROOT/bench/target/benchmarks.jar" "$OUT/benchmarks.jar"
bench() { "$JAVA_HOME/bin/java" "${JVM[@]}" -cp "$OUT/benchmarks.jar" ringattn.bench.DecodeBench --model "$MODEL/stories260K.gguf" \
  --new "$NEW" --threads "$THREADS" --prompt-dir "$OUT/prompts" --json "$@"; }

# llama.cpp: the npm package's library and the driver compiled against the bundled headers
LLAMA_BIN=""
if [ "${LLAMA:-1}" = 1 ]; then
  NPM_DIR="${LLAMA_CPP_NPM_DIR:-$ROOT/bench/cold-start/.llama}"
  LIB="$NPM_DIR/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
  if [ ! -d "$LIB" ] && command -v npm >/dev/null 2>&1; then
    mkdir -p "$NPM_DIR"
    (cd "$NPM_DIR" && npm install --no-audit --no-fund --ignore-scripts node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1 >/dev/null 2>&1) || true
  fi
  if [ -d "$LIB" ] && command -v gcc >/dev/null 2>&1; then
    [ -d "$WORK/llama.cpp" ] || git clone -q "$NPM_DIR/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$WORK/llama.cpp" 2>/dev/null || true
    if [ ! -x "$WORK/llama_decode" ] || [ "$ROOT/bench/decode/llama_decode.c" -nt "$WORK/llama_decode" ]; then
      gcc -O2 -o "$WORK/llama_decode" "$ROOT/bench/decode/llama_decode.c" -I"$WORK/llama.cpp/include" -I"$WORK/llama.cpp/ggml/include" \
        -L"$LIB" -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so -Wl,-rpath,"$LIB" 2>"$WORK/gcc.log" || rm -f "$WORK/llama_decode"
    fi
    [ -x "$WORK/llama_decode" ] && LLAMA_BIN="$WORK/llama_decode"
  fi
  [ -n "$LLAMA_BIN" ] || echo "note: llama.cpp not available (npm, gcc or the bundle missing; see $WORK/gcc.log); its columns stay empty" >&2
fi

if [ -x /work/shared/peers/wait_idle.sh ]; then
  /work/shared/peers/wait_idle.sh "${IDLE_WAIT:-60}" || echo "# machine still busy, measuring anyway" >&2
fi
CPU="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores, $(grep -q -w avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# logs in $OUT" >&2
IFS=, read -ra CS <<<"$CONTEXTS"
IFS=, read -ra PS <<<"$RANKS"
for ((r = 1; r <= ROUNDS; r++)); do
  for c in "${CS[@]}"; do
    for p in "${PS[@]}"; do
      echo "# round $r: C=$c P=$p ours (in-JVM ranks)" >&2
      bench --contexts "$c" --ranks "$p" >>"$OUT/ours.jsonl" 2>"$OUT/ours-$c-$p-local-$r.log" \
        || { tail -3 "$OUT/ours-$c-$p-local-$r.log" >&2; echo "error: DecodeBench C=$c P=$p failed" >&2; exit 1; }
      if [ "$UCX" = 1 ] && (( p > 1 )); then
        echo "# round $r: C=$c P=$p ours (UCX processes)" >&2
        bench --contexts "$c" --ranks "$p" --transport ucx >>"$OUT/ours.jsonl" 2>"$OUT/ours-$c-$p-ucx-$r.log" \
          || { tail -3 "$OUT/ours-$c-$p-ucx-$r.log" >&2; echo "error: DecodeBench C=$c P=$p over UCX failed" >&2; exit 1; }
      fi
    done
    if [ -n "$LLAMA_BIN" ]; then
      echo "# round $r: C=$c llama.cpp" >&2
      LLAMA_LIB_DIR="$LIB" "$LLAMA_BIN" "$MODEL/stories260K.gguf" "$OUT/prompts/prompt-$c.npy" "$NEW" "$THREADS" "$UBATCH" \
        >>"$OUT/llama.jsonl" 2>"$OUT/llama-$c-$r.log" \
        || { tail -3 "$OUT/llama-$c-$r.log" >&2; echo "error: llama_decode C=$c failed" >&2; exit 1; }
    fi
  done
done
touch "$OUT/llama.jsonl"

python3 - "$OUT" "$CPU" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" "$NEW" "$THREADS" "$ROUNDS" "${ISA:-native}" <<'PY'
import json, statistics, sys
out, cpu, load0, load1, new, threads, rounds, isa = sys.argv[1:]
ours, llama = {}, {}
for line in open(f"{out}/ours.jsonl"):
    d = json.loads(line)
    ours.setdefault((d["context"], d["ranks"], d["transport"]), []).append(d)
for line in open(f"{out}/llama.jsonl"):
    d = json.loads(line)
    llama.setdefault(d["prompt_tokens"], []).append(d)
med = lambda rows, k: statistics.median(r[k] for r in rows)
def agree(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n
print(f"\ndecode: stories260K, N = {new} greedy tokens, {threads} thread(s) per rank and for llama.cpp, medians of {rounds} "
      f"round(s); CPU: {cpu}, ours with ISA {isa}; load average {load0} before, {load1} after")
print("| C | P | ranks as | ours decode tok/s | llama.cpp decode tok/s | ours / llama.cpp | ours TTFT / prefill "
      "| ours prefill (s) | llama.cpp prefill (s) | attention µs/layer/token (vs P = 1) | reduction µs/layer/token "
      "| same tokens | ours peak RSS (MiB) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (c, p, t), rows in sorted(ours.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "local")):
    ll = llama.get(c, [])
    mine = med(rows, "decode_tok_s")
    att = med(rows, "attention_us_per_layer_token")
    one = ours.get((c, 1, "local"))
    att_cell = f"{att:.1f}" + (f" ({att / med(one, 'attention_us_per_layer_token'):.2f}×)" if one and p > 1 else "")
    theirs = med(ll, "decode_tok_s") if ll else None
    cells = [c, p, "threads" if t == "local" else "UCX processes", f"{mine:.1f}",
             f"{theirs:.1f}" if theirs else "", f"{mine / theirs:.2f}" if theirs else "",
             f"{med(rows, 'ttft_over_prefill'):.2f}", f"{med(rows, 'prefill_s'):.3f}",
             f"{med(ll, 'prefill_s'):.3f}" if ll else "", att_cell,
             f"{med(rows, 'reduction_us_per_layer_token'):.1f}" if p > 1 else "",
             f"{agree(rows[0]['tokens'], ll[0]['tokens'])}/{len(rows[0]['tokens'])}" if ll else "",
             f"{med(rows, 'peak_rss_bytes') / 2**20:.0f}"]
    print("| " + " | ".join(str(x) for x in cells) + " |")
print("\ndecode tok/s: the N−1 steps after the first token over their time. TTFT / prefill: time to the first token "
      "over the ring prefill alone. attention: each rank's attention over its cache shard per layer per generated "
      "token, the slowest rank's, and its ratio to one rank's. reduction: the cross-rank all-gather and combine of attention states per layer per "
      "generated token (the rank that spent least in it). same tokens: leading generated ids equal to llama.cpp's. "
      "peak RSS: the JVM holding all ranks (threads) or the largest rank process (UCX).")
PY
