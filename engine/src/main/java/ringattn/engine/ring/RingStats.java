package ringattn.engine.ring;

import java.util.Arrays;

/**
 * Timing of one ring pass, per step: compute time, time spent waiting for transfers after the
 * compute (exposed communication), how long the step's transfers took from post to completion, and
 * bytes moved. Immutable. Times in nanoseconds.
 *
 * <p>The hidden fraction is {@code 1 − Σ exposed / Σ transfer}, with each step's exposed time capped
 * at its transfer time: the share of communication time that ran under compute. 1.0 when nothing
 * moved.
 */
public final class RingStats {
    private final long[] computeNanos;
    private final long[] waitNanos;
    private final long[] transferNanos;
    private final long[] bytes;
    private final long wallNanos;

    public RingStats(long[] computeNanos, long[] waitNanos, long[] transferNanos, long[] bytes, long wallNanos) {
        this.computeNanos = computeNanos.clone();
        this.waitNanos = waitNanos.clone();
        this.transferNanos = transferNanos.clone();
        this.bytes = bytes.clone();
        this.wallNanos = wallNanos;
    }

    /** Steps run (K/V blocks visited, including the local one). */
    public int steps() {
        return computeNanos.length;
    }

    public long computeNanos(int step) {
        return computeNanos[step];
    }

    public long waitNanos(int step) {
        return waitNanos[step];
    }

    /** How long the step's transfers took, post to completion. */
    public long transferNanos(int step) {
        return transferNanos[step];
    }

    public long bytes(int step) {
        return bytes[step];
    }

    public long totalComputeNanos() {
        return Arrays.stream(computeNanos).sum();
    }

    public long totalWaitNanos() {
        return Arrays.stream(waitNanos).sum();
    }

    public long totalBytes() {
        return Arrays.stream(bytes).sum();
    }

    /** Wall time of the whole pass, nanoseconds. */
    public long wallNanos() {
        return wallNanos;
    }

    public long totalTransferNanos() {
        return Arrays.stream(transferNanos).sum();
    }

    /** Fraction of communication time hidden behind compute, in [0, 1]. */
    public double hiddenFraction() {
        double transfer = 0;
        double exposed = 0;
        for (int s = 0; s < transferNanos.length; s++) {
            transfer += transferNanos[s];
            exposed += Math.min(transferNanos[s], waitNanos[s]);
        }
        return transfer <= 0 ? 1.0 : Math.max(0, 1 - exposed / transfer);
    }

    @Override
    public String toString() {
        return String.format("RingStats{steps=%d, compute=%.3f s, wait=%.3f s, bytes=%d, hidden=%.1f%%}",
                steps(), totalComputeNanos() / 1e9, totalWaitNanos() / 1e9, totalBytes(), 100 * hiddenFraction());
    }
}
