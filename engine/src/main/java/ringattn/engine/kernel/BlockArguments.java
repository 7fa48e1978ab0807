package ringattn.engine.kernel;

import java.lang.foreign.MemorySegment;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The argument checks every {@link BlockKernel} makes before touching memory, so that bad input
 * fails the same way (an exception naming the argument and the values) on every device. Stateless.
 */
public final class BlockArguments {
    private BlockArguments() {
    }

    /**
     * Checks a K/V block against queries {@code q}; returns the GQA group size (query heads per
     * K/V head).
     */
    public static int checkBlock(Tensor q, Tensor k, Tensor v, Positions kPositions, AttentionSpec spec) {
        if (k == null || v == null) {
            throw new IllegalArgumentException((k == null ? "k" : "v") + ": must not be null");
        }
        if (spec == null) {
            throw new IllegalArgumentException("spec: must not be null");
        }
        q.checkOpen("q");
        k.checkOpen("k");
        v.checkOpen("v");
        if (k.headDim() != q.headDim()) {
            throw new IllegalArgumentException("k: headDim " + k.headDim() + " differs from q's " + q.headDim());
        }
        if (v.tokens() != k.tokens() || v.heads() != k.heads() || v.headDim() != k.headDim()
                || v.dtype() != k.dtype()) {
            throw new IllegalArgumentException("v: " + v.shapeString() + " differs from k " + k.shapeString());
        }
        if (q.heads() % k.heads() != 0) {
            throw new IllegalArgumentException("k: query heads " + q.heads() + " are not a multiple of K/V heads "
                    + k.heads());
        }
        if (kPositions == null || kPositions.size() != k.tokens()) {
            throw new IllegalArgumentException("kPositions: " + (kPositions == null ? "null" : kPositions.size())
                    + " positions for " + k.tokens() + " key tokens");
        }
        return q.heads() / k.heads();
    }

    /** Checks the queries a pass begins with: open, one position per row, a spec. */
    public static void checkQueries(Tensor q, Positions qPositions, AttentionSpec spec) {
        if (q == null) {
            throw new IllegalArgumentException("q: must not be null");
        }
        q.checkOpen("q");
        if (qPositions == null || qPositions.size() != q.tokens()) {
            throw new IllegalArgumentException("qPositions: " + (qPositions == null ? "null" : qPositions.size())
                    + " positions for " + q.tokens() + " query tokens");
        }
        if (spec == null) {
            throw new IllegalArgumentException("spec: must not be null");
        }
    }

    /** Checks a tensor that must be shaped like the queries (a pass's {@code out} or {@code dq}): open, same shape. */
    public static void checkLikeQueries(String name, Tensor t, Tensor q) {
        if (t == null) {
            throw new IllegalArgumentException(name + ": must not be null");
        }
        t.checkOpen(name);
        if (t.tokens() != q.tokens() || t.heads() != q.heads() || t.headDim() != q.headDim()) {
            throw new IllegalArgumentException(name + ": shape " + t.shapeString() + " differs from q " + q.shapeString());
        }
    }

    /** Checks an LSE output for the queries {@code q} (may be null): fp32 {@code [heads, rows]} fits. */
    public static void checkLse(MemorySegment lse, Tensor q) {
        long bytes = 4L * q.tokens() * q.heads();
        if (lse != null && lse.byteSize() < bytes) {
            throw new IllegalArgumentException("lse: " + lse.byteSize() + " bytes, needs " + bytes);
        }
    }

    /** Checks a gradient accumulator: open, F32, shaped like {@code k}. */
    public static void checkGrad(String name, Tensor grad, Tensor k) {
        if (grad == null) {
            throw new IllegalArgumentException(name + ": must not be null");
        }
        grad.checkOpen(name);
        if (grad.dtype() != DType.F32 || grad.tokens() != k.tokens() || grad.heads() != k.heads()
                || grad.headDim() != k.headDim()) {
            throw new IllegalArgumentException(name + ": must be F32 shaped like k " + k.shapeString()
                    + ", got " + grad.shapeString());
        }
    }
}
