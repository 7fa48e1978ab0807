package ringattn.engine.ring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.testing.TestTensors;

class RingStatsTest {
    @Test
    void hiddenFractionIsTheShareOfTransferTimeUnderCompute() {
        long[] compute = {100, 100, 100};
        long[] bytes = {10, 10, 0};
        assertEquals(1.0, new RingStats(compute, new long[] {0, 0, 0}, new long[] {50, 50, 0}, bytes, 300).hiddenFraction());
        assertEquals(0.75, new RingStats(compute, new long[] {25, 0, 0}, new long[] {50, 50, 0}, bytes, 300).hiddenFraction(), 1e-12);
        // waiting longer than the transfer took (for a slow peer's compute) is not communication
        assertEquals(0.5, new RingStats(compute, new long[] {500, 0, 0}, new long[] {50, 50, 0}, bytes, 300).hiddenFraction(), 1e-12);
        assertEquals(1.0, new RingStats(new long[] {1}, new long[] {0}, new long[] {0}, new long[] {0}, 1).hiddenFraction());
    }

    @Test
    void aRingPassMeasuresItsTransfers() {
        AttentionSpec spec = AttentionSpec.of(16);
        try (Tensor q = TestTensors.normal(1, 64, 2, 16, DType.F32);
             Tensor k = TestTensors.normal(2, 64, 2, 16, DType.F32);
             Tensor v = TestTensors.normal(3, 64, 2, 16, DType.F32);
             LocalRingAttention.Result r = LocalRingAttention.run(q, k, v, null, 3,
                     RingOptions.defaults(spec).withTimeout(Duration.ofSeconds(20)), KernelOptions.defaults(1))) {
            for (RingStats s : r.forwardStats()) {
                assertEquals(3, s.steps());
                assertTrue(s.transferNanos(0) > 0 && s.transferNanos(1) > 0, "two transfers measured");
                assertEquals(0, s.transferNanos(2), "the last step moves nothing");
                assertTrue(s.bytes(0) == 2L * 21 * 2 * 16 * 4 || s.bytes(0) == 2L * 22 * 2 * 16 * 4, "K and V of a shard");
                assertTrue(s.hiddenFraction() >= 0 && s.hiddenFraction() <= 1);
            }
        }
    }
}
