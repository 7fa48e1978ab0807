package ringattn.engine.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The reference's own mask, read back through its arithmetic and compared with literal 0/1 masks
 * (row i is the query, column j the key, 1 = visible). With Q = 0 every visible score is 0, so
 * P[i][j] = 1/|visible keys of i| where j is visible and 0 elsewhere; with V = I (head dim = S),
 * O[i][j] = P[i][j]. In the backward, dO = I gives dV[j][i] = Σ_r P[r][j]·dO[r][i] = P[i][j].
 */
class ReferenceAttentionTest {
    private static final long[] DOCS = {0, 1, 4, 5, 8}; // one-token documents at 0 and 4

    @Test
    void forwardAndBackwardApplyTheCausalWindowWithDocuments() {
        assertReferenceMask(AttentionSpec.of(8).withDocuments(DOCS).withCausal(true).withWindow(2), 0, """
                10000000
                01000000
                01100000
                00110000
                00001000
                00000100
                00000110
                00000011""");
    }

    @Test
    void forwardAndBackwardApplyTheSymmetricWindow() {
        assertReferenceMask(AttentionSpec.of(8).withWindow(3), 0, """
                11100000
                11110000
                11111000
                01111100
                00111110
                00011111
                00001111
                00000111""");
    }

    @Test
    void forwardAndBackwardApplyDocuments() {
        assertReferenceMask(AttentionSpec.of(8).withDocuments(DOCS), 0, """
                10000000
                01110000
                01110000
                01110000
                00001000
                00000111
                00000111
                00000111""");
    }

    @Test
    void forwardAndBackwardUseGlobalPositions() {
        // Positions 10..15 in documents [0,12) [12,13) [13,20).
        assertReferenceMask(AttentionSpec.of(8).withDocuments(new long[] {0, 12, 13, 20}).withCausal(true).withWindow(3),
                10, """
                100000
                110000
                001000
                000100
                000110
                000111""");
    }

    @Test
    void positionsPastTheLastDocumentAreRefused() {
        AttentionSpec spec = AttentionSpec.of(4).withDocuments(new long[] {0, 2, 4});
        try (Tensor x = Tensor.allocate(2, 1, 4, DType.F32)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ReferenceAttention.forward(x, Positions.range(0, 2), x, x, Positions.range(3, 2), spec));
            assertEquals("kPos[1]: position 4 lies past the last document, which ends at 4", e.getMessage());
        }
    }

    /** Reads the mask of positions {@code first..first+n−1} back from the forward and the backward. */
    private static void assertReferenceMask(AttentionSpec spec, int first, String expected) {
        int n = expected.split("\n").length;
        Positions pos = Positions.range(first, n);
        try (Tensor zero = Tensor.allocate(n, 1, n, DType.F32);
             Tensor identity = Tensor.allocate(n, 1, n, DType.F32)) {
            for (int i = 0; i < n; i++) {
                identity.set(i, 0, i, 1f);
            }
            ReferenceAttention.Result fwd = ReferenceAttention.forward(zero, pos, zero, identity, pos, spec);
            ReferenceAttention.Grads grads = ReferenceAttention.backward(zero, pos, zero, identity, pos, identity, spec);
            StringBuilder fromForward = new StringBuilder();
            StringBuilder fromBackward = new StringBuilder();
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    fromForward.append(fwd.out(i, 0, j) > 0 ? '1' : '0');
                    double dv = grads.dv()[j * n + i];
                    fromBackward.append(dv > 0 ? '1' : '0');
                    assertEquals(fwd.out(i, 0, j), dv, 1e-15, "P[" + i + "][" + j + "] forward vs backward");
                }
                if (i < n - 1) {
                    fromForward.append('\n');
                    fromBackward.append('\n');
                }
            }
            assertEquals(expected, fromForward.toString(), "forward " + spec);
            assertEquals(expected, fromBackward.toString(), "backward " + spec);
            assertTrue(fwd.lse(0, 0) > Double.NEGATIVE_INFINITY, "row 0 sees itself");
        }
    }
}
