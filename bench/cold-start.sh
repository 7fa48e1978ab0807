#!/usr/bin/env bash
# Cold start and memory: for each job, the first call (a fresh JVM, what a batch job sees), the warmed
# call (best of 3 in one JVM) and the peak RSS per rank, medians of ROUNDS alternating runs; beside the
# stories260K prefill, llama.cpp's prefill of the same model and tokens (whole process, 1 thread).
# usage: bench/cold-start.sh [ROUNDS=3]
#   RINGATTN_JVM_OPTS adds JVM flags (as for ./ringattn); WINDOW=0 skips the 1M-token window demo (about
#   a minute a round).
# llama.cpp: the prebuilt CPU library of the npm package @node-llama-cpp/linux-x64 3.22.1 (installed with
# npm into bench/cold-start/.llama on first use, or LLAMA_CPP_NPM_DIR=a folder holding node_modules),
# driven by bench/cold-start/llama_prefill.c (compiled with gcc); skipped with a note when unavailable.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-3}"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "error: ROUNDS: expected a positive integer, got '$ROUNDS' (usage: bench/cold-start.sh [ROUNDS=3])" >&2; exit 2; }
MODEL="$ROOT/../shared/models/stories260K"
TOKENS="$MODEL/ref/tokens_greedy256.npy"
WORK="$ROOT/bench/cold-start/.work"
RA="$ROOT/ringattn"
mkdir -p "$WORK"
[ -f "$TOKENS" ] || { echo "error: $TOKENS: not found (the stories260K model of ../shared/models)" >&2; exit 2; }
"$RA" build

# S = 4096, H = 8, D = 128 inputs for `run` (float32 .npy, seeded)
if [ ! -f "$WORK/q.npy" ]; then
  python3 - "$WORK" <<'PY' || { echo "error: python3 with numpy is needed to write the run inputs" >&2; exit 2; }
import sys, numpy as np
r = np.random.default_rng(1)
for n in "qkv":
    np.save(f"{sys.argv[1]}/{n}.npy", r.standard_normal((4096, 8, 128), dtype=np.float32))
PY
fi

# llama.cpp driver
LLAMA=""
NPM_DIR="${LLAMA_CPP_NPM_DIR:-$ROOT/bench/cold-start/.llama}"
LIB="$NPM_DIR/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
if [ ! -d "$LIB" ] && command -v npm >/dev/null 2>&1; then
  mkdir -p "$NPM_DIR"
  (cd "$NPM_DIR" && npm install --no-audit --no-fund --ignore-scripts node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1 >/dev/null 2>&1) || true
fi
if [ -d "$LIB" ] && command -v gcc >/dev/null 2>&1; then
  if [ ! -x "$WORK/llama_prefill" ]; then
    [ -d "$WORK/llama.cpp" ] || git clone -q "$NPM_DIR/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$WORK/llama.cpp" 2>/dev/null || true
    gcc -O2 -o "$WORK/llama_prefill" "$ROOT/bench/cold-start/llama_prefill.c" -I"$WORK/llama.cpp/include" -I"$WORK/llama.cpp/ggml/include" \
      -L"$LIB" -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so -Wl,-rpath,"$LIB" 2>"$WORK/gcc.log" || true
  fi
  [ -x "$WORK/llama_prefill" ] && LLAMA="$WORK/llama_prefill"
fi
[ -n "$LLAMA" ] || echo "note: llama.cpp not available (npm, gcc or the bundle missing); its column stays empty" >&2

