package org.example.consumer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/** The library used from another module equals the fp64 reference. */
class TwoRankRingTest {
    @Test
    void twoRankRingEqualsReference() {
        Random rnd = new Random(7);
        try (Tensor q = Tensor.allocate(77, 4, 32, DType.F32);
             Tensor k = Tensor.allocate(77, 2, 32, DType.F32);
             Tensor v = Tensor.allocate(77, 2, 32, DType.F32)) {
            for (Tensor t : new Tensor[] {q, k, v}) {
                for (long i = 0; i < t.elementCount(); i++) {
                    t.setFlat(i, (float) rnd.nextGaussian());
                }
            }
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, AttentionSpec.of(32).withCausal(true));
            try (Tensor out = TwoRankRing.causalAttention(q, k, v)) {
                double max = 0;
                for (long i = 0; i < out.elementCount(); i++) {
                    max = Math.max(max, Math.abs(out.getFlat(i) - ref.out()[(int) i]));
                }
                // fp32 accumulation over <= 77 unit-variance keys: errors near 1e-6.
                assertTrue(max <= 1e-5, "max abs error " + max);
            }
        }
    }
}
