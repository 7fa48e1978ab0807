package ringattn.engine.ring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.testing.TestTensors;
import ringattn.engine.transport.InJvmRing;

/** Bad input on one rank must give a clear error on every rank, quickly, never a hang. */
@Timeout(30)
class RingAgreementTest {
    private static List<String> outcomes(int world, java.util.function.IntFunction<AttentionSpec> specOf,
                                         java.util.function.IntUnaryOperator tokensOf) {
        return InJvmRing.run(world, Duration.ofSeconds(10), t -> {
            AttentionSpec spec = specOf.apply(t.rank());
            int seq = 20; // contiguous shards of 6, 7, 7 tokens
            int tokens = tokensOf.applyAsInt(t.rank());
            try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1)).kernel();
                 RingAttention ring = new RingAttention(t, kernel, RingOptions.defaults(spec).withLayout(ShardLayout.CONTIGUOUS));
                 Tensor q = TestTensors.normal(1, tokens, 2, 8, DType.F32);
                 Tensor k = TestTensors.normal(2, tokens, 2, 8, DType.F32);
                 Tensor v = TestTensors.normal(3, tokens, 2, 8, DType.F32)) {
                ring.forward(q, k, v, seq).close();
                return "ok";
            } catch (IllegalArgumentException e) {
                return "error: " + e.getMessage();
            }
        });
    }

    @Test
    void ranksThatDisagreeOnOptionsAllFail() {
        List<String> out = outcomes(3, r -> AttentionSpec.of(8).withCausal(r != 1), r -> r == 0 ? 6 : 7);
        for (String o : out) {
            assertTrue(o.startsWith("error: ranks disagree on the job"), o);
        }
    }

    @Test
    void aWrongShardOnOneRankFailsEveryRankNamingIt() {
        List<String> out = outcomes(3, r -> AttentionSpec.of(8), r -> r == 2 ? 5 : r == 0 ? 6 : 7);
        assertEquals(3, out.size());
        for (String o : out) {
            assertTrue(o.startsWith("error: rank 2: q: 5 tokens"), o);
        }
    }
}
