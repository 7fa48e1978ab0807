package ringattn.engine.reference;

import java.util.stream.IntStream;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.Tensor;

/**
 * Plain attention in fp64: materialised scores, an explicit softmax, explicit gradients. Inputs are
 * read as their stored values (BF16 widened exactly), so a test compares a kernel with the reference
 * on the same rounded inputs. Stateless and thread-safe; parallel over heads.
 *
 * <p>The mask is evaluated here from the rules {@link AttentionSpec} documents (its scale, causal
 * flag, window and document offsets are read as data), not through {@link AttentionSpec#visible}
 * or {@link AttentionSpec#documentOf}, which the kernels use: an error in those shows up as a
 * difference from this reference instead of being shared by both sides.
 *
 * <p>NaN and infinities propagate as IEEE arithmetic says: a NaN in a visible score makes that row's
 * output and LSE NaN; a +∞ score gives NaN (∞ − ∞); masked keys are never read. Rows that see no
 * key get O = 0 and LSE = −∞. Kernels follow the same rules.
 */
public final class ReferenceAttention {
    private ReferenceAttention() {
    }

    /**
     * Forward result.
     *
     * @param out {@code [rows, heads, headDim]} row-major
     * @param lse {@code [heads, rows]}, natural log; −∞ for rows that see no key
     */
    public record Result(double[] out, double[] lse, int rows, int heads, int headDim) {
        public double out(int row, int head, int dim) {
            return out[((row * heads) + head) * headDim + dim];
        }

        public double lse(int head, int row) {
            return lse[head * rows + row];
        }
    }

    /** Gradients, each row-major in the shape of Q, K and V respectively. */
    public record Grads(double[] dq, double[] dk, double[] dv) {
    }

