package ringattn.engine.kernel.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static ringattn.engine.kernel.contract.KernelTestSupport.assertBelow;
import static ringattn.engine.kernel.contract.KernelTestSupport.backward;
import static ringattn.engine.kernel.contract.KernelTestSupport.forward;
import static ringattn.engine.kernel.contract.KernelTestSupport.forwardErrors;
import static ringattn.engine.kernel.contract.KernelTestSupport.gaussian;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.contract.KernelTestSupport;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * A block larger than the kernel's packed-block bound (a rank's own shard of a long sequence) is
 * taken in runs of whole key tiles. Forced here with a 32 KiB bound on 700 keys (about twenty runs
 * of 32 keys; the backward's, four times longer, four): the forward gives the same bits as one
 * update (each query row meets the same tiles in the same order) and both match the fp64 reference
 * within 1e-5 (O and LSE); the backward, whose dQ partials are summed per run, matches it within
 * 1e-4 × max |reference| (the tolerances of {@code KernelForwardTest} and {@code KernelBackwardTest},
 * which say why).
 */
class PackedBlockRunsTest {
    private static final int SEQ = 700;
    private static final KernelOptions OPTIONS = new KernelOptions(2, 16, 32, "simd", 0);
    private static final long SMALL = 32 << 10;

    @ParameterizedTest
    @ValueSource(strings = {"none", "causal", "window", "causal+window+docs"})
    void forwardInRunsHasTheBitsOfOneUpdate(String mask) {
        AttentionSpec spec = KernelTestSupport.spec(mask, SEQ, 40);
        try (PanamaKernel whole = new PanamaKernel(OPTIONS);
             PanamaKernel runs = new PanamaKernel(OPTIONS, SMALL);
             Tensor q = gaussian(SEQ, 4, 40, DType.F32, 1);
             Tensor k = gaussian(SEQ, 2, 40, DType.F32, 2);
             Tensor v = gaussian(SEQ, 2, 40, DType.F32, 3);
             KernelTestSupport.Forward one = forward(whole, q, k, v, spec);
             KernelTestSupport.Forward many = forward(runs, q, k, v, spec)) {
            assertTrue(runs.maxKeysPerRun(2, 40, false) <= SEQ / 5, "the bound gives at least five runs");
            for (long i = 0; i < one.out().elementCount(); i++) {
                assertEquals(Float.floatToRawIntBits(one.out().getFlat(i)), Float.floatToRawIntBits(many.out().getFlat(i)),
                        "O element " + i);
            }
            for (int i = 0; i < SEQ * 4; i++) {
                assertEquals(Float.floatToRawIntBits(one.lse(i)), Float.floatToRawIntBits(many.lse(i)), "LSE " + i);
            }
            double[] e = forwardErrors(ReferenceAttention.forward(q, k, v, spec), many);
            assertBelow(e[0], 1e-5, mask + " O");
            assertBelow(e[1], 1e-5, mask + " LSE");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "causal+window"})
    void backwardInRunsMatchesTheReference(String mask) {
        AttentionSpec spec = KernelTestSupport.spec(mask, SEQ, 40);
        try (PanamaKernel runs = new PanamaKernel(OPTIONS, SMALL);
             Tensor q = gaussian(SEQ, 4, 40, DType.F32, 1);
             Tensor k = gaussian(SEQ, 2, 40, DType.F32, 2);
             Tensor v = gaussian(SEQ, 2, 40, DType.F32, 3);
             Tensor dO = gaussian(SEQ, 4, 40, DType.F32, 4);
             KernelTestSupport.Backward got = backward(runs, q, k, v, dO, new int[] {0, SEQ},
                     new int[] {0}, spec)) {
            assertTrue(runs.maxKeysPerRun(2, 40, true) <= SEQ / 2, "the backward's bound gives at least two runs");
            ReferenceAttention.Grads ref = ReferenceAttention.backward(q, k, v, dO, spec);
            assertBelow(KernelTestSupport.relError(ref.dq(), got.dq()), 1e-4, mask + " dQ");
            assertBelow(KernelTestSupport.relError(ref.dk(), got.dk()), 1e-4, mask + " dK");
            assertBelow(KernelTestSupport.relError(ref.dv(), got.dv()), 1e-4, mask + " dV");
        }
    }
}
