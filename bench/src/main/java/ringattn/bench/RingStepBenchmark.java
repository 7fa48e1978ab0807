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
 * The fixed cost of a ring step, without the transport: one rank's pass over the same keys
 * ({@code 4 · rows} of them: the K/V of a 4-rank ring) given as {@code steps} blocks. The attention
 * work is the same for every {@code steps}, so {@code (T(steps = 4) − T(steps = 1)) / 3} is what each
 * extra step costs the kernel: per-pass work redone per block (query packing, state round trips),
 * task dispatch, block packing overheads that do not scale with the keys. Queries
 * {@code [rows, 8, 128]} F32, unmasked, two threads. {@code bench/ring-step.sh} prints that figure.
 * That difference drowns in the noise of the attention itself, so {@link #smallUpdate} isolates it:
 * one update of an open pass with a block of {@value #SMALL_KEYS} keys, whose attention work is small
 * next to what an update does for the queries and the state.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 2)
@Measurement(iterations = 6, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow", "-XX:+UseTransparentHugePages", "-Xmx8g"})
public class RingStepBenchmark {
    /** Query rows of the rank (S / P). */
    @Param({"1024", "4096"})
    public int rows;

    /** Blocks the keys come in. */
    @Param({"1", "4"})
    public int steps;

    @Param({"2"})
    public int threads;

    private static final int HEADS = 8;
    private static final int HEAD_DIM = 128;
    private static final int RANKS = 4;

    private Tensor q;
    private Tensor k;
    private Tensor v;
    private Tensor out;
    private Tensor dOut;
    private Tensor dq;
    private Tensor dK;
    private Tensor dV;
    private Arena arena;
    private MemorySegment lse;
    private Positions qPositions;
    private Tensor[] kBlocks;
    private Tensor[] vBlocks;
    private Tensor[] dkBlocks;
    private Tensor[] dvBlocks;
    private Positions[] kPositions;
    private AttentionSpec spec;
    private BlockKernel kernel;
    private static final int SMALL_KEYS = 16;
    private Tensor kSmall;
    private Tensor vSmall;
    private Positions smallPositions;
    private ForwardPass open;

    @Setup(Level.Trial)
    public void setUp() {
        int keys = RANKS * rows;
        q = gaussian(rows, HEADS, HEAD_DIM, 1);
        k = gaussian(keys, HEADS, HEAD_DIM, 2);
        v = gaussian(keys, HEADS, HEAD_DIM, 3);
        dOut = gaussian(rows, HEADS, HEAD_DIM, 4);
        out = Tensor.allocate(rows, HEADS, HEAD_DIM, DType.F32);
        dq = Tensor.allocate(rows, HEADS, HEAD_DIM, DType.F32);
        dK = Tensor.allocate(keys, HEADS, HEAD_DIM, DType.F32);
        dV = Tensor.allocate(keys, HEADS, HEAD_DIM, DType.F32);
        qPositions = Positions.range(0, rows);
        int per = keys / steps;
        kBlocks = new Tensor[steps];
        vBlocks = new Tensor[steps];
        dkBlocks = new Tensor[steps];
        dvBlocks = new Tensor[steps];
        kPositions = new Positions[steps];
        for (int s = 0; s < steps; s++) {
            kBlocks[s] = k.tokens(s * per, per);
            vBlocks[s] = v.tokens(s * per, per);
            dkBlocks[s] = dK.tokens(s * per, per);
            dvBlocks[s] = dV.tokens(s * per, per);
            kPositions[s] = Positions.range(s * per, per);
        }
        spec = AttentionSpec.of(HEAD_DIM);
        kernel = Devices.select("cpu", KernelOptions.defaults(threads)).kernel();
        arena = Arena.ofShared();
        lse = arena.allocate(4L * rows * HEADS);
        forward();
        kSmall = k.tokens(0, SMALL_KEYS);
        vSmall = v.tokens(0, SMALL_KEYS);
        smallPositions = Positions.range(0, SMALL_KEYS);
        open = kernel.beginForward(q, qPositions, spec);
    }

    private static Tensor gaussian(int tokens, int heads, int headDim, long seed) {
        Tensor t = Tensor.allocate(tokens, heads, headDim, DType.F32);
        Random r = new Random(seed);
        for (long i = 0; i < t.elementCount(); i++) {
            t.setFlat(i, (float) r.nextGaussian());
        }
        return t;
    }

    @Benchmark
    public Tensor forward() {
        try (ForwardPass pass = kernel.beginForward(q, qPositions, spec)) {
            for (int s = 0; s < steps; s++) {
                pass.update(kBlocks[s], vBlocks[s], kPositions[s]);
            }
            pass.finish(out, lse);
        }
        return out;
    }

    @Benchmark
    public Tensor backward() {
        try (BackwardPass pass = kernel.beginBackward(q, qPositions, out, dOut, lse, spec)) {
            for (int s = 0; s < steps; s++) {
                pass.update(kBlocks[s], vBlocks[s], kPositions[s], dkBlocks[s], dvBlocks[s]);
            }
            pass.finish(dq);
        }
        return dq;
    }

    /** One update of an open forward pass with a block of {@value #SMALL_KEYS} keys: the per-step fixed cost. */
    @Benchmark
    public Object smallUpdate() {
        open.update(kSmall, vSmall, smallPositions);
        return open;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        open.close();
        kernel.close();
        for (Tensor t : new Tensor[] {q, k, v, out, dOut, dq, dK, dV}) {
            t.close();
        }
        arena.close();
    }
}