# timed CMD...: prints "wall maxrss_kib" and leaves the command's stdout in $WORK/out
timed() {
  /usr/bin/time -f 'TIME %e %M' -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || { tail -3 "$WORK/err" >&2; return 1; }
  awk '/^TIME/ {print $2, $3}' "$WORK/time"
}
json() { grep '^{' "$WORK/out" | tail -1 | python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{if (NR) print a[int((NR+1)/2)]; else print "-"}'; }

declare -A V
add() { V[$1]+="$2 "; }
for ((i = 0; i < ROUNDS; i++)); do
  read -r w m < <(timed "$RA" prefill --model "$MODEL" --tokens "$TOKENS" --ranks 1 --json)
  add p1.wall "$w"; add p1.first "$(json 'd["seconds"]')"; add p1.rss "$((m / 1024))"
  timed "$RA" prefill --bench --model "$MODEL" --bench-seqs 256 --bench-ranks 1 --bench-reps 3 --json >/dev/null
  add p1.warm "$(json 'min(r["seconds"] for r in d["bench"])')"
  read -r w m < <(timed "$RA" prefill --model "$MODEL" --tokens "$TOKENS" --ranks 4 --transport ucx --json)
  add p4.wall "$w"; add p4.first "$(json 'd["seconds"]')"; add p4.rss "$(json 'max(d["peak_rss_bytes_by_rank"])//1048576')"
  if [ -n "$LLAMA" ]; then
    read -r w m < <(LLAMA_LIB_DIR="$LIB" timed "$LLAMA" "$MODEL/stories260K.gguf" "$TOKENS")
    add ll.wall "$w"; add ll.first "$(sed -n 's/.*prefill_s=\([0-9.]*\).*/\1/p' "$WORK/out")"; add ll.rss "$((m / 1024))"
  fi
  read -r w m < <(timed "$RA" run --q "$WORK/q.npy" --k "$WORK/k.npy" --v "$WORK/v.npy" --out "$WORK/o.npy" --json)
  add run.wall "$w"; add run.first "$(json 'd["forward_seconds"]')"; add run.rss "$((m / 1024))"
  timed "$RA" demo --transport local --ranks 1 --seq 4096 --heads 8 --head-dim 128 --no-causal --repeat 3 --json >/dev/null
  add run.warm "$(json 'd["seconds"]')"
  read -r w m < <(timed "$RA" demo --repeat 1 --json)
  add demo.wall "$w"; add demo.first "$(json 'd["seconds"]')"; add demo.rss "$(json 'max(d["peak_rss_bytes_by_rank"])//1048576')"
  timed "$RA" demo --repeat 3 --json >/dev/null
  add demo.warm "$(json 'd["seconds"]')"
  if [ "${WINDOW:-1}" = 1 ]; then # the 1M-token sliding-window job (WINDOW=0 skips it)
    WJOB=(demo --seq 1048576 --heads 1 --kv-heads 1 --head-dim 64 --window 1024 --ranks 4 --json)
    read -r w m < <(timed "$RA" "${WJOB[@]}" --repeat 1)
    add win.wall "$w"; add win.first "$(json 'd["seconds"]')"; add win.rss "$(json 'max(d["peak_rss_bytes_by_rank"])//1048576')"
    timed "$RA" "${WJOB[@]}" --repeat 3 >/dev/null
    add win.warm "$(json 'd["seconds"]')"
  fi
done

m() { echo "${V[$1]:-}" | med; }
printf '\ncold start and memory: %s rounds, medians; %s; load average %s\n' "$ROUNDS" \
  "$(grep -o -w -m1 -E 'avx512f' /proc/cpuinfo || echo 'no AVX-512')" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| job | whole command (s) | first call (s) | warmed (s) | peak RSS per rank (MiB) |\n|---|---|---|---|---|\n'
printf '| prefill stories260K, 256 tokens, 1 rank | %s | %s | %s | %s |\n' "$(m p1.wall)" "$(m p1.first)" "$(m p1.warm)" "$(m p1.rss)"
printf '| same, 4 UCX ranks | %s | %s | | %s |\n' "$(m p4.wall)" "$(m p4.first)" "$(m p4.rss)"
printf '| llama.cpp prefill, same GGUF and tokens, 1 thread | %s | %s | | %s |\n' "$(m ll.wall)" "$(m ll.first)" "$(m ll.rss)"
printf '| run S=4096 H=8 D=128 non-causal, 1 rank (warmed: demo, same shape) | %s | %s | %s | %s |\n' "$(m run.wall)" "$(m run.first)" "$(m run.warm)" "$(m run.rss)"
printf '| demo (4 UCX ranks, S=16384, H=8, D=128, causal) | %s | %s | %s | %s |\n' "$(m demo.wall)" "$(m demo.first)" "$(m demo.warm)" "$(m demo.rss)"
[ "${WINDOW:-1}" = 1 ] && printf '| demo S=1048576 H=1 D=64, causal window 1024, 4 UCX ranks | %s | %s | %s | %s |\n' "$(m win.wall)" "$(m win.first)" "$(m win.warm)" "$(m win.rss)"
for k in "${!V[@]}"; do printf '%s: %s\n' "$k" "${V[$k]}"; done | sort >&2
