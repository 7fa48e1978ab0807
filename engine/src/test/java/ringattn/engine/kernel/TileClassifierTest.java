package ringattn.engine.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The tile classifier ({@link AttentionSpec#classify}, and the kernels' per-tile wrapper) against
 * brute force over every (query, key) pair, on seeded random sequences, documents, windows, tiles
 * and global offsets. The kernels skip HIDDEN tiles and drop the per-element mask on VISIBLE ones,
 * so a wrong answer either way loses or leaks scores. The brute force uses its own mask, written
 * from the documented rules, and checks {@code visible} and {@code documentOf} on the way.
 */
class TileClassifierTest {
    private static final int CASES = 600;

    /** One random mask over a sequence of {@code seqLen} tokens, and its brute-force evaluation. */
    private record Mask(AttentionSpec spec, int seqLen, long[] cu) {
        static Mask random(Random rnd) {
            int seqLen = 1 + rnd.nextInt(rnd.nextBoolean() ? 12 : 80);
            AttentionSpec spec = AttentionSpec.of(16).withCausal(rnd.nextBoolean());
            if (rnd.nextInt(3) > 0) {
                spec = spec.withWindow(1 + rnd.nextInt(seqLen + 2));
            }
            long[] cu = null;
            if (rnd.nextInt(3) > 0) {
                TreeSet<Long> cuts = new TreeSet<>();
                cuts.add(0L);
                cuts.add((long) seqLen);
                int extra = rnd.nextInt(Math.min(seqLen, 6));
                for (int i = 0; i < extra; i++) {
                    cuts.add((long) 1 + rnd.nextInt(seqLen)); // may repeat: fewer documents
                }
                cu = cuts.stream().mapToLong(Long::longValue).toArray();
                spec = spec.withDocuments(cu);
            }
            return new Mask(spec, seqLen, cu);
        }

        int document(int position) {
            int d = 0;
            while (cu != null && cu[d + 1] <= position) {
                d++;
            }
            return d;
        }

        boolean sees(int i, int j) {
            if (document(i) != document(j) || spec.causal() && j > i) {
                return false;
            }
            return spec.window() == 0 || Math.abs(i - j) < spec.window();
        }

        /** Brute force over all pairs of the two position lists. */
        TileVisibility classify(int[] queries, int[] keys) {
            boolean any = false;
            boolean all = true;
            for (int i : queries) {
                for (int j : keys) {
                    boolean v = sees(i, j);
                    any |= v;
                    all &= v;
                }
            }
            return !any ? TileVisibility.HIDDEN : all ? TileVisibility.VISIBLE : TileVisibility.PARTIAL;
        }

        /** What the spec says for the tile of these positions (first, last and their documents). */
        TileVisibility specClassify(int[] queries, int[] keys) {
            int qFirst = queries[0];
            int qLast = queries[queries.length - 1];
            int kFirst = keys[0];
            int kLast = keys[keys.length - 1];
            return spec.classify(qFirst, qLast, spec.documentOf(qFirst), spec.documentOf(qLast),
                    kFirst, kLast, spec.documentOf(kFirst), spec.documentOf(kLast));
        }
    }

    private static int[] run(Random rnd, int seqLen) {
        int a = rnd.nextInt(seqLen);
        int b = a + rnd.nextInt(seqLen - a);
        int[] out = new int[b - a + 1];
        for (int i = 0; i < out.length; i++) {
            out[i] = a + i;
        }
        return out;
    }

    /** A sorted random non-empty subset of {@code [0, seqLen)} (a striped or zigzag shard's positions). */
    private static int[] subset(Random rnd, int seqLen) {
        return rnd.ints(1 + rnd.nextInt(Math.min(seqLen, 10)), 0, seqLen).distinct().sorted().toArray();
    }

    @Test
    void visibleAndDocumentOfAgreeWithTheRules() {
        Random rnd = new Random(20);
        for (int c = 0; c < CASES; c++) {
            Mask m = Mask.random(rnd);
            for (int i = 0; i < m.seqLen(); i++) {
                int at = i;
                assertEquals(m.document(i), m.spec().documentOf(i), () -> describe(m) + " documentOf(" + at + ")");
                for (int j = 0; j < m.seqLen(); j++) {
                    if (m.sees(i, j) != m.spec().visible(i, m.document(i), j, m.document(j))) {
                        fail(describe(m) + " visible(" + i + ", " + j + "): expected " + m.sees(i, j));
                    }
                }
            }
        }
    }

    /** Contiguous runs of queries and keys (the tiles of a contiguous shard): the answer is exact. */
    @Test
    void contiguousTilesAreClassifiedExactly() {
        Random rnd = new Random(21);
        for (int c = 0; c < CASES; c++) {
            Mask m = Mask.random(rnd);
            for (int t = 0; t < 10; t++) {
                int[] queries = run(rnd, m.seqLen());
                int[] keys = run(rnd, m.seqLen());
                assertEquals(m.classify(queries, keys), m.specClassify(queries, keys), () -> describe(m, queries, keys));
            }
        }
    }

    /**
     * Arbitrary sorted positions (strided and zigzag shards): the classifier sees only the first and
     * last rows, so it may answer PARTIAL for a tile that is in fact all hidden or all visible, but
     * never HIDDEN for a tile with a visible pair nor VISIBLE for one with a hidden pair.
     */
    @Test
    void scatteredTilesAreNeverMisclassified() {
        Random rnd = new Random(22);
        int exact = 0;
        int total = 0;
        for (int c = 0; c < CASES; c++) {
            Mask m = Mask.random(rnd);
            for (int t = 0; t < 10; t++) {
                int[] queries = subset(rnd, m.seqLen());
                int[] keys = subset(rnd, m.seqLen());
                TileVisibility want = m.classify(queries, keys);
                TileVisibility got = m.specClassify(queries, keys);
                assertTrue(got == want || got == TileVisibility.PARTIAL, () -> describe(m, queries, keys)
                        + ": expected " + (want == TileVisibility.PARTIAL ? "PARTIAL" : want + " or PARTIAL") + ", got " + got);
                exact += got == want ? 1 : 0;
                total++;
            }
        }
        // Conservative, not useless: most tiles still get their exact class.
        assertTrue(exact > total * 3 / 4, exact + " of " + total + " exact");
    }

    /**
     * The kernels' wrapper: rows {@code [r0, r1)} of a block against keys {@code [c0, c1)} of
     * another, at global offsets, as every kernel calls it per tile.
     */
    @Test
    void kernelTilesOfBlocksAtOffsetsAreClassifiedExactly() {
        Random rnd = new Random(23);
        for (int c = 0; c < CASES; c++) {
            Mask m = Mask.random(rnd);
            int[] qBlock = run(rnd, m.seqLen());
            int[] kBlock = run(rnd, m.seqLen());
            Positions qPos = Positions.of(qBlock);
            Positions kPos = Positions.of(kBlock);
            int[] qDocs = m.spec().documentsOf(qPos);
            int[] kDocs = m.spec().documentsOf(kPos);
            for (int t = 0; t < 10; t++) {
                int r0 = rnd.nextInt(qBlock.length);
                int r1 = r0 + 1 + rnd.nextInt(qBlock.length - r0);
                int c0 = rnd.nextInt(kBlock.length);
                int c1 = c0 + 1 + rnd.nextInt(kBlock.length - c0);
                int[] queries = Arrays.copyOfRange(qBlock, r0, r1);
                int[] keys = Arrays.copyOfRange(kBlock, c0, c1);
                assertEquals(m.classify(queries, keys),
                        AbstractBlockKernel.classify(m.spec(), qPos, qDocs, r0, r1, kPos, kDocs, c0, c1),
                        () -> describe(m, queries, keys));
            }
        }
    }

    private static String describe(Mask m) {
        return m.spec() + " S=" + m.seqLen() + " cu=" + Arrays.toString(m.cu()) + " window=" + m.spec().window();
    }

    private static String describe(Mask m, int[] queries, int[] keys) {
        return describe(m) + " queries=" + Arrays.toString(queries) + " keys=" + Arrays.toString(keys);
    }
}
