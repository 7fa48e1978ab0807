package ringattn.engine.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static ringattn.engine.kernel.contract.KernelTestSupport.gaussian;

import java.lang.foreign.ValueLayout;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.engine.kernel.contract.KernelTestSupport;
import ringattn.engine.kernel.contract.KernelTestSupport.Forward;
import ringattn.engine.kernel.contract.KernelTestSupport.Variant;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The forward computes each query row on its own, so how many query tiles a task takes (several
 * with one worker, one each with many workers) must not change a bit of O or LSE.
 */
class ForwardTaskRowsTest {
    static Stream<Arguments> cases() {
        return KernelTestSupport.variants().flatMap(v -> Stream.of("none", "causal", "docs+causal")
                .map(m -> Arguments.of(v, m)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void taskSizeDoesNotChangeTheResult(Variant variant, String mask) {
        int s = 700;
        AttentionSpec spec = AttentionSpec.of(64);
        if (mask.contains("causal")) {
            spec = spec.withCausal(true);
        }
        if (mask.contains("docs")) {
            spec = spec.withDocuments(new long[] {0, 150, 151, 600, s});
        }
        try (Tensor q = gaussian(s, 2, 64, DType.F32, 71);
             Tensor k = gaussian(s, 1, 64, DType.F32, 72);
             Tensor v = gaussian(s, 1, 64, DType.F32, 73);
             BlockKernel few = variant.create(KernelOptions.defaults(1).withTiles(16, 48));
             BlockKernel many = variant.create(KernelOptions.defaults(48).withTiles(16, 48));
             Forward a = KernelTestSupport.forward(few, q, k, v, spec);
             Forward b = KernelTestSupport.forward(many, q, k, v, spec)) {
            assertArrayEquals(b.out().segment().toArray(ValueLayout.JAVA_BYTE),
                    a.out().segment().toArray(ValueLayout.JAVA_BYTE), few.name() + " " + mask + " O");
            assertArrayEquals(b.lse().asSlice(0, 4L * s * 2).toArray(ValueLayout.JAVA_BYTE),
                    a.lse().asSlice(0, 4L * s * 2).toArray(ValueLayout.JAVA_BYTE), few.name() + " " + mask + " LSE");
        }
    }
}
