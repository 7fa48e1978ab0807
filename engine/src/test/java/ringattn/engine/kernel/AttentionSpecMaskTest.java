package ringattn.engine.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@link AttentionSpec}'s mask against literal masks written out by hand. The fp64 reference has
 * its own mask code, but the kernels use {@code visible} and {@code documentOf}: these matrices pin
 * the rules themselves (row i is query position i, column j key position j, 1 = visible).
 */
class AttentionSpecMaskTest {
    private static final AttentionSpec NONE = AttentionSpec.of(8);
    /** Documents [0,1) [1,4) [4,5) [5,8): one-token documents at positions 0 and 4. */
    private static final long[] DOCS = {0, 1, 4, 5, 8};

    @Test
    void noMaskSeesEverything() {
        assertMask(NONE, """
                11111111
                11111111
                11111111
                11111111
                11111111
                11111111
                11111111
                11111111""");
    }

    @Test
    void causalSeesTheKeyItselfAndEarlierOnes() {
        assertMask(NONE.withCausal(true), """
                10000000
                11000000
                11100000
                11110000
                11111000
                11111100
                11111110
                11111111""");
    }

    @Test
    void causalWindowSeesTheLastWTokensIncludingItself() {
        assertMask(NONE.withCausal(true).withWindow(3), """
                10000000
                11000000
                11100000
                01110000
                00111000
                00011100
                00001110
                00000111""");
        assertMask(NONE.withCausal(true).withWindow(1), """
                10000000
                01000000
                00100000
                00010000
                00001000
                00000100
                00000010
                00000001""");
    }

    @Test
    void symmetricWindowSeesLessThanWTokensAwayEitherSide() {
        assertMask(NONE.withWindow(3), """
                11100000
                11110000
                11111000
                01111100
                00111110
                00011111
                00001111
                00000111""");
        assertMask(NONE.withWindow(1), """
                10000000
                01000000
                00100000
                00010000
                00001000
                00000100
                00000010
                00000001""");
        // W = S − 1 hides only the two far corners; W = S hides nothing.
        assertMask(NONE.withWindow(7), """
                11111110
                11111111
                11111111
                11111111
                11111111
                11111111
                11111111
                01111111""");
        assertMask(NONE.withWindow(8), """
                11111111
                11111111
                11111111
                11111111
                11111111
                11111111
                11111111
                11111111""");
    }

    @Test
    void documentsSeeOnlyTheirOwnDocument() {
        assertArrayEquals(new int[] {0, 1, 1, 1, 2, 3, 3, 3},
                NONE.withDocuments(DOCS).documentsOf(Positions.range(0, 8)));
        assertMask(NONE.withDocuments(DOCS), """
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
    void documentsWithCausal() {
        assertMask(NONE.withDocuments(DOCS).withCausal(true), """
                10000000
                01000000
                01100000
                01110000
                00001000
                00000100
                00000110
                00000111""");
    }

    @Test
    void documentsWithCausalWindow() {
        assertMask(NONE.withDocuments(DOCS).withCausal(true).withWindow(2), """
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
    void documentsWithSymmetricWindow() {
        assertMask(NONE.withDocuments(new long[] {0, 3, 4, 8}).withWindow(2), """
                11000000
                11100000
                01100000
                00010000
                00001100
                00001110
                00000111
                00000011""");
    }

    @Test
    void oneDocumentOfOneTokenPerPosition() {
        long[] each = {0, 1, 2, 3, 4, 5, 6};
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, NONE.withDocuments(each).documentsOf(Positions.range(0, 6)));
        assertMask(NONE.withDocuments(each), """
                100000
                010000
                001000
                000100
                000010
                000001""");
    }

    @Test
    void masksDependOnGlobalPositionsNotIndices() {
        // Positions 10..15 in documents [0,12) [12,13) [13,20): a shard deep in the sequence.
        AttentionSpec spec = NONE.withDocuments(new long[] {0, 12, 13, 20}).withCausal(true).withWindow(3);
        assertArrayEquals(new int[] {0, 0, 1, 2, 2, 2}, spec.documentsOf(Positions.range(10, 6)));
        assertMask(spec, 10, """
                100000
                110000
                001000
                000100
                000110
                000111""");
        assertEquals(2, spec.documentOf(19), "last position of the last document");
    }

    @Test
    void emptyDocumentsAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NONE.withDocuments(new long[] {0, 3, 3, 8}));
        assertTrue(e.getMessage().startsWith("cuSeqlens: must be strictly increasing"), e.getMessage());
    }

    /** Windows below 1 and offsets that do not start at 0 or do not end at the sequence length, by name. */
    @Test
    void badWindowsAndDocumentsAreRefusedNamingThem() {
        refused("window", () -> NONE.withWindow(0));
        refused("window", () -> NONE.withWindow(-3));
        refused("cuSeqlens", () -> NONE.withDocuments(new long[] {1, 8}));
        refused("cuSeqlens", () -> NONE.withDocuments(new long[] {0, 6}).checkSequenceLength(8));
    }

    private static void refused(String argument, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage() != null && e.getMessage().startsWith(argument),
                "message should name '" + argument + "': " + e.getMessage());
    }

    private static void assertMask(AttentionSpec spec, String expected) {
        assertMask(spec, 0, expected);
    }

    /** Compares the mask of positions {@code first..first+n−1} (queries and keys) with the literal. */
    private static void assertMask(AttentionSpec spec, int first, String expected) {
        String[] rows = expected.split("\n");
        int n = rows.length;
        StringBuilder got = new StringBuilder();
        for (int i = first; i < first + n; i++) {
            for (int j = first; j < first + n; j++) {
                got.append(spec.visible(i, spec.documentOf(i), j, spec.documentOf(j)) ? '1' : '0');
            }
            if (i < first + n - 1) {
                got.append('\n');
            }
        }
        assertEquals(expected, got.toString(), spec.toString());
    }
}