    /** Full self-attention over positions {@code 0..S-1}. */
    public static Result forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        return forward(q, Positions.range(0, q.tokens()), k, v, Positions.range(0, k.tokens()), spec);
    }

    /** Attention of queries at {@code qPos} over keys at {@code kPos}. */
    public static Result forward(Tensor q, Positions qPos, Tensor k, Tensor v, Positions kPos, AttentionSpec spec) {
        int rows = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        int kRows = k.tokens();
        int group = heads / k.heads();
        Mask mask = Mask.of(spec, qPos, kPos);
        double[] out = new double[rows * heads * d];
        double[] lse = new double[heads * rows];
        IntStream.range(0, heads).parallel().forEach(h -> {
            int g = h / group;
            double[] s = new double[kRows];
            for (int i = 0; i < rows; i++) {
                double max = Double.NEGATIVE_INFINITY;
                boolean any = false;
                for (int j = 0; j < kRows; j++) {
                    if (!mask.sees(i, j)) {
                        s[j] = Double.NaN;
                        continue;
                    }
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) q.get(i, h, c) * k.get(j, g, c);
                    }
                    s[j] = dot * spec.scale();
                    any = true;
                    max = Math.max(max, s[j]);
                    if (Double.isNaN(s[j])) {
                        max = Double.NaN;
                    }
                }
                if (!any) {
                    lse[h * rows + i] = Double.NEGATIVE_INFINITY;
                    continue;
                }
                double sum = 0;
                for (int j = 0; j < kRows; j++) {
                    if (mask.sees(i, j)) {
                        sum += Math.exp(s[j] - max);
                    }
                }
                for (int j = 0; j < kRows; j++) {
                    if (!mask.sees(i, j)) {
                        continue;
                    }
                    double p = Math.exp(s[j] - max) / sum;
                    for (int c = 0; c < d; c++) {
                        out[(i * heads + h) * d + c] += p * v.get(j, g, c);
                    }
                }
                lse[h * rows + i] = max + Math.log(sum);
            }
        });
        return new Result(out, lse, rows, heads, d);
    }

    /** Gradients of full self-attention over positions {@code 0..S-1} for upstream gradient {@code dOut}. */
    public static Grads backward(Tensor q, Tensor k, Tensor v, Tensor dOut, AttentionSpec spec) {
        return backward(q, Positions.range(0, q.tokens()), k, v, Positions.range(0, k.tokens()), dOut, spec);
    }

    /**
     * Gradients of the attention of queries at {@code qPos} over keys at {@code kPos} for upstream
     * gradient {@code dOut} (shaped like Q).
     */
    public static Grads backward(Tensor q, Positions qPos, Tensor k, Tensor v, Positions kPos, Tensor dOut,
                                 AttentionSpec spec) {
        int rows = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        int kRows = k.tokens();
        int kvHeads = k.heads();
        int group = heads / kvHeads;
        Mask mask = Mask.of(spec, qPos, kPos);
        double[] dq = new double[rows * heads * d];
        double[] dk = new double[kRows * kvHeads * d];
        double[] dv = new double[kRows * kvHeads * d];
        double scale = spec.scale();
        // Parallel over K/V heads: each owns its dK/dV rows and the dQ of its query heads.
        IntStream.range(0, kvHeads).parallel().forEach(g -> {
            double[] p = new double[kRows];
            double[] dp = new double[kRows];
            for (int h = g * group; h < (g + 1) * group; h++) {
                for (int i = 0; i < rows; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    boolean any = false;
                    for (int j = 0; j < kRows; j++) {
                        p[j] = 0;
                        if (!mask.sees(i, j)) {
                            continue;
                        }
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) q.get(i, h, c) * k.get(j, g, c);
                        }
                        p[j] = dot * scale;
                        max = any ? Math.max(max, p[j]) : p[j];
                        any = true;
                    }
                    if (!any) {
                        continue;
                    }
                    double sum = 0;
                    for (int j = 0; j < kRows; j++) {
                        if (mask.sees(i, j)) {
                            p[j] = Math.exp(p[j] - max);
                            sum += p[j];
                        }
                    }
                    double rowTerm = 0; // rowsum(P ∘ dP) = rowsum(dO ∘ O)
                    for (int j = 0; j < kRows; j++) {
                        if (!mask.sees(i, j)) {
                            dp[j] = 0;
                            continue;
                        }
                        p[j] /= sum;
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) dOut.get(i, h, c) * v.get(j, g, c);
                        }
                        dp[j] = dot;
                        rowTerm += p[j] * dot;
                    }
                    for (int j = 0; j < kRows; j++) {
                        if (p[j] == 0) {
                            continue;
                        }
                        double ds = p[j] * (dp[j] - rowTerm) * scale;
                        for (int c = 0; c < d; c++) {
                            dv[(j * kvHeads + g) * d + c] += p[j] * dOut.get(i, h, c);
                            dk[(j * kvHeads + g) * d + c] += ds * q.get(i, h, c);
                            dq[(i * heads + h) * d + c] += ds * k.get(j, g, c);
                        }
                    }
                }
            }
        });
        return new Grads(dq, dk, dv);
    }

    /**
     * The mask between query rows and key rows, written from the rules in {@link AttentionSpec}'s
     * documentation: same document; causal: the key is not after the query; window W: with causal
     * the key is less than W tokens behind, without it less than W tokens away either side.
     */
    private record Mask(int[] qPos, int[] qDoc, int[] kPos, int[] kDoc, boolean causal, long window) {
        static Mask of(AttentionSpec spec, Positions qPos, Positions kPos) {
            long[] cu = spec.cuSeqlens();
            return new Mask(qPos.toArray(), documents("qPos", qPos, cu), kPos.toArray(), documents("kPos", kPos, cu),
                    spec.causal(), spec.window());
        }

        boolean sees(int row, int key) {
            if (qDoc[row] != kDoc[key]) {
                return false;
            }
            long behind = (long) qPos[row] - kPos[key]; // how far the key lies before the query
            if (causal && behind < 0) {
                return false;
            }
            return window == 0 || Math.abs(behind) < window;
        }

        /**
         * Document of each position: how many documents end at or before it (document d holds
         * positions {@code [cu[d], cu[d+1])}); all 0 without documents.
         */
        private static int[] documents(String what, Positions positions, long[] cu) {
            int[] docs = new int[positions.size()];
            if (cu == null) {
                return docs;
            }
            for (int i = 0; i < docs.length; i++) {
                int p = positions.get(i);
                if (p >= cu[cu.length - 1]) {
                    throw new IllegalArgumentException(what + "[" + i + "]: position " + p
                            + " lies past the last document, which ends at " + cu[cu.length - 1]);
                }
                for (int end = 1; end < cu.length && cu[end] <= p; end++) {
                    docs[i]++;
                }
            }
            return docs;
        }
    }
}
