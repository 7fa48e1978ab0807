package ringattn.engine.ring;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.testing.TestTensors;
import ringattn.engine.transport.InJvmRing;

/**
 * The ring's ways round over a transport that moves data one way only or both ways: where the dK/dV
 * accumulators go home (relayed on round the ring, or turned round), the same bits whichever way
 * they go, the bytes every step counts, and message tags that a rank never reuses and every rank
 * takes in the same order. Contiguous shards of 100 tokens.
 */
@Timeout(120)
class RingPathsTest {
    private static final double FWD_TOL = 2e-5;
    private static final double BWD_TOL = 1e-4;
    private static final int SHARD = 100;

    /** One rank's last pass (O, LSE, dQ, dK, dV bytes), its stats and every tag it sent. */
    private record RankRun(List<byte[]> results, RingStats forward, RingStats backward,
                           List<Integer> tagsToNext, List<Integer> tagsToPrevious) {
    }

    /** Global inputs of {@code world} shards, and the outputs gathered from the ranks. */
    private record Job(int world, AttentionSpec spec, Tensor q, Tensor k, Tensor v, Tensor dO,
                       Tensor out, Tensor dq, Tensor dk, Tensor dv) implements AutoCloseable {
        static Job of(int world, AttentionSpec spec) {
            int s = world * SHARD;
            return new Job(world, spec, TestTensors.normal(1, s, 2, 8, DType.F32), TestTensors.normal(2, s, 1, 8, DType.F32),
                    TestTensors.normal(3, s, 1, 8, DType.F32), TestTensors.normal(4, s, 2, 8, DType.F32),
                    Tensor.allocate(s, 2, 8, DType.F32), Tensor.allocate(s, 2, 8, DType.F32),
                    Tensor.allocate(s, 1, 8, DType.F32), Tensor.allocate(s, 1, 8, DType.F32));
        }

        @Override
        public void close() {
            for (Tensor t : new Tensor[] {q, k, v, dO, out, dq, dk, dv}) {
                t.close();
            }
        }
    }

