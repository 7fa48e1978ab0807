#!/bin/bash
# Reduced kernel sweep (about 8 minutes on 2 cores): this machine's Vector API FMA peak (1 and 2
# threads, measured before and after the kernels), then KernelBenchmark forward (F32 and BF16) and
# backward (F32) at S=4096, H=8, D=128, causal and not, 1 and 2 threads. Prints attention GFLOP/s
# from the median iteration time (forward 4*S^2*D*H, backward 2.5x that, halved when causal) and
# its ratio to the median FMA peak of the same run and thread count; also the best iteration and
# its ratio to the best peak iteration, which is what a shared, noisy machine lets one compare.
#
# Also the model's matmul (MatMulBenchmark, one thread) on the prefill's shapes, against the same peak.
#
# Usage: bench/kernel-table.sh [extra JMH args]      (env: OUT=dir for the JSON, IDLE_WAIT=seconds,
#        ISA=avx2 to run every JVM, the FMA peak's included, with -XX:UseAVX=2: AVX2 code and 16 vector
#        registers on an AVX-512 machine)
# Build first: mvn -pl engine install -DskipTests && mvn -pl bench package
set -euo pipefail
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
JAVA="$JAVA_HOME/bin/java"
HERE="$(cd "$(dirname "$0")" && pwd)"
JAR="$HERE/target/benchmarks.jar"
OUT=${OUT:-$(mktemp -d /tmp/kernel-table.XXXXXX)}
mkdir -p "$OUT"
[ -f "$JAR" ] || { echo "missing $JAR: build it first (mvn -pl bench package)" >&2; exit 1; }

# The machine may be shared: wait (bounded) for it to go quiet, and record the load.
if [ -x /work/shared/peers/wait_idle.sh ]; then
    /work/shared/peers/wait_idle.sh "${IDLE_WAIT:-60}" || echo "# machine still busy, measuring anyway" >&2
fi
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"

JVM_ARGS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -Xmx8g -XX:+UseTransparentHugePages"
case "${ISA:-native}" in
    native) ;;
    avx2) JVM_ARGS="$JVM_ARGS -XX:UseAVX=2" ;;
    *) echo "error: ISA: expected native or avx2, got '$ISA'" >&2; exit 2 ;;
esac
jmh() { "$JAVA" --sun-misc-unsafe-memory-access=allow -jar "$JAR" "$@" -jvmArgsAppend "$JVM_ARGS"; }
# shellcheck disable=SC2086
LANES=$("$JAVA" $JVM_ARGS -cp "$JAR" ringattn.bench.FmaPeakBenchmark 2>/dev/null)
echo "# ISA: ${ISA:-native} on a CPU with $(grep -q -w avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2); $LANES lanes" | tee -a "$OUT/load.txt"

jmh 'FmaPeakBenchmark' -wi 3 -i 8 -w 1s -r 1s -rf json -rff "$OUT/peak1.json" "$@" > "$OUT/peak1.log"
jmh 'KernelBenchmark.forward' -p seq=4096 -p heads=8 -p headDim=128 -p causal=false,true -p dtype=F32,BF16 \
    -p threads=1,2 -wi 2 -i 8 -w 2s -r 2s -rf json -rff "$OUT/forward.json" "$@" > "$OUT/forward.log"
jmh 'KernelBenchmark.backward' -p seq=4096 -p heads=8 -p headDim=128 -p causal=false,true -p dtype=F32 \
    -p threads=1,2 -wi 2 -i 6 -w 3s -r 3s -rf json -rff "$OUT/backward.json" "$@" > "$OUT/backward.log"
jmh 'MatMulBenchmark' -p threads=1 -wi 2 -i 5 -w 1s -r 1s -rf json -rff "$OUT/matmul.json" "$@" > "$OUT/matmul.log"
jmh 'FmaPeakBenchmark' -wi 3 -i 8 -w 1s -r 1s -rf json -rff "$OUT/peak2.json" "$@" > "$OUT/peak2.log"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"

python3 - "$OUT" "$LANES" <<'PY'
import json, statistics, sys, os
out, lanes = sys.argv[1], int(sys.argv[2])
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else []
def iters(r):
    return [x for fork in r["primaryMetric"]["rawData"] for x in fork]
peak = {1: [], 2: []}
for r in load("peak1.json") + load("peak2.json"):
    t = r["threads"]
    peak[t] += [t * 2 * lanes / ns for ns in iters(r)]  # GFLOP/s per iteration
pk = {t: statistics.median(v) for t, v in peak.items() if v}
print(f"FMA peak (Vector API, {lanes} lanes, 16 chains), median [min-max] GFLOP/s:")
for t in sorted(pk):
    print(f"  {t} thread(s): {pk[t]:7.1f}  [{min(peak[t]):.1f}-{max(peak[t]):.1f}]")
print()
print(f"{'pass':8} {'S':>6} {'H':>2} {'D':>4} {'causal':>6} {'dtype':>5} {'thr':>3} {'median ms':>10} {'GFLOP/s':>8} {'%peak':>6} {'best':>7} {'%best':>6}")
for r in load("forward.json") + load("backward.json"):
    p = r["params"]
    s, h, d = int(p["seq"]), int(p["heads"]), int(p["headDim"])
    causal = p["causal"] == "true"
    t = int(p["threads"])
    pas = r["benchmark"].rsplit(".", 1)[1]
    flops = 4.0 * s * s * d * h * (2.5 if pas == "backward" else 1.0) * (0.5 if causal else 1.0)
    ms = iters(r)
    med = statistics.median(ms)
    g = flops / (med * 1e6)
    best = flops / (min(ms) * 1e6)
    ratio = 100 * g / pk[t] if t in pk else float("nan")
    bratio = 100 * best / max(peak[t]) if peak.get(t) else float("nan")
    print(f"{pas:8} {s:6d} {h:2d} {d:4d} {str(causal).lower():>6} {p['dtype']:>5} {t:3d} {med:10.1f} {g:8.1f} {ratio:5.0f}% {best:7.1f} {bratio:5.0f}%")
mm = load("matmul.json")
if mm:
    print()
    print(f"{'matmul n x k x m':18} {'dtype':>5} {'thr':>3} {'median ms':>10} {'GFLOP/s':>8} {'%peak':>6}")
    for r in mm:
        p = r["params"]
        n, k, m = (int(v) for v in p["shape"].split("x"))
        t = int(p["threads"])
        med = statistics.median(iters(r))
        g = 2.0 * n * k * m / (med * 1e6)
        ratio = 100 * g / pk[t] if t in pk else float("nan")
        print(f"{p['shape']:18} {p['dtype']:>5} {t:3d} {med:10.2f} {g:8.1f} {ratio:5.0f}%")
PY
echo "# JSON and logs in $OUT"
