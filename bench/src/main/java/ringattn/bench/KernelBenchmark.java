package ringattn.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * One block-kernel call over a whole sequence: queries {@code [S, H, D]} against keys/values of the
 * same length, as one K/V block (the work of one ring step when S is the shard length). Reports the
 * time of one call; {@code kernel-table.sh} turns it into GFLOP/s (forward 4·S²·D·H, backward 2.5×
 * that, halved when causal). Each benchmark times a whole pass over the one block: the forward
 * {@code beginForward} (Q packed), {@code update}, {@code finish} (O and LSE written); the backward
 * {@code beginBackward} (D formed), {@code update} (dK/dV accumulating across calls), {@code finish}
 * (dQ written).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow", "-XX:+UseTransparentHugePages", "-Xmx8g"})
public class KernelBenchmark {
    @Param({"1024", "4096", "16384"})
    public int seq;

    @Param({"8"})
    public int heads;

    @Param({"64", "128"})
    public int headDim;

    @Param({"false", "true"})
    public boolean causal;

    @Param({"F32", "BF16"})
    public String dtype;

    @Param({"1", "2"})
    public int threads;

    /** {@code simd} (Vector API, preferred width) or {@code scalar}. */
    @Param({"simd"})
    public String impl;

    private Tensor q;
    private Tensor k;
    private Tensor v;
    private Tensor dOut;
    private Tensor out;
    private Tensor dK;
    private Tensor dV;
    private Arena arena;
    private MemorySegment lse;
    private Positions positions;
    private AttentionSpec spec;
    private BlockKernel kernel;
    private Tensor dq;

    @Setup(Level.Trial)
    public void setUp() {
        DType type = DType.parse(dtype);
        q = gaussian(seq, heads, headDim, type, 1);
        k = gaussian(seq, heads, headDim, type, 2);
        v = gaussian(seq, heads, headDim, type, 3);
        dOut = gaussian(seq, heads, headDim, type, 4);
        dK = Tensor.allocate(seq, heads, headDim, DType.F32);
        dV = Tensor.allocate(seq, heads, headDim, DType.F32);
        positions = Positions.range(0, seq);
        spec = AttentionSpec.of(headDim).withCausal(causal);
        kernel = Devices.select("cpu", KernelOptions.defaults(threads).withImpl(impl)).kernel();
        arena = Arena.ofShared();
        lse = arena.allocate(4L * seq * heads);
        out = Tensor.allocate(seq, heads, headDim, type);
        dq = Tensor.allocate(seq, heads, headDim, type);
        forward();
    }

    private static Tensor gaussian(int tokens, int heads, int headDim, DType dtype, long seed) {
        Tensor t = Tensor.allocate(tokens, heads, headDim, dtype);
        Random r = new Random(seed);
        for (long i = 0; i < t.elementCount(); i++) {
            t.setFlat(i, (float) r.nextGaussian());
        }
        return t;
    }

    @Benchmark
    public Tensor forward() {
        try (ForwardPass pass = kernel.beginForward(q, positions, spec)) {
            pass.update(k, v, positions);
            pass.finish(out, lse);
        }
        return out;
    }

    @Benchmark
    public Tensor backward() {
        try (BackwardPass pass = kernel.beginBackward(q, positions, out, dOut, lse, spec)) {
            pass.update(k, v, positions, dK, dV);
            pass.finish(dq);
        }
        return dq;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        kernel.close();
        for (Tensor t : new Tensor[] {q, k, v, dOut, out, dq, dK, dV}) {
            t.close();
        }
        arena.close();
    }
}
