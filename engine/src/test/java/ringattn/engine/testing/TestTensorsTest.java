package ringattn.engine.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/** The BF16 comparison helpers the ring tests rely on. */
class TestTensorsTest {
    private static final double ULP_AT_ONE = 0x1p-7;

    @Test
    void roundsToNearestBf16WithTiesToEven() {
        assertEquals(1f, TestTensors.roundToBf16(1.0));
        assertEquals(1f, TestTensors.roundToBf16(1 + ULP_AT_ONE / 2), "tie: 1 is even");
        assertEquals((float) (1 + 2 * ULP_AT_ONE), TestTensors.roundToBf16(1 + 1.5 * ULP_AT_ONE), "tie: up to even");
        assertEquals((float) (1 + ULP_AT_ONE), TestTensors.roundToBf16(1 + 0.6 * ULP_AT_ONE));
        assertEquals((float) -(1 + ULP_AT_ONE), TestTensors.roundToBf16(-(1 + 0.6 * ULP_AT_ONE)));
        // Just above a tie, but (float) x is the tie itself: rounding twice would give 1.
        assertEquals((float) (1 + ULP_AT_ONE), TestTensors.roundToBf16(1 + ULP_AT_ONE / 2 + 0x1p-30));
        assertEquals(Float.POSITIVE_INFINITY, TestTensors.roundToBf16(1e300));
    }

    @Test
    void countsUlpsAcrossZero() {
        float tiny = Float.intBitsToFloat(0x00010000); // the smallest positive BF16
        assertEquals(0, TestTensors.bf16Ulps(0f, -0f));
        assertEquals(1, TestTensors.bf16Ulps(1f, (float) (1 + ULP_AT_ONE)));
        assertEquals(2, TestTensors.bf16Ulps(tiny, -tiny));
        assertEquals(128, TestTensors.bf16Ulps(1f, 2f), "one binade holds 2^7 BF16 values");
        assertEquals(Integer.MAX_VALUE, TestTensors.bf16Ulps(Float.NaN, 1f));
    }

    @Test
    void comparesATensorWithTheRoundedReference() {
        try (Tensor t = Tensor.allocate(1, 1, 3, DType.BF16)) {
            t.setFlat(0, 1f);
            t.setFlat(1, (float) (1 + ULP_AT_ONE));
            t.setFlat(2, -2f);
            TestTensors.Bf16Comparison c = TestTensors.compareBf16(t, new double[] {1.001, 1.001, -2.05});
            assertEquals(new TestTensors.Bf16Comparison(3, 2, 3), c);
        }
    }
}
