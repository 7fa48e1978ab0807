package ringattn.engine.kernel;

import java.util.Arrays;

/**
 * Softmax scale and masks, all by global token position. Immutable and thread-safe.
 *
 * <ul>
 *   <li>causal: key j is visible to query i iff j ≤ i;
 *   <li>sliding window W ≥ 1: with causal i−W &lt; j ≤ i, without |i−j| &lt; W;
 *   <li>documents: {@code cuSeqlens = [0, …, S]}, strictly increasing offsets of packed documents; a
 *       query sees only keys of its own document.
 * </ul>
 * The masks combine by intersection. A query that sees no key gets O = 0 and LSE = −∞.
 */
public final class AttentionSpec {
    private final float scale;
    private final boolean causal;
    private final int window; // 0: none
    private final int[] cuSeqlens; // null: one document

    private AttentionSpec(float scale, boolean causal, int window, int[] cuSeqlens) {
        this.scale = scale;
        this.causal = causal;
        this.window = window;
        this.cuSeqlens = cuSeqlens;
    }

    /** No mask, scale 1/√headDim. */
    public static AttentionSpec of(int headDim) {
        if (headDim < 1) {
            throw new IllegalArgumentException("headDim: must be >= 1, got " + headDim);
        }
        return new AttentionSpec((float) (1.0 / Math.sqrt(headDim)), false, 0, null);
    }

    /** The same spec with the given softmax scale (finite and non-zero). */
    public AttentionSpec withScale(float newScale) {
        if (!Float.isFinite(newScale) || newScale == 0f) {
            throw new IllegalArgumentException("scale: must be finite and non-zero, got " + newScale);
        }
        return new AttentionSpec(newScale, causal, window, cuSeqlens);
    }

    /** The same spec, causal or not. */
    public AttentionSpec withCausal(boolean newCausal) {
        return new AttentionSpec(scale, newCausal, window, cuSeqlens);
    }

    /** The same spec with a sliding window of {@code w ≥ 1} tokens. */
    public AttentionSpec withWindow(int w) {
        if (w <= 0) {
            throw new IllegalArgumentException("window: must be >= 1, got " + w);
        }
        return new AttentionSpec(scale, causal, w, cuSeqlens);
    }

    /** The same spec without a sliding window. */
    public AttentionSpec withoutWindow() {
        return new AttentionSpec(scale, causal, 0, cuSeqlens);
    }

    /**
     * The same spec with packed documents: offsets {@code [0, …, S]}, strictly increasing. The
     * final offset is checked against the sequence length by {@link #checkSequenceLength}.
     */
    public AttentionSpec withDocuments(long[] offsets) {
        if (offsets == null) {
            return new AttentionSpec(scale, causal, window, null);
        }
        if (offsets.length < 2) {
            throw new IllegalArgumentException("cuSeqlens: needs at least 2 offsets [0, S], got " + offsets.length);
        }
        if (offsets[0] != 0) {
            throw new IllegalArgumentException("cuSeqlens: must start at 0, got " + offsets[0]);
        }
        int[] cu = new int[offsets.length];
        for (int i = 0; i < offsets.length; i++) {
            if (i > 0 && offsets[i] <= offsets[i - 1]) {
                throw new IllegalArgumentException("cuSeqlens: must be strictly increasing, got "
                        + offsets[i - 1] + " then " + offsets[i] + " at index " + i);
            }
            if (offsets[i] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("cuSeqlens[" + i + "]: " + offsets[i] + " exceeds " + Integer.MAX_VALUE);
            }
            cu[i] = (int) offsets[i];
        }
        return new AttentionSpec(scale, causal, window, cu);
    }

    /** Throws naming {@code cuSeqlens} when documents are given and do not end at {@code seqLen}. */
    public void checkSequenceLength(long seqLen) {
        if (cuSeqlens != null && cuSeqlens[cuSeqlens.length - 1] != seqLen) {
            throw new IllegalArgumentException("cuSeqlens: must end at the sequence length " + seqLen
                    + ", got " + cuSeqlens[cuSeqlens.length - 1]);
        }
    }

