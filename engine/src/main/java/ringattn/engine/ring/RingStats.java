package ringattn.engine.ring;

import java.util.Arrays;

/**
 * Timing of one ring pass, per step: compute time, time spent waiting for transfers after the
 * compute (exposed communication), and bytes moved. Immutable.
 *
 * <p>The hidden fraction is {@code 1 − Σ exposed / Σ transfer}, where a step's transfer time is its
 * bytes times the per-byte time measured by one un-overlapped calibration transfer at the start of
 * the pass (and exposed time is capped at that transfer time). 1.0 when nothing moved.
 */
public final class RingStats {
    private final long[] computeNanos;
    private final long[] waitNanos;
    private final long[] bytes;
    private final double nanosPerByte;
    private final long wallNanos;

    public RingStats(long[] computeNanos, long[] waitNanos, long[] bytes, double nanosPerByte, long wallNanos) {
        this.computeNanos = computeNanos.clone();
        this.waitNanos = waitNanos.clone();
        this.bytes = bytes.clone();
        this.nanosPerByte = nanosPerByte;
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

    /** Measured un-overlapped transfer cost, nanoseconds per byte (0 when nothing was measured). */
    public double nanosPerByte() {
        return nanosPerByte;
    }

    /** Fraction of communication time hidden behind compute, in [0, 1]. */
    public double hiddenFraction() {
        double transfer = 0;
        double exposed = 0;
        for (int s = 0; s < bytes.length; s++) {
            double t = bytes[s] * nanosPerByte;
            transfer += t;
            exposed += Math.min(t, waitNanos[s]);
        }
        return transfer <= 0 ? 1.0 : Math.max(0, 1 - exposed / transfer);
    }

    @Override
    public String toString() {
        return String.format("RingStats{steps=%d, compute=%.3f s, wait=%.3f s, bytes=%d, hidden=%.1f%%}",
                steps(), totalComputeNanos() / 1e9, totalWaitNanos() / 1e9, totalBytes(), 100 * hiddenFraction());
    }
}
