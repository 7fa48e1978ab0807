package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import ringattn.cuda.check.GpuChecks;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The passes of {@link CublasKernel} on {@link EmulatedDevice}: what crosses between host and device
 * per update (only the K/V block, and for the backward its dK/dV rows; never the running state), a
 * change of GQA group within a pass, and the device memory a pass owns and returns. What every
 * kernel's passes promise (independence when several are open, life cycle, argument errors) is
 * {@link EmulatedCublasContractTest}'s.
 */
class EmulatedPassTest {
    private static final int ROWS = 100;
    private static final int KEYS = 90;
    private static final int HEADS = 8;
    private static final int KV_HEADS = 2;
    private static final int D = 16;
    private static final AttentionSpec UNMASKED = AttentionSpec.of(D);

    private static CublasKernel kernel(EmulatedDevice dev) {
        // 32-row query chunks: each update runs several chunks against the device-resident state
        return new CublasKernel(KernelOptions.defaults(1).withTiles(32, 16), dev, 0, 32, 1 << 20);
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "BF16"})
    void forwardUpdateMovesOnlyTheBlock(DType dtype) {
        EmulatedDevice dev = new EmulatedDevice();
        try (CublasKernel kernel = kernel(dev);
             Tensor q = GpuChecks.normal(1, ROWS, HEADS, D, dtype);
             Tensor k = GpuChecks.normal(2, KEYS, KV_HEADS, D, dtype);
             Tensor v = GpuChecks.normal(3, KEYS, KV_HEADS, D, dtype);
             Tensor out = Tensor.allocate(ROWS, HEADS, D, DType.F32);
             Arena arena = Arena.ofConfined();
             ForwardPass pass = kernel.beginForward(q, Positions.range(0, ROWS), UNMASKED)) {
            int block = KEYS / 3;
            for (int b = 0; b < 3; b++) {
                long up = dev.bytesToDevice;
                long down = dev.bytesToHost;
                pass.update(k.tokens(b * block, block), v.tokens(b * block, block), Positions.range(b * block, block));
                long kvBytes = (long) block * KV_HEADS * D * dtype.byteSize();
                assertEquals(2 * kvBytes + 8L * block, dev.bytesToDevice - up,
                        "update " + b + ": host → device bytes (K, V, key positions and documents)");
                assertEquals(0, dev.bytesToHost - down, "update " + b + ": device → host bytes");
            }
            long down = dev.bytesToHost;
            MemorySegment lse = arena.allocate(4L * ROWS * HEADS);
            pass.finish(out, lse);
            long state = 4L * ROWS * HEADS * D + 2 * 4L * ROWS * HEADS;
            assertEquals(state, dev.bytesToHost - down, "finish downloads the accumulator and rowMax/rowSum once");
            assertForwardMatches(q, Positions.range(0, ROWS), k, v, Positions.range(0, KEYS), UNMASKED, out, lse);
        }
        assertEquals(Map.of(), dev.live(), "leaked allocations");
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "BF16"})
    void backwardUpdateMovesOnlyTheBlockAndItsGradients(DType dtype) {
        int n = 90;
        Positions pos = Positions.range(0, n);
        AttentionSpec spec = AttentionSpec.of(D).withCausal(true);
        EmulatedDevice dev = new EmulatedDevice();
        try (CublasKernel kernel = kernel(dev);
             Tensor q = GpuChecks.normal(1, n, HEADS, D, dtype);
             Tensor k = GpuChecks.normal(2, n, KV_HEADS, D, dtype);
             Tensor v = GpuChecks.normal(3, n, KV_HEADS, D, dtype);
             Tensor dO = GpuChecks.normal(4, n, HEADS, D, dtype);
             Tensor o = Tensor.allocate(n, HEADS, D, DType.F32);
             Tensor dq = Tensor.allocate(n, HEADS, D, DType.F32);
             Tensor dK = Tensor.allocate(n, KV_HEADS, D, DType.F32);
             Tensor dV = Tensor.allocate(n, KV_HEADS, D, DType.F32);
             Arena arena = Arena.ofConfined()) {
            MemorySegment lse = arena.allocate(4L * n * HEADS);
            try (ForwardPass f = kernel.beginForward(q, pos, spec)) {
                f.update(k, v, pos);
                f.finish(o, lse);
            }
            try (BackwardPass pass = kernel.beginBackward(q, pos, o, dO, lse, spec)) {
                int block = n / 3;
                for (int b = 2; b >= 0; b--) {
                    long up = dev.bytesToDevice;
                    long down = dev.bytesToHost;
                    pass.update(k.tokens(b * block, block), v.tokens(b * block, block), pos.slice(b * block, block),
                            dK.tokens(b * block, block), dV.tokens(b * block, block));
                    // causal and self-attention: every key of a block is seen by some query row
                    long kvBytes = (long) block * KV_HEADS * D * dtype.byteSize();
                    long gradBytes = (long) block * KV_HEADS * D * 4;
                    assertEquals(2 * kvBytes + 8L * block + 2 * gradBytes, dev.bytesToDevice - up,
                            "update " + b + ": host → device bytes (K, V, key positions and documents, dK, dV)");
                    assertEquals(2 * gradBytes, dev.bytesToHost - down,
                            "update " + b + ": device → host bytes (dK, dV)");
                }
                long down = dev.bytesToHost;
                pass.finish(dq);
                assertEquals(4L * n * HEADS * D, dev.bytesToHost - down, "finish downloads dQ once");
            }
            ReferenceAttention.Grads ref = ReferenceAttention.backward(q, k, v, dO, spec);
            assertClose(ref.dq(), dq, "dQ");
            assertClose(ref.dk(), dK, "dK");
            assertClose(ref.dv(), dV, "dV");
        }
        assertEquals(Map.of(), dev.live(), "leaked allocations");
    }

    /**
     * A block with 4 K/V heads between blocks with 2 (each head repeated, so attention is the same as
     * with 2): the pass lays its Q and accumulator out again for the new group.
     */
    @Test
    void blocksWithAnotherGroupSizeInOnePass() {
        EmulatedDevice dev = new EmulatedDevice();
        Positions qPos = Positions.range(0, ROWS);
        Positions kPos = Positions.range(0, KEYS);
        try (CublasKernel kernel = kernel(dev);
             Tensor q = GpuChecks.normal(21, ROWS, HEADS, D, DType.F32);
             Tensor k = GpuChecks.normal(22, KEYS, KV_HEADS, D, DType.F32);
             Tensor v = GpuChecks.normal(23, KEYS, KV_HEADS, D, DType.F32);
             Tensor k4 = repeatHeads(k, 2);
             Tensor v4 = repeatHeads(v, 2);
             Tensor out = Tensor.allocate(ROWS, HEADS, D, DType.F32);
             Arena arena = Arena.ofConfined();
             ForwardPass pass = kernel.beginForward(q, qPos, UNMASKED)) {
            pass.update(k.tokens(0, 30), v.tokens(0, 30), kPos.slice(0, 30));
            pass.update(k4.tokens(30, 30), v4.tokens(30, 30), kPos.slice(30, 30));
            pass.update(k.tokens(60, 30), v.tokens(60, 30), kPos.slice(60, 30));
            MemorySegment lse = arena.allocate(4L * ROWS * HEADS);
            pass.finish(out, lse);
            assertForwardMatches(q, qPos, k, v, kPos, UNMASKED, out, lse);
        }
        assertEquals(Map.of(), dev.live(), "leaked allocations");
    }

    @Test
    void aPassOwnsItsDeviceMemoryUntilFinishOrClose() {
        EmulatedDevice dev = new EmulatedDevice();
        Positions pos = Positions.range(0, ROWS);
        try (CublasKernel kernel = kernel(dev);
             Tensor q = GpuChecks.normal(1, ROWS, HEADS, D, DType.F32);
             Tensor k = GpuChecks.normal(2, ROWS, KV_HEADS, D, DType.F32);
             Tensor out = Tensor.allocate(ROWS, HEADS, D, DType.F32)) {
            try (ForwardPass warm = kernel.beginForward(q, pos, UNMASKED)) {
                warm.update(k, k, pos);
                warm.finish(out, null);
            }
            int shared = dev.live().size(); // the kernel's per-block buffers, grown by the first pass
            ForwardPass finished = kernel.beginForward(q, pos, UNMASKED);
            assertTrue(dev.live().size() > shared, "a pass allocates its own state");
            finished.update(k, k, pos);
            finished.finish(out, null);
            assertEquals(shared, dev.live().size(), "finish returns the pass's device memory");
            finished.close();
            ForwardPass abandoned = kernel.beginForward(q, pos, UNMASKED);
            abandoned.update(k, k, pos);
            abandoned.close();
            assertEquals(shared, dev.live().size(), "close returns the pass's device memory");
        }
        assertEquals(Map.of(), dev.live(), "leaked allocations");
    }

    @Test
    void closingTheKernelFreesPassesLeftOpen() {
        EmulatedDevice dev = new EmulatedDevice();
        Positions pos = Positions.range(0, 16);
        try (Tensor q = GpuChecks.normal(1, 16, 2, 8, DType.F32);
             Tensor k = GpuChecks.normal(2, 16, 1, 8, DType.F32);
             Tensor out = Tensor.allocate(16, 2, 8, DType.F32);
             Arena arena = Arena.ofConfined()) {
            MemorySegment lse = arena.allocate(4L * 32);
            CublasKernel kernel = kernel(dev);
            ForwardPass f = kernel.beginForward(q, pos, AttentionSpec.of(8));
            f.update(k, k, pos);
            f.finish(out, lse);
            BackwardPass b = kernel.beginBackward(q, pos, out, out, lse, AttentionSpec.of(8));
            ForwardPass f2 = kernel.beginForward(q, pos, AttentionSpec.of(8));
            kernel.close();
            assertEquals(Map.of(), dev.live(), "passes left open are freed with the kernel");
            assertThrows(IllegalStateException.class, () -> f2.update(k, k, pos));
            assertThrows(IllegalStateException.class, () -> b.finish(out));
            f2.close();
            b.close();
        }
    }

    /** {@code t} with each K/V head repeated {@code times} times: head h of the result is head h/times of t. */
    private static Tensor repeatHeads(Tensor t, int times) {
        Tensor r = Tensor.allocate(t.tokens(), t.heads() * times, t.headDim(), t.dtype());
        for (int i = 0; i < t.tokens(); i++) {
            for (int h = 0; h < r.heads(); h++) {
                for (int c = 0; c < t.headDim(); c++) {
                    r.set(i, h, c, t.get(i, h / times, c));
                }
            }
        }
        return r;
    }

    private static void assertForwardMatches(Tensor q, Positions qPos, Tensor k, Tensor v, Positions kPos,
                                             AttentionSpec spec, Tensor out, MemorySegment lse) {
        ReferenceAttention.Result ref = ReferenceAttention.forward(q, qPos, k, v, kPos, spec);
        assertClose(ref.out(), out, "O");
        for (int h = 0; h < q.heads(); h++) {
            for (int r = 0; r < q.tokens(); r++) {
                double want = ref.lse(h, r);
                float got = lse.getAtIndex(ValueLayout.JAVA_FLOAT, (long) h * q.tokens() + r);
                if (want == Double.NEGATIVE_INFINITY) {
                    assertEquals(Float.NEGATIVE_INFINITY, got, "LSE of row " + r + " head " + h);
                } else {
                    assertEquals(want, got, GpuChecks.TOLERANCE, "LSE of row " + r + " head " + h);
                }
            }
        }
    }

    private static void assertClose(double[] ref, Tensor t, String what) {
        double scale = 1e-30;
        for (double x : ref) {
            scale = Math.max(scale, Math.abs(x));
        }
        for (long i = 0; i < t.elementCount(); i++) {
            double e = Math.abs(t.getFlat(i) - ref[(int) i]);
            if (!(e <= GpuChecks.GRAD_TOLERANCE * Math.max(1, scale))) {
                throw new AssertionError(what + "[" + i + "]: " + t.getFlat(i) + ", reference " + ref[(int) i]);
            }
        }
    }
}
