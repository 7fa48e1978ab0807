package ringattn.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import ringattn.engine.concurrent.WorkerPool;
import ringattn.engine.tensor.DType;
import ringattn.model.linalg.MatMul;

/**
 * The model's linear layer, {@code y[n, m] = x[n, k] · w[m, k]ᵀ} ({@link MatMul}, the engine's
 * register-blocked GEMM at this JVM's width and register file, packing and copies included), on
 * the prefill's shapes: {@code shape = n x k x m}. {@code kernel-table.sh} turns the time of one
 * call into GFLOP/s ({@code 2·n·k·m}) and its ratio to the FMA peak of the same run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow", "-XX:+UseTransparentHugePages", "-Xmx8g"})
public class MatMulBenchmark {
    /** Token rows × input features × output features: the tiny model's MLP up and down, a 4096-wide projection. */
    @Param({"1024x256x688", "1024x688x256", "1024x4096x4096"})
    public String shape;

    @Param({"F32", "BF16"})
    public String dtype;

    @Param({"1"})
    public int threads;

    private int n;
    private int k;
    private int m;
    private DType wType;
    private Arena arena;
    private MemorySegment x;
    private MemorySegment w;
    private MemorySegment y;
    private MatMul matMul;
    private WorkerPool pool;

    @Setup
    public void setUp() {
        String[] p = shape.split("x");
        n = Integer.parseInt(p[0]);
        k = Integer.parseInt(p[1]);
        m = Integer.parseInt(p[2]);
        wType = DType.valueOf(dtype);
        arena = Arena.ofShared();
        x = arena.allocate(4L * n * k, 64);
        w = arena.allocate((long) wType.byteSize() * m * k, 64);
        y = arena.allocate(4L * n * m, 64);
        Random r = new Random(1);
        ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfShort bf16 = ValueLayout.JAVA_SHORT.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < (long) n * k; i++) {
            x.setAtIndex(f32, i, (float) r.nextGaussian());
        }
        for (long i = 0; i < (long) m * k; i++) {
            float v = (float) r.nextGaussian() * 0.05f;
            if (wType == DType.F32) {
                w.setAtIndex(f32, i, v);
            } else {
                w.setAtIndex(bf16, i, DType.floatToBf16(v));
            }
        }
        matMul = MatMul.create(0);
        pool = new WorkerPool(threads, "matmul-bench");
        System.err.println("matmul kernel: " + matMul.name());
    }

    @TearDown
    public void tearDown() {
        pool.close();
        arena.close();
    }

    @Benchmark
    public MemorySegment multiply() {
        matMul.multiply(x, n, k, w, wType, m, y, pool);
        return y;
    }
}
