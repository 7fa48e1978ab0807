package ringattn.engine.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * NaN and infinities propagate as the README documents and as the fp64 reference does: a NaN or +∞
 * in a visible score makes the row's O and LSE NaN; a NaN the mask hides changes nothing; the other
 * rows still match the reference (2e-5 absolute, as in the forward tests).
 */
class NonFiniteInputTest {
    @ParameterizedTest(name = "{0}")
    @MethodSource("ringattn.engine.kernel.KernelTestSupport#variants")
    void nonFiniteValuesPropagateLikeTheReference(KernelTestSupport.Variant variant) {
        int s = 40;
        int d = 24;
        AttentionSpec spec = AttentionSpec.of(d).withCausal(true);
        try (Tensor q = KernelTestSupport.gaussian(s, 2, d, DType.F32, 1);
             Tensor k = KernelTestSupport.gaussian(s, 1, d, DType.F32, 2);
             Tensor v = KernelTestSupport.gaussian(s, 1, d, DType.F32, 3);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(8, 16));
             Arena arena = Arena.ofConfined()) {
            q.set(3, 0, 5, Float.NaN);                       // row 3, head 0: NaN score against every key
            q.set(7, 1, 0, Float.POSITIVE_INFINITY);         // row 7, head 1: ±∞ scores → NaN
            k.set(20, 0, 2, Float.NaN);                      // key 20: visible to rows ≥ 20 only
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            MemorySegment lse = arena.allocate((long) s * 2 * 4);
            try (ForwardPass state = kernel.beginForward(q, Positions.range(0, s), spec);
                 Tensor out = Tensor.allocate(s, 2, d, DType.F32)) {
                state.update(k, v, Positions.range(0, s));
                state.finish(out, lse);
                for (int h = 0; h < 2; h++) {
                    for (int i = 0; i < s; i++) {
                        boolean nanRow = i >= 20 || (i == 3 && h == 0) || (i == 7 && h == 1);
                        double wantLse = ref.lse(h, i);
                        float gotLse = lse.getAtIndex(ValueLayout.JAVA_FLOAT, (long) h * s + i);
                        assertEquals(nanRow, Double.isNaN(wantLse), "reference row " + i + " head " + h);
                        assertEquals(nanRow, Float.isNaN(gotLse), variant + " LSE row " + i + " head " + h);
                        for (int c = 0; c < d; c++) {
                            float got = out.get(i, h, c);
                            if (nanRow) {
                                assertTrue(Float.isNaN(got), variant + " O row " + i + " head " + h + " should be NaN");
                            } else {
                                assertTrue(Math.abs(got - ref.out(i, h, c)) <= 2e-5,
                                        variant + " O row " + i + " head " + h + ": " + got + " vs " + ref.out(i, h, c));
                            }
                        }
                    }
                }
            }
        }
    }
}