    /** Runs {@code passes} forward and backward passes on every rank; the last one's outputs go to the job. */
    private static List<RankRun> run(Job job, boolean reverse, int passes) {
        ShardLayout layout = ShardLayout.CONTIGUOUS;
        RingOptions options = new RingOptions(job.spec(), layout, Duration.ofSeconds(30));
        int world = job.world();
        return InJvmRing.run(world, options.timeout(), inner -> {
            RecordingTransport t = new RecordingTransport(inner, reverse);
            int rank = t.rank();
            try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1)).kernel();
                 RingAttention ring = new RingAttention(t, kernel, options);
                 Tensor qs = layout.shard(job.q(), rank, world);
                 Tensor ks = layout.shard(job.k(), rank, world);
                 Tensor vs = layout.shard(job.v(), rank, world);
                 Tensor dos = layout.shard(job.dO(), rank, world)) {
                RankRun last = null;
                for (int p = 0; p < passes; p++) {
                    try (ForwardResult f = ring.forward(qs, ks, vs, world * SHARD);
                         Gradients g = ring.backward(qs, ks, vs, f, dos, world * SHARD)) {
                        last = new RankRun(List.of(bytes(f.out().segment()), bytes(f.lse()), bytes(g.dq().segment()),
                                bytes(g.dk().segment()), bytes(g.dv().segment())), f.stats(), g.stats(), t.tagsToNext, t.tagsToPrevious);
                        if (p == passes - 1) {
                            layout.unshard(f.out(), rank, world, job.out());
                            layout.unshard(g.dq(), rank, world, job.dq());
                            layout.unshard(g.dk(), rank, world, job.dk());
                            layout.unshard(g.dv(), rank, world, job.dv());
                        }
                    }
                }
                return last;
            }
        });
    }

    private static byte[] bytes(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_BYTE);
    }

    private static void assertMatchesReference(Job job) {
        ReferenceAttention.Result ref = ReferenceAttention.forward(job.q(), job.k(), job.v(), job.spec());
        ReferenceAttention.Grads grads = ReferenceAttention.backward(job.q(), job.k(), job.v(), job.dO(), job.spec());
        assertTrue(TestTensors.maxAbsError(job.out(), ref.out()) <= FWD_TOL, "O");
        assertTrue(TestTensors.maxRelError(job.dq(), grads.dq()) <= BWD_TOL, "dQ");
        assertTrue(TestTensors.maxRelError(job.dk(), grads.dk()) <= BWD_TOL, "dK");
        assertTrue(TestTensors.maxRelError(job.dv(), grads.dv()) <= BWD_TOL, "dV");
    }

    /**
     * Causal window of 10 tokens on P = 8: each block is seen by its owner and the next rank, which
     * sees its last 9 rows: only those travel (rank 7's block, behind rank 0, not at all). Both ways,
     * the next rank's accumulator turns round (one hop home); one way, it is relayed on round the
     * ring (7 hops), and every hop counts. The summation order is the same, so are the bits.
     */
    @Test
    void accumulatorsGoHomeEitherWayWithTheSameBits() {
        long tail = 2L * 9 * 8 * 4; // K and V of a block's last 9 rows (fp32), or their dK and dV
        try (Job job = Job.of(8, AttentionSpec.of(8).withCausal(true).withWindow(10))) {
            List<RankRun> twoWay = run(job, true, 1);
            List<RankRun> oneWay = run(job, false, 1);
            assertMatchesReference(job);
            for (int r = 0; r < 8; r++) {
                for (int i = 0; i < 5; i++) {
                    assertArrayEquals(twoWay.get(r).results().get(i), oneWay.get(r).results().get(i), "rank " + r + " output " + i);
                }
                RingStats two = twoWay.get(r).backward();
                RingStats one = oneWay.get(r).backward();
                assertEquals(2, two.steps());
                assertEquals(2, one.steps());
                long previous = r == 0 ? 0 : tail; // rank 0 sees nothing of rank 7's block
                assertEquals(previous, two.bytes(0), "K/V of the previous rank, rank " + r);
                assertEquals(previous, one.bytes(0));
                assertEquals(previous, two.bytes(1), "this rank's contribution, one hop back to its owner");
                // the contribution, then 6 relays on round the ring: each a tail but rank 7's block's
                assertEquals((r == 7 ? 7 : 6) * tail, one.bytes(1), "the contribution and 6 relays, rank " + r);
                assertTrue(two.transferNanos(1) > 0 && one.transferNanos(1) > 0, "the way home is timed");
            }
        }
    }

    /**
     * A forward-only ring allocates what forward passes use: with a causal window of 10 (blocks go one
     * way, 9 rows each), two slots of 9 rows of K/V in the input dtype, not four sized for fp32
     * gradients; with a two-sided window (blocks both ways, 19 rows) four. Its backward fails at once
     * on every rank, naming the option; its forward matches the reference.
     */
    @Test
    void aForwardOnlyRingHoldsWhatItsForwardPassesUse() {
        for (AttentionSpec spec : List.of(AttentionSpec.of(8).withCausal(true).withWindow(10), AttentionSpec.of(8).withWindow(20))) {
            boolean twoWay = !spec.causal();
            try (Job job = Job.of(4, spec)) {
                RingOptions options = new RingOptions(spec, ShardLayout.CONTIGUOUS, Duration.ofSeconds(30)).forwardOnly();
                List<long[]> buffers = InJvmRing.run(4, options.timeout(), inner -> {
                    RecordingTransport t = new RecordingTransport(inner, true);
                    int rank = t.rank();
                    try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1)).kernel();
                         RingAttention ring = new RingAttention(t, kernel, options);
                         Tensor qs = ShardLayout.CONTIGUOUS.shard(job.q(), rank, 4);
                         Tensor ks = ShardLayout.CONTIGUOUS.shard(job.k(), rank, 4);
                         Tensor vs = ShardLayout.CONTIGUOUS.shard(job.v(), rank, 4);
                         Tensor dos = ShardLayout.CONTIGUOUS.shard(job.dO(), rank, 4);
                         ForwardResult f = ring.forward(qs, ks, vs, 4 * SHARD)) {
                        ShardLayout.CONTIGUOUS.unshard(f.out(), rank, 4, job.out());
                        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                                () -> ring.backward(qs, ks, vs, f, dos, 4 * SHARD));
                        assertTrue(e.getMessage().contains("backward: ") && e.getMessage().contains("forwardOnly"), e.getMessage());
                        return new long[] {t.bufferCount, t.bufferLength};
                    }
                });
                for (long[] b : buffers) {
                    assertEquals(twoWay ? 4 : 2, b[0], "slots, " + spec);
                    assertEquals(2L * (twoWay ? 19 : 9) * 8 * 4, b[1], "slot bytes: the travelling rows' K and V, " + spec);
                }
                ReferenceAttention.Result ref = ReferenceAttention.forward(job.q(), job.k(), job.v(), spec);
                assertTrue(TestTensors.maxAbsError(job.out(), ref.out()) <= FWD_TOL, "O, " + spec);
            }
        }
    }

    /** Window of 20 without causal, one way: blocks go all the way round (6 steps, not 1 + 1 + 1). */
    @Test
    void aOneWayRingSendsTwoSidedWindowsAllTheWayRound() {
        try (Job job = Job.of(6, AttentionSpec.of(8).withWindow(20))) {
            for (RankRun r : run(job, false, 1)) {
                assertEquals(6, r.forward().steps());
                assertEquals(6, r.backward().steps());
                assertTrue(r.tagsToPrevious().isEmpty(), "nothing goes backward");
            }
            assertMatchesReference(job);
        }
    }

    /**
     * Window of 20 without causal, both ways: the forward sends blocks both ways, the backward runs
     * two legs, each turning its accumulators round. Over two passes no rank sends two messages with
     * one tag in one direction, and every rank uses the same tags in the same order (that is how
     * sends meet their receives).
     */
    @Test
    void tagsAreNeverReusedAndEveryRankTakesThemInOneOrder() {
        try (Job job = Job.of(6, AttentionSpec.of(8).withWindow(20))) {
            List<RankRun> runs = run(job, true, 2);
            assertMatchesReference(job);
            for (RankRun r : runs) {
                assertEquals(3, r.forward().steps());
                for (List<Integer> tags : List.of(r.tagsToNext(), r.tagsToPrevious())) {
                    assertEquals(tags.size(), new HashSet<>(tags).size(), "a tag used twice: " + tags);
                }
                // per pass: the forward's local block, the first leg's way home, the second leg's block
                assertEquals(2 * 3, r.tagsToPrevious().size(), "sends backward: " + r.tagsToPrevious());
                assertEquals(runs.get(0).tagsToNext(), r.tagsToNext());
                assertEquals(runs.get(0).tagsToPrevious(), r.tagsToPrevious());
            }
            List<Integer> all = new ArrayList<>(runs.get(0).tagsToNext());
            all.addAll(runs.get(0).tagsToPrevious());
            // distinct across directions too, so a transport need not keep the two ways' tags apart
            assertEquals(all.size(), new HashSet<>(all).size(), "one tag per post, whichever way it goes");
        }
    }
}