    public float scale() {
        return scale;
    }

    public boolean causal() {
        return causal;
    }

    /** Window in tokens, or 0 when there is none. */
    public int window() {
        return window;
    }

    public boolean hasDocuments() {
        return cuSeqlens != null;
    }

    /** A copy of the document offsets, or null. */
    public long[] cuSeqlens() {
        if (cuSeqlens == null) {
            return null;
        }
        long[] out = new long[cuSeqlens.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = cuSeqlens[i];
        }
        return out;
    }

    /** True when no mask is set at all. */
    public boolean isUnmasked() {
        return !causal && window == 0 && cuSeqlens == null;
    }

    /** Document index of a global position (0 when there are no documents). */
    public int documentOf(int position) {
        if (cuSeqlens == null) {
            return 0;
        }
        int lo = 0;
        int hi = cuSeqlens.length - 1; // doc d spans [cu[d], cu[d+1])
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (cuSeqlens[mid] <= position) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** Document index of every position (all 0 without documents). */
    public int[] documentsOf(Positions positions) {
        int[] docs = new int[positions.size()];
        if (cuSeqlens != null) {
            for (int i = 0; i < docs.length; i++) {
                docs[i] = documentOf(positions.get(i));
            }
        }
        return docs;
    }

    /** Whether key position {@code j} (document {@code jDoc}) is visible to query {@code i}. */
    public boolean visible(int i, int iDoc, int j, int jDoc) {
        if (iDoc != jDoc) {
            return false;
        }
        if (causal) {
            return j <= i && (window == 0 || j > i - window);
        }
        return window == 0 || Math.abs((long) i - j) < window;
    }

    /**
     * Classifies the tile of queries with positions in {@code [qFirst, qLast]} (documents
     * {@code qFirstDoc..qLastDoc}) against keys in {@code [kFirst, kLast]} (documents
     * {@code kFirstDoc..kLastDoc}). Exact for contiguous positions and conservative (never wrong)
     * for others.
     */
    public TileVisibility classify(int qFirst, int qLast, int qFirstDoc, int qLastDoc,
                                   int kFirst, int kLast, int kFirstDoc, int kLastDoc) {
        if (kLastDoc < qFirstDoc || kFirstDoc > qLastDoc) {
            return TileVisibility.HIDDEN;
        }
        boolean full = qFirstDoc == qLastDoc && kFirstDoc == kLastDoc && qFirstDoc == kFirstDoc;
        long w = window;
        if (causal) {
            if (kFirst > qLast) {
                return TileVisibility.HIDDEN;
            }
            full &= kLast <= qFirst;
            if (window != 0) {
                if ((long) kLast <= qFirst - w) {
                    return TileVisibility.HIDDEN;
                }
                full &= (long) kFirst > qLast - w;
            }
        } else if (window != 0) {
            if ((long) kFirst - qLast >= w || (long) qFirst - kLast >= w) {
                return TileVisibility.HIDDEN;
            }
            full &= (long) kLast - qFirst < w && (long) qLast - kFirst < w;
        }
        return full ? TileVisibility.VISIBLE : TileVisibility.PARTIAL;
    }

    @Override
    public String toString() {
        return "AttentionSpec{scale=" + scale + ", causal=" + causal
                + (window != 0 ? ", window=" + window : "")
                + (cuSeqlens != null ? ", documents=" + (cuSeqlens.length - 1) : "") + "}";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AttentionSpec s && Float.compare(s.scale, scale) == 0 && s.causal == causal
                && s.window == window && Arrays.equals(s.cuSeqlens, cuSeqlens);
    }

    @Override
    public int hashCode() {
        return Float.hashCode(scale) * 31 + (causal ? 7 : 0) + window * 13 + Arrays.hashCode(cuSeqlens);
    }
}
