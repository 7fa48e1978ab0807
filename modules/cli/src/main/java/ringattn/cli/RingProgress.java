package ringattn.cli;

import java.lang.foreign.MemorySegment;
import java.util.Locale;
import java.util.function.LongSupplier;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.Tensor;

/**
 * Where one rank's ring passes stand, told to a {@link Progress}: the pass, its ring step, the keys
 * this rank has attended to in the pass, the time elapsed and an estimate of the time left, e.g.
 * {@code demo: forward pass 2/3, ring step 3/4, 12288/16384 keys, 14.2 s elapsed, about 9 s left}.
 * The steps are counted by a kernel wrapped with {@link #wrap}: one kernel call per ring step. The
 * estimate weighs every key of a pass by the pass's weight (a backward counts 2.5 forwards, as in
 * {@link Flops}) and assumes the pace so far. Thread-safe (methods synchronize); one rank reports.
 */
final class RingProgress {
    private final Progress progress;
    private final LongSupplier nanoClock;
    private final String job;
    private final int seqLen;
    private final int ringSteps;
    private final double totalWork;
    private double doneWork;
    private long startNanos = -1;
    private String pass = "";
    private int passIndex;
    private int passCount;
    private double passWeight;
    private int step;
    private long keys;

    /**
     * @param progress  where the text goes
     * @param nanoClock time source, nanoseconds
     * @param job       the job's name, first in the text
     * @param seqLen    S: the keys of a whole pass
     * @param ringSteps ring steps of a pass, or 0 when not known beforehand (a window ends passes early)
     * @param totalWork the job's passes, each weighted (3 forwards: 3; a forward and a backward: 3.5)
     */
    RingProgress(Progress progress, LongSupplier nanoClock, String job, int seqLen, int ringSteps, double totalWork) {
        this.progress = progress;
        this.nanoClock = nanoClock;
        this.job = job;
        this.seqLen = seqLen;
        this.ringSteps = ringSteps;
        this.totalWork = totalWork;
    }

    /** Reports nothing. */
    static RingProgress none() {
        return new RingProgress(Progress.off(), System::nanoTime, "", 1, 0, 1);
    }

    /** Ring steps per pass of a job on {@code ranks} ranks: all of them without a window, else unknown (0). */
    static int ringSteps(int ranks, int window) {
        return window > 0 ? 0 : ranks;
    }

    /** Pass {@code index} of {@code count} (from 1) named {@code name}, of weight {@code weight}, starts. */
    synchronized void startPass(String name, int index, int count, double weight) {
        if (startNanos < 0) {
            startNanos = nanoClock.getAsLong();
        }
        pass = name;
        passIndex = index;
        passCount = count;
        passWeight = weight;
        step = 0;
        keys = 0;
    }

    /** One ring step of the current pass done: {@code kvTokens} more keys. */
    synchronized void stepDone(int kvTokens) {
        step++;
        keys += kvTokens;
        doneWork += passWeight * kvTokens / (double) seqLen;
        progress.phase(text());
    }

    /** Ring steps done in the current pass. */
    synchronized int steps() {
        return step;
    }

    /** The current text. */
    synchronized String text() {
        double elapsed = startNanos < 0 ? 0 : (nanoClock.getAsLong() - startNanos) / 1e9;
        StringBuilder b = new StringBuilder(job).append(": ").append(pass).append(" pass");
        if (passCount > 1) {
            b.append(' ').append(passIndex).append('/').append(passCount);
        }
        b.append(", ring step ").append(step);
        if (ringSteps > 0) {
            b.append('/').append(ringSteps);
        }
        b.append(", ").append(keys).append('/').append(seqLen).append(" keys, ")
                .append(String.format(Locale.ROOT, "%.1f s elapsed", elapsed));
        if (doneWork > 0 && doneWork < totalWork) {
            b.append(String.format(Locale.ROOT, ", about %.0f s left", elapsed * (totalWork - doneWork) / doneWork));
        }
        return b.toString();
    }

    /** {@code kernel}, counting each update of a pass as a ring step done. Closing the wrapper closes {@code kernel}. */
    BlockKernel wrap(BlockKernel kernel) {
        return new BlockKernel() {
            @Override
            public String name() {
                return kernel.name();
            }

            @Override
            public int threads() {
                return kernel.threads();
            }

            @Override
            public ForwardPass beginForward(Tensor q, Positions qPositions, AttentionSpec spec) {
                ForwardPass pass = kernel.beginForward(q, qPositions, spec);
                return new ForwardPass() {
                    @Override
                    public void update(Tensor k, Tensor v, Positions kPositions) {
                        pass.update(k, v, kPositions);
                        stepDone(kPositions.size());
                    }

                    @Override
                    public void finish(Tensor out, MemorySegment lse) {
                        pass.finish(out, lse);
                    }

                    @Override
                    public void close() {
                        pass.close();
                    }
                };
            }

            @Override
            public BackwardPass beginBackward(Tensor q, Positions qPositions, Tensor out, Tensor dOut,
                                              MemorySegment lse, AttentionSpec spec) {
                BackwardPass pass = kernel.beginBackward(q, qPositions, out, dOut, lse, spec);
                return new BackwardPass() {
                    @Override
                    public void update(Tensor k, Tensor v, Positions kPositions, Tensor dK, Tensor dV) {
                        pass.update(k, v, kPositions, dK, dV);
                        stepDone(kPositions.size());
                    }

                    @Override
                    public void finish(Tensor dq) {
                        pass.finish(dq);
                    }

                    @Override
                    public void close() {
                        pass.close();
                    }
                };
            }

            @Override
            public void close() {
                kernel.close();
            }
        };
    }
}
