package ringattn.engine.kernel.simd;

import ringattn.engine.kernel.AttentionSpec;

/**
 * Visible ranges under an {@link AttentionSpec}. Positions and documents of a block are sorted
 * (positions strictly increasing, documents non-decreasing), and every mask of the spec keeps, for
 * one query, keys in one document and one position interval; so the keys a query sees inside a tile
 * form one index range, found by binary search, and symmetrically the queries that see one key. The
 * kernel masks a PARTIAL tile by filling outside that range instead of testing each element. Agrees
 * with {@link AttentionSpec#visible} element for element (the tests compare against the fp64
 * reference, which uses {@code visible}). Stateless.
 */
final class MaskRanges {
    private MaskRanges() {
    }

    /**
     * The keys {@code [lo, hi)} of {@code [from, to)} visible to a query at position {@code qPos}
     * in document {@code qDoc}, packed as {@code lo | (long) hi << 32}; {@code lo >= hi} when none.
     */
    static long keysOf(AttentionSpec spec, int qPos, int qDoc, int[] kPos, int[] kDocs, int from, int to) {
        long w = spec.window();
        long pLo;
        long pHi;
        if (spec.causal()) {
            pHi = qPos;
            pLo = w == 0 ? Long.MIN_VALUE : qPos - w + 1;
        } else if (w != 0) {
            pLo = qPos - w + 1;
            pHi = qPos + w - 1;
        } else {
            pLo = Long.MIN_VALUE;
            pHi = Long.MAX_VALUE;
        }
        return range(spec, pLo, pHi, qDoc, kPos, kDocs, from, to);
    }

    /**
     * The queries {@code [lo, hi)} of {@code [from, to)} that see a key at position {@code kPos} in
     * document {@code kDoc}, packed like {@link #keysOf}.
     */
    static long queriesOf(AttentionSpec spec, int kPos, int kDoc, int[] qPos, int[] qDocs, int from, int to) {
        long w = spec.window();
        long pLo;
        long pHi;
        if (spec.causal()) {
            pLo = kPos;
            pHi = w == 0 ? Long.MAX_VALUE : kPos + w - 1;
        } else if (w != 0) {
            pLo = kPos - w + 1;
            pHi = kPos + w - 1;
        } else {
            pLo = Long.MIN_VALUE;
            pHi = Long.MAX_VALUE;
        }
        return range(spec, pLo, pHi, kDoc, qPos, qDocs, from, to);
    }

    private static long range(AttentionSpec spec, long pLo, long pHi, int doc, int[] pos, int[] docs,
                              int from, int to) {
        int lo = lowerBound(pos, from, to, pLo);
        int hi = lowerBound(pos, from, to, pHi + 1 > pHi ? pHi + 1 : pHi); // first position > pHi
        if (pHi == Long.MAX_VALUE) {
            hi = to;
        }
        if (spec.hasDocuments()) {
            lo = Math.max(lo, lowerBound(docs, from, to, doc));
            hi = Math.min(hi, lowerBound(docs, from, to, (long) doc + 1));
        }
        return (lo & 0xFFFFFFFFL) | (long) Math.max(lo, hi) << 32;
    }

    /** First index in {@code [from, to)} whose value is {@code >= key}, or {@code to}. */
    private static int lowerBound(int[] a, int from, int to, long key) {
        int lo = from;
        int hi = to;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    static int lo(long range) {
        return (int) range;
    }

    static int hi(long range) {
        return (int) (range >>> 32);
    }
}
