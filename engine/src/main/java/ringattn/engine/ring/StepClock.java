package ringattn.engine.ring;

/**
 * The timing and traffic of one ring pass, step by step, from which it makes the pass's
 * {@link RingStats}. The loop says which step it is at ({@link #at}); compute, waits and bytes
 * count to that step, a transfer to the step that posted it. Times in nanoseconds of
 * {@link System#nanoTime()}, bytes in bytes.
 *
 * <p>A step's transfer time is the time during which some transfer it posted was in flight, from
 * post to completion, overlaps counted once (transfers must be reported in the order they were
 * posted, as the channels do). Owned by one pass; not thread-safe.
 */
final class StepClock {
    private final long startNanos;
    private final long[] computeNanos;
    private final long[] waitNanos;
    private final long[] transferNanos;
    private final long[] bytes;
    /** Per step, when the last transfer counted so far completed. */
    private final long[] countedUntil;
    private int step;

    /** A clock for {@code steps} steps of a pass that began at {@code startNanos}. */
    StepClock(int steps, long startNanos) {
        this.startNanos = startNanos;
        this.computeNanos = new long[steps];
        this.waitNanos = new long[steps];
        this.transferNanos = new long[steps];
        this.bytes = new long[steps];
        this.countedUntil = new long[steps];
        java.util.Arrays.fill(countedUntil, Long.MIN_VALUE);
    }

    /** From now on, compute, waits and posts count to {@code step}. */
    void at(int step) {
        this.step = step;
    }

    /** The step now counting. */
    int step() {
        return step;
    }

    /** Runs {@code work} and counts its time as compute. */
    void compute(Runnable work) {
        long t0 = System.nanoTime();
        work.run();
        computeNanos[step] += System.nanoTime() - t0;
    }

    /** Counts {@code nanos} spent waiting for transfers. */
    void waited(long nanos) {
        waitNanos[step] += nanos;
    }

    /** Counts {@code n} bytes moved. */
    void addBytes(long n) {
        bytes[step] += n;
    }

    /** A transfer that {@code postedStep} posted at {@code postedNanos} completed at {@code doneNanos}. */
    void transferred(int postedStep, long postedNanos, long doneNanos) {
        long from = Math.max(postedNanos, countedUntil[postedStep]);
        if (doneNanos > from) {
            transferNanos[postedStep] += doneNanos - from;
            countedUntil[postedStep] = doneNanos;
        }
    }

    /** The stats of the pass, its wall time ending now. */
    RingStats stats() {
        return new RingStats(computeNanos, waitNanos, transferNanos, bytes, System.nanoTime() - startNanos);
    }
}
