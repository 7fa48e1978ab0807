package ringattn.engine.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static ringattn.engine.kernel.KernelTestSupport.gaussian;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.KernelTestSupport.Backward;
import ringattn.engine.kernel.KernelTestSupport.Forward;
import ringattn.engine.kernel.KernelTestSupport.Variant;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/** Repeatability, rows without visible keys, argument checking and the provider. */
class KernelContractTest {
    static java.util.stream.Stream<Variant> variants() {
        return KernelTestSupport.variants();
    }

    /**
     * Two runs with the same threads and tiles give identical bytes (O, LSE, dQ, dK, dV), from the
     * very first call: no warm-up, so the first run executes partly in the interpreter and C1 and a
     * later one in C2 (the kernel's exp uses only exactly rounded operations for that reason;
     * {@code VectorOperators.EXP} differs between tiers). Tiles are small so the backward splits
     * keys into chunks and reduces dQ partials.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void repeatsBitForBit(Variant variant) {
        int s = 300;
        AttentionSpec spec = AttentionSpec.of(64).withCausal(true);
        try (Tensor q = gaussian(s, 4, 64, DType.F32, 51);
             Tensor k = gaussian(s, 2, 64, DType.F32, 52);
             Tensor v = gaussian(s, 2, 64, DType.F32, 53);
             Tensor dOut = gaussian(s, 4, 64, DType.F32, 54);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(16, 32))) {
            int[] cut = {0, 100, s};
            int[] order = {1, 0};
            byte[][] first = run(kernel, q, k, v, dOut, cut, order, spec);
            String[] names = {"O", "LSE", "dQ", "dK", "dV"};
            for (int again = 0; again < 3; again++) {
                byte[][] next = run(kernel, q, k, v, dOut, cut, order, spec);
                for (int i = 0; i < first.length; i++) {
                    assertArrayEquals(first[i], next[i], kernel.name() + ": " + names[i] + " differs in run " + (again + 2));
                }
            }
        }
    }

    private static byte[][] run(BlockKernel kernel, Tensor q, Tensor k, Tensor v, Tensor dOut, int[] cut, int[] order,
                                AttentionSpec spec) {
        int s = q.tokens();
        try (Forward f = KernelTestSupport.forward(kernel, q, Positions.range(0, s), k, v, Positions.range(0, s),
                cut, order, spec);
             Backward b = KernelTestSupport.backward(kernel, q, k, v, dOut, cut, order, spec)) {
            return new byte[][] {
                f.out().segment().toArray(ValueLayout.JAVA_BYTE),
                f.lse().asSlice(0, 4L * s * q.heads()).toArray(ValueLayout.JAVA_BYTE),
                b.dq().segment().toArray(ValueLayout.JAVA_BYTE),
                b.dk().segment().toArray(ValueLayout.JAVA_BYTE),
                b.dv().segment().toArray(ValueLayout.JAVA_BYTE)};
        }
    }

    /**
     * Queries whose document has no key in the block, and a block entirely in the causal future:
     * those rows get O = 0 and LSE = −∞ exactly (as the reference), and their gradients are 0.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void rowsWithoutVisibleKeysGetZeroAndMinusInfinity(Variant variant) {
        AttentionSpec spec = AttentionSpec.of(32).withCausal(true).withDocuments(new long[] {0, 40, 100});
        try (Tensor q = gaussian(60, 2, 32, DType.F32, 61);
             Tensor k = gaussian(30, 1, 32, DType.F32, 62);
             Tensor v = gaussian(30, 1, 32, DType.F32, 63);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(8, 16))) {
            Positions qPos = Positions.range(30, 60); // documents 0 (30..39) and 1 (40..89)
            Positions kPos = Positions.range(50, 30); // keys 50..79, document 1
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, qPos, k, v, kPos, spec);
            try (Forward got = KernelTestSupport.forward(kernel, q, qPos, k, v, kPos, new int[] {0, 30},
                    new int[] {0}, spec)) {
                for (int h = 0; h < 2; h++) {
                    for (int r = 0; r < 60; r++) {
                        int pos = 30 + r;
                        boolean sees = pos >= 50;
                        float lse = got.lse(h * 60 + r);
                        assertEquals(sees, lse != Float.NEGATIVE_INFINITY, "row " + pos + " head " + h);
                        if (!sees) {
                            for (int c = 0; c < 32; c++) {
                                assertEquals(0f, got.out().get(r, h, c), "O of row " + pos);
                            }
                        }
                    }
                }
                double[] e = KernelTestSupport.forwardErrors(ref, got);
                assertTrue(e[0] <= 1e-5 && e[1] <= 1e-5, "errors " + e[0] + ", " + e[1]);
            }
            // A block wholly in the future of every query is skipped: every row ends with O = 0 and
            // LSE = −∞.
            try (ForwardPass pass = kernel.beginForward(q, Positions.range(0, 60), spec.withDocuments(null));
                 Tensor out = Tensor.allocate(60, 2, 32, DType.F32);
                 Arena arena = Arena.ofConfined()) {
                pass.update(k, v, Positions.range(100, 30));
                MemorySegment lse = arena.allocate(4L * 120);
                out.setFlat(0, 7f);
                pass.finish(out, lse);
                for (int i = 0; i < 120; i++) {
                    assertEquals(Float.NEGATIVE_INFINITY, lse.getAtIndex(ValueLayout.JAVA_FLOAT, i));
                }
                for (long i = 0; i < out.elementCount(); i++) {
                    assertEquals(0f, out.getFlat(i), "O element " + i);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void badInputIsRejectedNamingTheArgument(Variant variant) {
        AttentionSpec spec = AttentionSpec.of(16);
        try (Tensor q = gaussian(8, 4, 16, DType.F32, 1);
             Tensor k = gaussian(8, 2, 16, DType.F32, 2);
             Tensor v = gaussian(8, 2, 16, DType.F32, 3);
             Tensor k3 = gaussian(8, 3, 16, DType.F32, 4);
             Tensor kD = gaussian(8, 2, 8, DType.F32, 5);
             Tensor v7 = gaussian(7, 2, 16, DType.F32, 6);
             Tensor dK = Tensor.allocate(8, 2, 16, DType.F32);
             Tensor dV = Tensor.allocate(8, 2, 16, DType.F32);
             Tensor dBad = Tensor.allocate(8, 2, 8, DType.F32);
             Tensor dBf16 = Tensor.allocate(8, 2, 16, DType.BF16);
             Arena arena = Arena.ofShared();
             BlockKernel kernel = variant.create(KernelOptions.defaults(2));
             ForwardPass st = kernel.beginForward(q, Positions.range(0, 8), spec)) {
            Positions p8 = Positions.range(0, 8);
            expect(IllegalArgumentException.class, "k", () -> st.update(kD, v, p8));
            expect(IllegalArgumentException.class, "v", () -> st.update(k, v7, p8));
            expect(IllegalArgumentException.class, "k", () -> st.update(k3, k3, p8));
            expect(IllegalArgumentException.class, "kPositions", () -> st.update(k, v, Positions.range(0, 7)));
            expect(IllegalArgumentException.class, "spec", () -> kernel.beginForward(q, p8, null));
            expect(IllegalArgumentException.class, "q", () -> kernel.beginForward(null, p8, spec));
            expect(IllegalArgumentException.class, "window", () -> spec.withWindow(0));
            expect(IllegalArgumentException.class, "window", () -> spec.withWindow(-3));
            expect(IllegalArgumentException.class, "cuSeqlens", () -> spec.withDocuments(new long[] {1, 8}));
            expect(IllegalArgumentException.class, "cuSeqlens", () -> spec.withDocuments(new long[] {0, 5, 5, 8}));
            expect(IllegalArgumentException.class, "cuSeqlens", () -> spec.withDocuments(new long[] {0, 6}).checkSequenceLength(8));
            expect(IllegalArgumentException.class, "qPositions", () -> kernel.beginForward(q, Positions.range(0, 3), spec));

            MemorySegment lse = arena.allocate(4L * 8 * 4);
            try (BackwardPass bs = kernel.beginBackward(q, p8, q, q, lse, spec)) {
                expect(IllegalArgumentException.class, "dK", () -> bs.update(k, v, p8, dBad, dV));
                expect(IllegalArgumentException.class, "dV", () -> bs.update(k, v, p8, dK, dBf16));
                expect(IllegalArgumentException.class, "k", () -> bs.update(k3, k3, p8, dK, dV));
            }
            expect(IllegalArgumentException.class, "lse", () -> kernel.beginBackward(q, p8, q, q, arena.allocate(4), spec));
            expect(IllegalArgumentException.class, "dOut", () -> kernel.beginBackward(q, p8, q, k, lse, spec));

            Tensor closed = gaussian(8, 2, 16, DType.F32, 7);
            closed.close();
            expect(IllegalStateException.class, "k", () -> st.update(closed, v, p8));
            expect(IllegalStateException.class, "v", () -> st.update(k, closed, p8));
            try (Tensor wrong = Tensor.allocate(8, 2, 16, DType.F32)) {
                expect(IllegalArgumentException.class, "out", () -> st.finish(wrong, null));
            }
        }
    }

    /** A pass accepts no update after finish or close, and no second finish; close is idempotent. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void finishedOrClosedPassRefusesUpdates(Variant variant) {
        AttentionSpec spec = AttentionSpec.of(16);
        Positions p8 = Positions.range(0, 8);
        try (Tensor q = gaussian(8, 2, 16, DType.F32, 1);
             Tensor k = gaussian(8, 2, 16, DType.F32, 2);
             Tensor out = Tensor.allocate(8, 2, 16, DType.F32);
             Tensor dK = Tensor.allocate(8, 2, 16, DType.F32);
             Tensor dV = Tensor.allocate(8, 2, 16, DType.F32);
             Arena arena = Arena.ofShared();
             BlockKernel kernel = variant.create(KernelOptions.defaults(2))) {
            ForwardPass f = kernel.beginForward(q, p8, spec);
            f.update(k, k, p8);
            f.finish(out, null);
            expect(IllegalStateException.class, "update", () -> f.update(k, k, p8));
            expect(IllegalStateException.class, "finish", () -> f.finish(out, null));
            f.close();
            f.close();
            ForwardPass g = kernel.beginForward(q, p8, spec);
            g.close();
            expect(IllegalStateException.class, "update", () -> g.update(k, k, p8));
            BackwardPass b = kernel.beginBackward(q, p8, out, q, arena.allocate(4L * 16), spec);
            b.update(k, k, p8, dK, dV);
            b.finish(out);
            expect(IllegalStateException.class, "update", () -> b.update(k, k, p8, dK, dV));
            b.close();
            b.close();
        }
    }

    private static void expect(Class<? extends RuntimeException> type, String argument, Executable call) {
        RuntimeException e = assertThrows(type, call);
        assertTrue(e.getMessage() != null && e.getMessage().startsWith(argument),
                "message should name '" + argument + "': " + e.getMessage());
    }

    @Test
    void providerHonoursImplAndWidth() {
        for (int bits : new int[] {128, 256, 512}) {
            for (int registers : bits == 512 ? new int[] {32} : new int[] {16, 32}) {
                try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1).withImpl("simd").withSimdBits(bits)
                        .withSimdRegisters(registers)).kernel()) {
                    assertEquals("panama-" + bits + "r" + registers, kernel.name());
                }
            }
        }
        try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1).withImpl("simd").withSimdBits(512)).kernel()) {
            assertEquals("panama-512r32", kernel.name(), "512-bit vectors always come with 32 registers");
        }
        try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1).withImpl("scalar")).kernel()) {
            assertEquals("scalar", kernel.name());
        }
        assertTrue(Devices.probe("simd").available(), Devices.probe("simd").reason());
        expect(IllegalArgumentException.class, "simdBits", () -> KernelOptions.defaults(1).withSimdBits(64));
        expect(IllegalArgumentException.class, "simdRegisters", () -> KernelOptions.defaults(1).withSimdRegisters(8));
        expect(IllegalArgumentException.class, "simdRegisters",
                () -> KernelOptions.defaults(1).withSimdBits(512).withSimdRegisters(16));
    }
}
