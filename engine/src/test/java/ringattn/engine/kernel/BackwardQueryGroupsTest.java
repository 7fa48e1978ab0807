package ringattn.engine.kernel;

import static ringattn.engine.kernel.contract.KernelTestSupport.assertBelow;
import static ringattn.engine.kernel.contract.KernelTestSupport.gaussian;
import static ringattn.engine.kernel.contract.KernelTestSupport.relError;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.engine.kernel.contract.KernelTestSupport;
import ringattn.engine.kernel.contract.KernelTestSupport.Backward;
import ringattn.engine.kernel.contract.KernelTestSupport.Variant;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * A backward over more queries than one task packs at a time (the Vector API kernel packs Q and dO
 * in groups of 2048 rows), against the fp64 reference with the tolerance of
 * {@link KernelBackwardTest}.
 */
class BackwardQueryGroupsTest {
    /** Reference gradients per mask, shared by the kernel variants. */
    private static final Map<String, ReferenceAttention.Grads> REFERENCE = new ConcurrentHashMap<>();

    static Stream<Arguments> cases() {
        return KernelTestSupport.variants().filter(v -> !v.impl().equals("scalar"))
                .flatMap(v -> Stream.of("window", "docs+causal").map(m -> Arguments.of(v, m)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void manyQueryTilesMatchReference(Variant variant, String mask) {
        int s = 2200;
        AttentionSpec spec = AttentionSpec.of(32);
        if (mask.contains("causal")) {
            spec = spec.withCausal(true);
        }
        if (mask.contains("window")) {
            spec = spec.withWindow(500);
        }
        if (mask.contains("docs")) {
            spec = spec.withDocuments(new long[] {0, 700, 701, 2100, s});
        }
        try (Tensor q = gaussian(s, 2, 32, DType.F32, 81);
             Tensor k = gaussian(s, 1, 32, DType.F32, 82);
             Tensor v = gaussian(s, 1, 32, DType.F32, 83);
             Tensor dOut = gaussian(s, 2, 32, DType.F32, 84);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(64, 128))) {
            AttentionSpec refSpec = spec;
            ReferenceAttention.Grads ref = REFERENCE.computeIfAbsent(mask,
                    m -> ReferenceAttention.backward(q, k, v, dOut, refSpec));
            int[] cut = {0, 1000, s};
            try (Backward got = KernelTestSupport.backward(kernel, q, k, v, dOut, cut, new int[] {1, 0}, spec)) {
                String what = kernel.name() + " " + mask;
                assertBelow(relError(ref.dq(), got.dq()), KernelBackwardTest.TOLERANCE, what + " dQ");
                assertBelow(relError(ref.dk(), got.dk()), KernelBackwardTest.TOLERANCE, what + " dK");
                assertBelow(relError(ref.dv(), got.dv()), KernelBackwardTest.TOLERANCE, what + " dV");
            }
        }
    }
}
