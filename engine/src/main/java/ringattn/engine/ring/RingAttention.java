package ringattn.engine.ring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.TransportException;

/**
 * Exact ring attention for one rank. Every rank of the ring calls {@link #forward} (and
 * {@link #backward}) with its own shards of Q, K and V in the options' layout; the K/V blocks travel
 * around the ring while the kernel works on the current one (double buffering, {@link RingChannel}),
 * and the fp32 online-softmax state is carried across steps, so O and LSE are rounded once, at the end.
 * A block travels only as far as some query can see it and only with the rows some other rank can
 * see ({@link Route}: under a sliding window, the window's reach, not the shard).
 *
 * <p>Backward: K and V travel ahead as in the forward; the dK/dV accumulators of each block follow
 * one step behind, each rank adding its contribution in ring order, and finally return to the
 * block's owner; dQ stays home. The summation order is fixed, so results repeat bit for bit.
 *
 * <p>Ownership: borrows the transport and the kernel (the caller closes them after this object).
 * Transfer buffers are allocated once, by the first call, for the largest block that call sends
 * ({@link RingMemory}, {@link Route}). Calls are collective (every rank makes the same sequence of calls) and not
 * thread-safe.
 */
public final class RingAttention implements AutoCloseable {
    private final RingTransport transport;
    private final BlockKernel kernel;
    private final RingOptions options;
    private final RingAgreement agreement;
    private final Tags tags = new Tags();
    private RingMemory memory;

    public RingAttention(RingTransport transport, BlockKernel kernel, RingOptions options) {
        if (transport == null) {
            throw new IllegalArgumentException("transport: must not be null");
        }
        if (kernel == null) {
            throw new IllegalArgumentException("kernel: must not be null");
        }
        if (options == null) {
            throw new IllegalArgumentException("options: must not be null");
        }
        this.transport = transport;
        this.kernel = kernel;
        this.options = options;
        this.agreement = new RingAgreement(transport, options);
    }

    public RingOptions options() {
        return options;
    }

    /** The global positions of this rank's tokens for a sequence of {@code seqLen} tokens. */
    public Positions localPositions(int seqLen) {
        return options.layout().positions(transport.rank(), transport.worldSize(), seqLen);
    }

    /**
     * Forward pass over this rank's shards ({@code [shardTokens, heads, headDim]} for Q,
     * {@code [shardTokens, kvHeads, headDim]} for K and V, same dtype) of a global sequence of
     * {@code seqLen} tokens. Collective.
     */
    public ForwardResult forward(Tensor q, Tensor k, Tensor v, int seqLen) {
        long start = System.nanoTime();
        Routing routing = agree("forward", q, k, v, null, seqLen);
        RingPlan plan = routing.plan();
        // Blocks come from `ahead` previous ranks (slots 0/1) and, with a two-way transport and a
        // window that needs later ranks too, from `behind` next ranks (slots 3/2).
        int ahead = routing.ahead();
        int behind = routing.behind();
        StepClock clock = new StepClock(1 + ahead + behind, start);
        RingChannels ring = new RingChannels(transport, plan, memory, tags, clock, options.timeout(), k, v);
        Arena arena = Arena.ofShared();
        try (ForwardPass pass = kernel.beginForward(q, plan.positions[transport.rank()], options.spec())) {
            RingChannel fromPrevious = ring.blocks(Direction.TO_NEXT, 0, 1, routing.toNext());
            RingChannel fromNext = behind > 0 ? ring.blocks(Direction.TO_PREVIOUS, 3, 2, routing.toPrevious()) : null;
            for (int s = 0; s <= ahead + behind; s++) {
                clock.at(s);
                if (s < ahead) {
                    fromPrevious.post();
                }
                if (behind > 0 && (s == 0 || s > ahead) && s < ahead + behind) {
                    fromNext.post(); // the local block leaves both ways at step 0
                }
                RingChannel kv = s <= ahead ? fromPrevious : fromNext;
                clock.compute(() -> pass.update(kv.keys(), kv.values(), kv.positions()));
                fromPrevious.await();
                if (fromNext != null) {
                    fromNext.await();
                }
            }
            MemorySegment lse = arena.allocate(Math.max(4, (long) q.tokens() * q.heads() * 4), 64);
            Tensor out = Tensor.allocate(q.tokens(), q.heads(), q.headDim(), q.dtype());
            pass.finish(out, lse);
            return new ForwardResult(out, arena, lse, clock.stats());
        } catch (RuntimeException | Error e) {
            arena.close();
            abortPeers(e);
            throw e;
        }
    }

