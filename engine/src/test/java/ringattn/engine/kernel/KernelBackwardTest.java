package ringattn.engine.kernel;

import static ringattn.engine.kernel.contract.KernelTestSupport.assertBelow;
import static ringattn.engine.kernel.contract.KernelTestSupport.backward;
import static ringattn.engine.kernel.contract.KernelTestSupport.gaussian;
import static ringattn.engine.kernel.contract.KernelTestSupport.relError;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.engine.kernel.KernelForwardTest.Case;
import ringattn.engine.kernel.contract.KernelTestSupport;
import ringattn.engine.kernel.contract.KernelTestSupport.Backward;
import ringattn.engine.kernel.contract.KernelTestSupport.Variant;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * Backward of every CPU kernel against the fp64 reference gradients over shapes and tile sizes
 * (sequence lengths from 1 to 1000, head dimensions 33 to 128, GQA groups 1 to 8, tiles from 4 × 4
 * to 64 × 256, so that the key chunks and dQ partials of the backward vary). What every kernel
 * promises (blocks in any order, accumulation into dK/dV, masks, positions, BF16, scales, finite
 * differences, …) is the contract suite's ({@code ringattn.engine.kernel.contract.BlockKernelContract}).
 *
 * <p>Tolerance: max |error| ≤ 1e-4 × max |reference| for each of dQ, dK, dV. The kernel recomputes
 * P = exp(s − LSE) in fp32 and sums over up to 1000 rows or keys per element, so relative errors
 * are a few 1e-7 to 1e-6 (measured); 1e-4 leaves room for order effects (dQ partials, blocks) and
 * still fails on any wrong term (a missing scale, a wrong D, a mask leak give errors ≥ 1e-2).
 */
class KernelBackwardTest {
    static final double TOLERANCE = 1e-4;

    static final List<Case> CASES = List.of(
            new Case(1, 8, 2, 64, "none", 64, 256),
            new Case(7, 8, 2, 80, "causal", 4, 4),
            new Case(129, 8, 1, 64, "causal+window", 16, 32),
            new Case(129, 8, 8, 33, "docs", 8, 16),
            new Case(129, 8, 2, 128, "none", 32, 16),
            new Case(300, 8, 8, 96, "docs+causal", 24, 40),
            new Case(1000, 8, 2, 64, "causal", 64, 256));

    static Stream<Arguments> kernelsAndCases() {
        return KernelTestSupport.variants().flatMap(v -> CASES.stream().map(c -> Arguments.of(v, c)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("kernelsAndCases")
    void matchesReference(Variant variant, Case c) {
        AttentionSpec spec = c.spec();
        try (Tensor q = gaussian(c.seq(), c.heads(), c.headDim(), DType.F32, 31);
             Tensor k = gaussian(c.seq(), c.kvHeads(), c.headDim(), DType.F32, 32);
             Tensor v = gaussian(c.seq(), c.kvHeads(), c.headDim(), DType.F32, 33);
             Tensor dOut = gaussian(c.seq(), c.heads(), c.headDim(), DType.F32, 34);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(c.queryTile(), c.keyTile()))) {
            ReferenceAttention.Grads ref = ReferenceAttention.backward(q, k, v, dOut, spec);
            try (Backward got = backward(kernel, q, k, v, dOut, new int[] {0, c.seq()}, new int[] {0}, spec)) {
                String what = kernel.name() + " " + c;
                assertBelow(relError(ref.dq(), got.dq()), TOLERANCE, what + " dQ");
                assertBelow(relError(ref.dk(), got.dk()), TOLERANCE, what + " dK");
                assertBelow(relError(ref.dv(), got.dv()), TOLERANCE, what + " dV");
            }
        }
    }
}
