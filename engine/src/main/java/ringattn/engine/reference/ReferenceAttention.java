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
        double[] out = new double[rows * heads * d];
        double[] lse = new double[heads * rows];
        int[] qDocs = spec.documentsOf(qPos);
        int[] kDocs = spec.documentsOf(kPos);
        IntStream.range(0, heads).parallel().forEach(h -> {
            int g = h / group;
            double[] s = new double[kRows];
            for (int i = 0; i < rows; i++) {
                double max = Double.NEGATIVE_INFINITY;
                boolean any = false;
                for (int j = 0; j < kRows; j++) {
                    if (!spec.visible(qPos.get(i), qDocs[i], kPos.get(j), kDocs[j])) {
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
                    if (spec.visible(qPos.get(i), qDocs[i], kPos.get(j), kDocs[j])) {
                        sum += Math.exp(s[j] - max);
                    }
                }
                for (int j = 0; j < kRows; j++) {
                    if (!spec.visible(qPos.get(i), qDocs[i], kPos.get(j), kDocs[j])) {
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
        int rows = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        int kRows = k.tokens();
        int kvHeads = k.heads();
        int group = heads / kvHeads;
        Positions qPos = Positions.range(0, rows);
        Positions kPos = Positions.range(0, kRows);
        int[] qDocs = spec.documentsOf(qPos);
        int[] kDocs = spec.documentsOf(kPos);
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
                        if (!spec.visible(qPos.get(i), qDocs[i], kPos.get(j), kDocs[j])) {
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
                        if (spec.visible(qPos.get(i), qDocs[i], kPos.get(j), kDocs[j])) {
                            p[j] = Math.exp(p[j] - max);
                            sum += p[j];
                        }
                    }
                    double rowTerm = 0; // rowsum(P ∘ dP) = rowsum(dO ∘ O)
                    for (int j = 0; j < kRows; j++) {
                        if (!spec.visible(qPos.get(i), qDocs[i], kPos.get(j), kDocs[j])) {
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
}
