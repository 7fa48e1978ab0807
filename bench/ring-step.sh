#!/bin/bash
# The fixed cost of a ring step (RingStepBenchmark): one rank's pass over 4·S/P keys given as one
# block and as 4 blocks of S/P keys (a 4-rank ring), forward and backward, at S/P = 1024 and 4096
# (H = 8, D = 128, F32, unmasked, 2 threads). Prints the median time of each and the cost of a step,
# (T(4 blocks) − T(1 block)) / 3, and the time of one update of an open pass with a block of 16 keys
# (the per-step fixed cost without the attention's noise), with the same for every JAR given, run
# alternately in this one process tree so that a side-by-side comparison sees the same machine state.
#
# Usage: bench/ring-step.sh [JAR ...]     (default: bench/target/benchmarks.jar; env OUT=dir,
#        IDLE_WAIT=seconds, ISA=avx2 to run with -XX:UseAVX=2, ROUNDS=n alternations of the JARs, default 2)
set -euo pipefail
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
JAVA="$JAVA_HOME/bin/java"
HERE="$(cd "$(dirname "$0")" && pwd)"
[ $# -gt 0 ] || set -- "$HERE/target/benchmarks.jar"
for jar in "$@"; do
    [ -f "$jar" ] || { echo "error: JAR: $jar does not exist (build it: mvn -pl bench package)" >&2; exit 2; }
done
OUT=${OUT:-$(mktemp -d /tmp/ring-step.XXXXXX)}
mkdir -p "$OUT"
if [ -x /work/shared/peers/wait_idle.sh ]; then
    /work/shared/peers/wait_idle.sh "${IDLE_WAIT:-60}" || echo "# machine still busy, measuring anyway" >&2
fi
JVM_ARGS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -Xmx8g -XX:+UseTransparentHugePages"
case "${ISA:-native}" in
    native) ;;
    avx2) JVM_ARGS="$JVM_ARGS -XX:UseAVX=2" ;;
    *) echo "error: ISA: expected native or avx2, got '$ISA'" >&2; exit 2 ;;
esac
echo "# $(grep -q -w avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2) CPU, ISA ${ISA:-native}; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
for round in $(seq 1 "${ROUNDS:-2}"); do
    for jar in "$@"; do
        i=$((i + 1))
        "$JAVA" --sun-misc-unsafe-memory-access=allow -jar "$jar" 'RingStepBenchmark' -wi 2 -i 5 -w 2s -r 2s \
            -rf json -rff "$OUT/$i.json" -jvmArgsAppend "$JVM_ARGS" > "$OUT/$i.log"
        echo "$jar" > "$OUT/$i.jar"
    done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
runs = {}
for f in sorted(os.listdir(out)):
    if f.endswith(".json"):
        jar = open(os.path.join(out, f[:-5] + ".jar")).read().strip()
        for r in json.load(open(os.path.join(out, f))):
            p = r["params"]
            key = (jar, r["benchmark"].rsplit(".", 1)[1], int(p["rows"]), int(p["steps"]))
            runs.setdefault(key, []).extend(x for fork in r["primaryMetric"]["rawData"] for x in fork)
print(f"{'jar':50} {'pass':8} {'S/P':>5} {'1 block ms':>11} {'4 blocks ms':>12} {'per step ms':>12}")
for jar in dict.fromkeys(k[0] for k in runs):
    for pas in ("forward", "backward"):
        for rows in (1024, 4096):
            one = runs.get((jar, pas, rows, 1))
            four = runs.get((jar, pas, rows, 4))
            if one and four:
                m1, m4 = statistics.median(one), statistics.median(four)
                print(f"{jar[-50:]:50} {pas:8} {rows:5d} {m1:11.2f} {m4:12.2f} {(m4 - m1) / 3:12.2f}")
print()
print(f"{'jar':50} {'S/P':>5} {'one update of 16 keys, ms (median)':>36}")
for jar in dict.fromkeys(k[0] for k in runs):
    for rows in (1024, 4096):
        xs = [x for (j, p, r, s), v in runs.items() if j == jar and p == "smallUpdate" and r == rows for x in v]
        if xs:
            print(f"{jar[-50:]:50} {rows:5d} {statistics.median(xs):36.3f}")
PY
echo "# JSON and logs in $OUT"
