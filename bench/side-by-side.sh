#!/bin/bash
# The forward kernel side by side with the CPU attention peers of ../shared/peers (ONNX Runtime's
# MultiHeadAttention and libtorch's flash SDPA kernel), interleaved in rounds so that a shared,
# noisy machine slows every contender alike: in each round, for each thread count, ours (JMH
# KernelBenchmark.forward, F32 and BF16 inputs), then ONNX Runtime, then libtorch, on the same
# shapes (H = 8). Per contender and shape: the median over rounds of each round's median
# (ours: median of the JMH iterations; peers: their own median of reps). GFLOP/s count the forward as
# 4·S²·D·H, halved when causal. Prints a Markdown table with ours / best peer.
#
# Usage: bench/side-by-side.sh [seqs=1024,4096] [dims=64,128] [causal=0,1] [threads=1,2] [rounds=3]
#                              [peers=onnxruntime,libtorch] [isa=native|avx2]
# isa=avx2 stands in for an AVX2 node on an AVX-512 machine: ours runs with -XX:UseAVX=2 (HotSpot emits
# AVX2 code, 16 vector registers) and libtorch with ATEN_CPU_CAPABILITY=avx2. ONNX Runtime dispatches
# by CPUID and has no such switch: its column is then shown for reference but not counted as a peer.
# env: PEERS=path to the peers (default ../shared/peers next to the repository), OUT=dir for logs.
# Build first: mvn -pl engine install -DskipTests && mvn -pl bench package
set -euo pipefail
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
export PATH="$JAVA_HOME/bin:$PATH"
HERE="$(cd "$(dirname "$0")" && pwd)"
JAR="$HERE/target/benchmarks.jar"
[ -f "$JAR" ] || { echo "error: missing $JAR: build it first (mvn -pl engine install -DskipTests && mvn -pl bench package)" >&2; exit 2; }

seqs=1024,4096 dims=64,128 causal=0,1 threads=1,2 rounds=3 peers=onnxruntime,libtorch isa=native
for arg in "$@"; do
    case "$arg" in
        seqs=*|dims=*|causal=*|threads=*|rounds=*|peers=*|isa=*) eval "${arg%%=*}=\${arg#*=}" ;;
        *) echo "error: unknown argument '$arg' (expected seqs= dims= causal= threads= rounds= peers= isa=)" >&2; exit 2 ;;
    esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "error: rounds: expected a positive integer, got '$rounds'" >&2; exit 2; }
JVM_ARGS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -Xmx8g -XX:+UseTransparentHugePages"
case "$isa" in
    native) ;;
    avx2) JVM_ARGS="$JVM_ARGS -XX:UseAVX=2"; export ATEN_CPU_CAPABILITY=avx2 ;;
    *) echo "error: isa: expected native or avx2, got '$isa'" >&2; exit 2 ;;
esac
CPU_ISA=$(grep -q -w avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2)

PEERS=${PEERS:-"$HERE/../../shared/peers"}
[ -d "$PEERS/ort-java" ] || { echo "error: PEERS: no peers harness at $PEERS (set PEERS=...)" >&2; exit 2; }
# The peers' scripts build into their own folders: work on a writable copy.
if [ ! -w "$PEERS/ort-java" ]; then
    copy=$(mktemp -d /tmp/ringattn-peers.XXXXXX)
    cp -r "$PEERS/." "$copy/"
    PEERS=$copy
fi
OUT=${OUT:-$(mktemp -d /tmp/side-by-side.XXXXXX)}
mkdir -p "$OUT"
jcausal=$(echo "$causal" | sed 's/1/true/g; s/0/false/g')

echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg); logs in $OUT" >&2
for ((r = 1; r <= rounds; r++)); do
    for t in ${threads//,/ }; do
        [ -x "$PEERS/wait_idle.sh" ] && { "$PEERS/wait_idle.sh" 60 || true; }
        echo "# round $r, $t thread(s): ringattn" >&2
        java --sun-misc-unsafe-memory-access=allow -jar "$JAR" 'KernelBenchmark.forward' -p seq="$seqs" -p heads=8 \
            -p headDim="$dims" -p causal="$jcausal" -p dtype=F32,BF16 -p threads="$t" -wi 3 -i 5 -w 2s -r 1s -f 1 \
            -jvmArgsAppend "$JVM_ARGS" -rf json -rff "$OUT/ours-r$r-t$t.json" > "$OUT/ours-r$r-t$t.log" 2>&1
        if [[ ",$peers," == *",onnxruntime,"* ]]; then
            echo "# round $r, $t thread(s): onnxruntime" >&2
            "$PEERS/ort-java/run.sh" ops=mha seqs="$seqs" dims="$dims" causal="$causal" threads="$t" > "$OUT/ort-r$r-t$t.log" 2>&1
        fi
        if [[ ",$peers," == *",libtorch,"* ]]; then
            echo "# round $r, $t thread(s): libtorch" >&2
            "$PEERS/djl-torch/run.sh" methods=forward seqs="$seqs" dims="$dims" causal="$causal" threads="$t" \
                > "$OUT/torch-r$r-t$t.log" 2>&1
        fi
    done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$OUT" "$isa" "$CPU_ISA" <<'PY'
import glob, json, os, re, statistics, sys
out, isa, cpu_isa = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {}  # (contender, S, D, causal, threads) -> [per-round GFLOP/s]
def gflops(s, d, causal, ms):
    return 4.0 * s * s * d * 8 * (0.5 if causal else 1.0) / (ms * 1e-3) / 1e9
for f in sorted(glob.glob(os.path.join(out, "ours-*.json"))):
    for b in json.load(open(f)):
        p = b["params"]
        iters = [x for fork in b["primaryMetric"]["rawData"] for x in fork]
        ms = statistics.median(iters)
        key = ("ringattn " + p["dtype"], int(p["seq"]), int(p["headDim"]), p["causal"] == "true", int(p["threads"]))
        runs.setdefault(key, []).append(gflops(key[1], key[2], key[3], ms))
line = re.compile(r"^peer=(\S+) seq=(\d+) heads=8 dim=(\d+) causal=([01]) ms=([\d.]+)")
for f in sorted(glob.glob(os.path.join(out, "ort-*.log")) + glob.glob(os.path.join(out, "torch-*.log"))):
    t = int(re.search(r"-t(\d+)\.log$", f).group(1))
    for l in open(f):
        m = line.match(l)
        if m:
            name = "onnxruntime" if m.group(1).startswith("onnxruntime") else "libtorch"
            key = (name, int(m.group(2)), int(m.group(3)), m.group(4) == "1", t)
            runs.setdefault(key, []).append(gflops(key[1], key[2], key[3], float(m.group(5))))
shapes = sorted({k[1:] for k in runs})
names = ["ringattn F32", "ringattn BF16", "onnxruntime", "libtorch"]
med = {k: statistics.median(v) for k, v in runs.items()}
print("| threads | S | D | mask | " + " | ".join(names) + " | ours F32 / best peer | ours BF16 / best peer |")
print("|---|---|---|---|" + "---|" * (len(names) + 2))
for s, d, c, t in sorted(shapes, key=lambda x: (x[3], x[2], x[0], x[1])):
    cells = [med.get((n, s, d, c, t)) for n in names]
    peers = [v for n, v in zip(names, cells) if not n.startswith("ringattn") and v
             and not (isa == "avx2" and n == "onnxruntime")]
    best = max(peers) if peers else None
    def ratio(v):
        return "%.2f" % (v / best) if v and best else "–"
    print("| %d | %d | %d | %s | %s | %s | %s |" % (t, s, d, "causal" if c else "none",
          " | ".join("%.0f" % v if v else "–" for v in cells), ratio(cells[0]), ratio(cells[1])))
n = max(len(v) for v in runs.values())
print("\nGFLOP/s, medians over %d round(s); raw logs in %s" % (n, out))
if isa == "avx2":
    print("ISA: AVX2 emulated on an %s CPU (ours -XX:UseAVX=2, libtorch ATEN_CPU_CAPABILITY=avx2); "
          "onnxruntime runs its %s code (no switch) and is not counted in 'best peer'" % (cpu_isa, cpu_isa))
else:
    print("ISA: %s (native)" % cpu_isa)
PY
