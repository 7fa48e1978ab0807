package ringattn.bench;

import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * This machine's Vector API fp32 FMA peak: 16 independent {@code FloatVector.fma} chains of the
 * preferred species (enough to cover FMA latency × pipes on current x86 cores), per thread, with 1
 * and 2 threads. One operation is one vector FMA; GFLOP/s = threads × 2 × lanes / (ns per op), which
 * {@code kernel-table.sh} computes. Each thread has its own state, so nothing is shared.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow", "-XX:+UseTransparentHugePages"})
public class FmaPeakBenchmark {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int ROUNDS = 1 << 16;
    private static final int CHAINS = 16;

    /** Prints the lanes of the species, so that the script can turn ns/op into GFLOP/s. */
    public static void main(String[] args) {
        System.out.println(F.length());
    }

    public float x = 0.999999f;
    public float y = 1e-7f;

    private float run() {
        FloatVector vx = FloatVector.broadcast(F, x);
        FloatVector vy = FloatVector.broadcast(F, y);
        FloatVector a0 = FloatVector.broadcast(F, 1f);
        FloatVector a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        FloatVector a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
        for (int i = 0; i < ROUNDS; i++) {
            a0 = a0.fma(vx, vy);
            a1 = a1.fma(vx, vy);
            a2 = a2.fma(vx, vy);
            a3 = a3.fma(vx, vy);
            a4 = a4.fma(vx, vy);
            a5 = a5.fma(vx, vy);
            a6 = a6.fma(vx, vy);
            a7 = a7.fma(vx, vy);
            a8 = a8.fma(vx, vy);
            a9 = a9.fma(vx, vy);
            a10 = a10.fma(vx, vy);
            a11 = a11.fma(vx, vy);
            a12 = a12.fma(vx, vy);
            a13 = a13.fma(vx, vy);
            a14 = a14.fma(vx, vy);
            a15 = a15.fma(vx, vy);
        }
        FloatVector s = a0.add(a1).add(a2.add(a3)).add(a4.add(a5).add(a6.add(a7)))
                .add(a8.add(a9).add(a10.add(a11)).add(a12.add(a13).add(a14.add(a15))));
        return s.reduceLanes(VectorOperators.ADD);
    }

    @Benchmark
    @Threads(1)
    @OperationsPerInvocation(ROUNDS * CHAINS)
    public float fma1() {
        return run();
    }

    @Benchmark
    @Threads(2)
    @OperationsPerInvocation(ROUNDS * CHAINS)
    public float fma2() {
        return run();
    }
}