    /**
     * Backward pass: from this rank's shards of Q, K, V, its forward result and the gradient of O,
     * the gradients dQ, dK, dV of its shards (dtypes of Q, K and V). Collective.
     */
    public Gradients backward(Tensor q, Tensor k, Tensor v, ForwardResult fwd, Tensor dOut, int seqLen) {
        long start = System.nanoTime();
        if (fwd == null) {
            throw new IllegalArgumentException("fwd: must not be null");
        }
        Routing routing = agree("backward", q, k, v, dOut, seqLen);
        RingPlan plan = routing.plan();
        int world = plan.worldSize;
        // As in the forward: a leg in which blocks come from previous ranks (with the local block),
        // and with a two-way transport a second leg in which they come from the next ones.
        int ahead = routing.ahead();
        int behind = routing.behind();
        // The last accumulator of each block sits `ahead` ranks after its owner: it goes on round the
        // ring (P − ahead hops) or, when the transport can and that is shorter, turns round.
        boolean turnRound = transport.reverseSupported() && ahead < (world - ahead) % world;
        StepClock clock = new StepClock(1 + ahead + behind, start);
        RingChannels ring = new RingChannels(transport, plan, memory, tags, clock, options.timeout(), k, v);
        try (BackwardPass pass = kernel.beginBackward(q, plan.positions[transport.rank()], fwd.out(), dOut, fwd.lse(),
                options.spec())) {
            leg(ring, pass, k, new Leg(Direction.TO_NEXT, routing.toNext(), ahead, true, turnRound, 0));
            if (behind > 0) {
                leg(ring, pass, k, new Leg(Direction.TO_PREVIOUS, routing.toPrevious(), behind, false, true, 1 + ahead));
            }
            RingMemory.BlockGradients home = memory.home(k.tokens());
            Tensor dq = Tensor.allocate(q.tokens(), q.heads(), q.headDim(), q.dtype());
            Tensor dkOut = Tensor.allocate(k.tokens(), k.heads(), k.headDim(), k.dtype());
            Tensor dvOut = Tensor.allocate(v.tokens(), v.heads(), v.headDim(), v.dtype());
            pass.finish(dq);
            dkOut.copyFrom(home.dk());
            dvOut.copyFrom(home.dv());
            return new Gradients(dq, dkOut, dvOut, clock.stats());
        } catch (RuntimeException | Error e) {
            abortPeers(e);
            throw e;
        }
    }

    /**
     * One leg of the backward: K/V blocks travel {@code hops} hops {@code direction}, their dK/dV
     * accumulators one step behind them.
     *
     * @param direction  which way the blocks and their accumulators go
     * @param route      the rows of each block that travel that way
     * @param withLocal  whether the leg starts with the local block (the first leg)
     * @param turnRound  whether the finished accumulators go home back the way they came ({@code hops}
     *                   hops) rather than on round the ring
     * @param firstStep  the stats entry of the leg's first block
     */
    private record Leg(Direction direction, Route route, int hops, boolean withLocal, boolean turnRound, int firstStep) {
        /** The stats entry of leg step {@code s}: a leg without the local block counts its first exchange to its first block. */
        int step(int s) {
            return firstStep + (withLocal ? s : Math.max(0, s - 1));
        }
    }

