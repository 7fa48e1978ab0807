package ringattn.cli;

import java.util.ArrayList;
import java.util.List;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.ring.ForwardResult;
import ringattn.engine.ring.RingAttention;
import ringattn.engine.ring.RingOptions;
import ringattn.engine.ring.RingStats;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.RingTransport;
import ringattn.io.HeapHighWater;
import ringattn.io.PeakMemory;

/**
 * One rank of a demo: generates its shard of the seeded inputs, runs the forward ring, then checks
 * the rows of {@link DemoInputs#checkedRows} that it holds against the fp64 reference (the whole
 * sequence of K and V is regenerated for that, after the peak memory was read). The same code runs
 * on a thread ({@code --transport local}) and in a worker process over UCX. Stateless.
 */
public final class DemoRank {
    private DemoRank() {
    }

    /** Runs rank {@code transport.rank()} of {@code job}; collective over the transport. */
    public static RankReport run(DemoJob job, RingTransport transport) {
        return run(job, transport, RingProgress.none());
    }

    /** As {@link #run(DemoJob, RingTransport)}, telling {@code progress} of every pass and ring step. */
    static RankReport run(DemoJob job, RingTransport transport, RingProgress progress) {
        int rank = transport.rank();
        RingOptions options = job.ringOptions();
        Positions mine = options.layout().positions(rank, job.ranks(), job.seqLen());
        Devices.Selection device = Devices.select(job.device(), KernelOptions.defaults(job.threads()));
        try (BlockKernel kernel = progress.wrap(device.kernel());
             Tensor q = DemoInputs.rows(job.seed(), DemoInputs.Q, mine, job.heads(), job.headDim(), job.dtype());
             Tensor k = DemoInputs.rows(job.seed(), DemoInputs.K, mine, job.kvHeads(), job.headDim(), job.dtype());
             Tensor v = DemoInputs.rows(job.seed(), DemoInputs.V, mine, job.kvHeads(), job.headDim(), job.dtype());
             RingAttention ring = new RingAttention(transport, kernel, options)) {
            crashIfAsked(rank);
            ForwardResult fwd = null;
            RingStats best = null;
            try {
                for (int i = 0; i < job.repeats(); i++) {
                    if (fwd != null) {
                        fwd.close();
                    }
                    transport.barrier(options.timeout());
                    progress.startPass("forward", i + 1, job.repeats(), 1);
                    fwd = ring.forward(q, k, v, job.seqLen());
                    if (best == null || fwd.stats().wallNanos() < best.wallNanos()) {
                        best = fwd.stats();
                    }
                }
                long peak = PeakMemory.highWaterBytes();
                long heapPeak = HeapHighWater.bytes();
                double[] err = check(job, mine, q, fwd);
                return new RankReport(rank, ProcessHandle.current().pid(), transport.host(), best.wallNanos(), 0,
                        best.totalComputeNanos(), best.totalBytes(), best.hiddenFraction(), peak, heapPeak, err[0], err[1],
                        (int) err[2], device.device());
            } finally {
                if (fwd != null) {
                    fwd.close();
                }
            }
        }
    }

    /**
     * Failure drill for tests and operators: when the environment variable
     * {@code RINGATTN_CRASH_RANK} names this rank, the process halts at once (exit 70, no cleanup),
     * as a crashed node would, just before the forward pass. Ignored on the in-JVM transport.
     */
    static void crashIfAsked(int rank) {
        String crash = System.getenv("RINGATTN_CRASH_RANK");
        if (crash != null && crash.trim().equals(Integer.toString(rank)) && ProcessHandle.current().parent().isPresent()
                && System.getenv("RINGATTN_RANK") != null) {
            System.err.println("rank " + rank + ": RINGATTN_CRASH_RANK=" + rank + ", halting");
            System.err.flush();
            Runtime.getRuntime().halt(70);
        }
    }

