package ringattn.engine.kernel;

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