    /**
     * Runs a backward leg: at step s this rank adds its contribution to the accumulator of the block
     * s hops away (the first visitor writes it, each later one adds to it, in ring order) and sends it
     * on; after the last block the finished accumulators go home, where each is added to the owner's
     * sums. The first leg also computes the local block's contribution, straight into those sums.
     */
    private void leg(RingChannels ring, BackwardPass pass, Tensor k, Leg leg) {
        RingChannel kv = ring.blocks(leg.direction(), 0, 1, leg.route());
        RingChannel acc = ring.gradients(leg.direction(), leg.route());
        int last = leg.hops();
        int onward = leg.turnRound() ? 0 : (ring.plan.worldSize - last) % ring.plan.worldSize;
        for (int s = 0; s <= last; s++) {
            ring.clock.at(leg.step(s));
            if (s < last) {
                kv.post();
            }
            if (s > 0 || leg.withLocal()) {
                // The local block whole, into the sums; a visiting block's travelling rows, into scratch.
                RingMemory.BlockGradients grads = s == 0 ? memory.home(k.tokens()) : memory.contribution(kv.messageTokens());
                ring.clock.compute(() -> {
                    grads.zero();
                    pass.update(kv.keys(), kv.values(), kv.positions(), grads.dk(), grads.dv());
                });
                if (s > 0) {
                    acc.await();
                    boolean first = s == 1;
                    ring.clock.compute(() -> grads.addTo(acc.current(), first));
                    if (s < last || onward > 0) {
                        acc.post();
                    }
                }
            }
            kv.await();
        }
        for (int j = 1; j <= onward; j++) {
            acc.await();
            if (j < onward) {
                acc.post();
            }
        }
        RingChannel home = acc;
        if (leg.turnRound()) {
            home = acc.reversed();
            for (int j = 0; j < last; j++) {
                home.post();
                home.await();
            }
        }
        if (last > 0) {
            int rank = transport.rank();
            memory.home(k.tokens()).rows(leg.route().from(rank), leg.route().tokens(rank)).add(home.current());
        }
    }

    /** Whether blocks go both ways: the transport can, and that is shorter than one way round. */
    private boolean twoWay(RingPlan plan) {
        return transport.reverseSupported() && plan.reachForward + plan.reachBackward < plan.steps - 1;
    }

    /**
     * A pass's plan and how its blocks go: {@code ahead} hops forward and {@code behind} hops
     * backward, each way with its own travelling rows ({@code toPrevious} null when nothing goes back).
     */
    private record Routing(RingPlan plan, int ahead, int behind, Route toNext, Route toPrevious) {
        int most() {
            return Math.max(toNext.most, toPrevious == null ? 0 : toPrevious.most);
        }
    }

    /**
     * Agrees on the pass with every rank, routes its blocks, then sizes the ring's memory (first
     * call) or checks it fits.
     */
    private Routing agree(String pass, Tensor q, Tensor k, Tensor v, Tensor dOut, int seqLen) {
        RingPlan plan = agreement.agree(pass, q, k, v, dOut, seqLen);
        boolean both = twoWay(plan);
        int ahead = both ? plan.reachForward : plan.steps - 1;
        int behind = both ? plan.reachBackward : 0;
        Routing routing = new Routing(plan, ahead, behind, plan.route(Direction.TO_NEXT, ahead),
                behind > 0 ? plan.route(Direction.TO_PREVIOUS, behind) : null);
        memory = memory == null ? RingMemory.allocate(transport, plan, routing.most(), k, options.minSlotBytes(),
                options.backwardPasses(), behind > 0) : memory.checkFits(plan, routing.most(), k, behind > 0);
        return routing;
    }

    /** A local failure mid-pass: tell the other ranks at once instead of letting them time out. */
    private void abortPeers(Throwable e) {
        if (!(e instanceof TransportException)) {
            transport.abort(e);
        }
    }

    /** Frees this object's scratch; the transport and kernel stay open (the caller owns them). */
    @Override
    public void close() {
        if (memory != null) {
            memory.close();
        }
    }
}