    /** {max |ΔO|, max |ΔLSE|, rows} over this rank's checked rows. */
    private static double[] check(DemoJob job, Positions mine, Tensor q, ForwardResult fwd) {
        int[] checked = job.checkedRows();
        List<Integer> local = new ArrayList<>();
        List<Integer> global = new ArrayList<>();
        int j = 0;
        for (int i = 0; i < mine.size(); i++) {
            int p = mine.get(i);
            while (j < checked.length && checked[j] < p) {
                j++;
            }
            if (j < checked.length && checked[j] == p) {
                local.add(i);
                global.add(p);
            }
        }
        if (local.isEmpty()) {
            return new double[] {0, 0, 0};
        }
        Positions qPos = Positions.of(global.stream().mapToInt(Integer::intValue).toArray());
        try (Tensor qs = Tensor.allocate(local.size(), job.heads(), job.headDim(), job.dtype())) {
            for (int r = 0; r < local.size(); r++) {
                qs.tokens(r, 1).copyFrom(q.tokens(local.get(r), 1));
            }
            double[][] ref = reference(job, qs, qPos, REFERENCE_CHUNK);
            double[] refOut = ref[0];
            double[] refLse = ref[1];
            int rows = local.size();
            double errOut = 0;
            double errLse = 0;
            for (int r = 0; r < rows; r++) {
                int row = local.get(r);
                for (int h = 0; h < job.heads(); h++) {
                    double wantLse = refLse[h * rows + r];
                    double gotLse = fwd.lse(h, row);
                    if (!(Double.isInfinite(wantLse) && wantLse == gotLse)) {
                        errLse = maxErr(errLse, gotLse - wantLse);
                    }
                    for (int d = 0; d < job.headDim(); d++) {
                        double want = refOut[(r * job.heads() + h) * job.headDim() + d];
                        errOut = maxErr(errOut, fwd.out().get(row, h, d) - want);
                    }
                }
            }
            return new double[] {errOut, errLse, rows};
        }
    }

    /** Keys per chunk of the reference computation (bounds its memory independently of S). */
    static final int REFERENCE_CHUNK = 4096;

    /**
     * The fp64 reference O ({@code [rows, heads, headDim]}) and LSE ({@code [heads, rows]}) of the
     * queries {@code qs} at {@code qPos} over the whole sequence, computed chunk by chunk of
     * {@code chunk} keys with {@link ReferenceAttention} and merged exactly in fp64
     * (O = Σ_c e^(LSE_c − LSE) O_c, LSE = log Σ_c e^(LSE_c)); chunks no query can see are skipped, so
     * memory stays bounded for any S.
     */
    static double[][] reference(DemoJob job, Tensor qs, Positions qPos, int chunk) {
        AttentionSpec spec = job.spec();
        int rows = qs.tokens();
        int heads = job.heads();
        int d = job.headDim();
        double[] out = new double[rows * heads * d];
        double[] lse = new double[heads * rows];
        java.util.Arrays.fill(lse, Double.NEGATIVE_INFINITY);
        int lastQuery = qPos.last();
        int firstQuery = qPos.first();
        for (int start = 0; start < job.seqLen(); start += chunk) {
            int count = Math.min(chunk, job.seqLen() - start);
            if (spec.causal() && start > lastQuery) {
                break; // no query sees later keys
            }
            if (spec.window() > 0 && start + count - 1 <= firstQuery - spec.window()) {
                continue; // entirely before every query's window
            }
            if (spec.window() > 0 && !spec.causal() && start >= lastQuery + spec.window()) {
                break; // entirely after every query's window
            }
            Positions kPos = Positions.range(start, count);
            try (Tensor k = DemoInputs.rows(job.seed(), DemoInputs.K, kPos, job.kvHeads(), d, job.dtype());
                 Tensor v = DemoInputs.rows(job.seed(), DemoInputs.V, kPos, job.kvHeads(), d, job.dtype())) {
                ReferenceAttention.Result part = ReferenceAttention.forward(qs, qPos, k, v, kPos, spec);
                for (int h = 0; h < heads; h++) {
                    for (int r = 0; r < rows; r++) {
                        double a = lse[h * rows + r];
                        double b = part.lse(h, r);
                        if (b == Double.NEGATIVE_INFINITY) {
                            continue; // this chunk is masked for the row
                        }
                        double m = Math.max(a, b);
                        double merged = m + Math.log(Math.exp(a - m) + Math.exp(b - m));
                        double wa = Math.exp(a - merged);
                        double wb = Math.exp(b - merged);
                        int base = (r * heads + h) * d;
                        for (int c = 0; c < d; c++) {
                            out[base + c] = wa * out[base + c] + wb * part.out(r, h, c);
                        }
                        lse[h * rows + r] = merged;
                    }
                }
            }
        }
        return new double[][] {out, lse};
    }

    /** The larger error; NaN wins (a NaN must not hide as 0). */
    static double maxErr(double current, double diff) {
        double a = Math.abs(diff);
        return Double.isNaN(a) || Double.isNaN(current) ? Double.NaN : Math.max(current, a);
    }
}
