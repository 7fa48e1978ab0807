package ringattn.cli;

/**
 * The nominal FLOP counts every summary uses, so throughput reads the same in demo, run and bench:
 * 4·S²·D·H per forward pass (two matrix products of 2·S²·D per head), halved when causal; masks other
 * than causal (window, documents) are not discounted. A backward pass counts 2.5 forwards, as
 * FlashAttention counts it (five matrix products against the forward's two). Stateless.
 */
final class Flops {
    /** Backward FLOPs per forward FLOP. */
    static final double BACKWARD_FACTOR = 2.5;

    private Flops() {
    }

    /** Nominal FLOPs of one forward pass over {@code seqLen} tokens. */
    static double forward(int seqLen, int heads, int headDim, boolean causal) {
        double f = 4.0 * seqLen * (double) seqLen * headDim * heads;
        return causal ? f / 2 : f;
    }

    /** Nominal FLOPs of one backward pass: {@link #BACKWARD_FACTOR} forwards. */
    static double backward(int seqLen, int heads, int headDim, boolean causal) {
        return BACKWARD_FACTOR * forward(seqLen, heads, headDim, causal);
    }

    /** GFLOP/s of {@code flops} done in {@code seconds}; 0 when nothing was timed. */
    static double gflops(double flops, double seconds) {
        return seconds > 0 ? flops / seconds / 1e9 : 0;
    }

    /** The forward convention in words, for JSON ({@code 4*S^2*D*H/2 per forward pass}). */
    static String forwardConvention(boolean causal) {
        return "4*S^2*D*H" + (causal ? "/2" : "") + " per forward pass";
    }
}
