package ringattn.engine.ring;

import java.lang.foreign.MemorySegment;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.Transfer;

/**
 * One way round the ring through two transport slots, in the manner of ring-flash-attention's
 * {@code RingComm}: the channel holds a block (K and V, or a block's dK/dV accumulator) in its
 * current slot; {@link #post} sends it on and receives the next block into the other slot, both under
 * the next tag of the ring ({@link Tags}); {@link #await} waits for both and swaps, so that the block
 * received becomes current. A loop reads: post, compute on {@link #current}, await.
 *
 * <p>The channel knows whose block it holds ({@link #holding}): each swap brings the block of the
 * rank one hop further upstream ({@link Direction#origin}); that sizes its messages.
 * {@link #reversed} sends the held blocks back the way they came.
 *
 * <p>Units: a message holds a block's travelling rows ({@link Route}: the rows some rank it
 * reaches can see), {@link RingMemory#kvBytes} or {@link RingMemory#gradBytes} bytes of them; the
 * local block is read whole from the caller's tensors. Timing ({@link StepClock}): a post counts to the clock's current step,
 * its transfers from post to completion, its bytes (K/V where received, gradients where sent, so that
 * each message counts once on the ring); the time spent in {@link #await} counts as wait to the step
 * current then.
 *
 * <p>Ownership: borrows its slots from the transport, which allocated them once and frees them; a
 * channel allocates nothing. At most one post in flight. Used by the rank's ring thread only; not thread-safe.
 */
final class RingChannel {
    /** What a channel carries. */
    enum Payload {
        /** K then V of a block, input dtype. */
        KV,
        /** dK then dV accumulators of a block, fp32. */
        GRADIENTS
    }

    private final RingChannels ring;
    private final Direction direction;
    private final Payload payload;
    private final Route route;
    private final int first;
    private final int second;
    private int currentSlot;
    private int distance;
    private Transfer sending;
    private Transfer receiving;
    private int postedStep;
    private long postedNanos;

    /** Holding the block {@code distance} hops away in slot {@code current} (one of its two slots, or a borrowed one). */
    RingChannel(RingChannels ring, Direction direction, Payload payload, Route route, int first, int second, int current,
                int distance) {
        this.ring = ring;
        this.direction = direction;
        this.payload = payload;
        this.route = route;
        this.first = first;
        this.second = second;
        this.currentSlot = current;
        this.distance = distance;
    }

    /** The slot holding the current block. */
    MemorySegment current() {
        return ring.memory.slot(currentSlot);
    }

    /** The rank whose block (or block's accumulator) the current slot holds. */
    int holding() {
        return rankAt(distance);
    }

    /** Whether the channel holds this rank's own block, read whole from the caller's tensors. */
    private boolean local() {
        return distance == 0 && payload == Payload.KV;
    }

    /** The K of the held block (a K/V channel): the whole local block, or a received block's travelling rows. */
    Tensor keys() {
        return local() ? ring.localK : ring.memory.keys(current(), route.tokens(holding()));
    }

    /** The V of the held block (a K/V channel), as {@link #keys}. */
    Tensor values() {
        return local() ? ring.localV : ring.memory.values(current(), route.tokens(holding()));
    }

    /** The global positions of the rows {@link #keys} returns. */
    Positions positions() {
        return local() ? ring.plan.positions[holding()] : route.positions(holding());
    }

    /** The tokens of the held block's messages (its travelling rows; an accumulator covers the same rows). */
    int messageTokens() {
        return route.tokens(holding());
    }

    /** Posts: sends the current block on and receives the next one into the other slot. */
    void post() {
        if (sending != null) {
            throw new IllegalStateException("post: the previous post was not awaited");
        }
        long out = bytes(holding());
        long in = bytes(rankAt(distance + 1));
        int tag = ring.tags.next();
        postedStep = ring.clock.step();
        postedNanos = System.nanoTime();
        receiving = direction.receive(ring.transport, other(), in, tag);
        sending = direction.send(ring.transport, currentSlot, out, tag);
        ring.clock.addBytes(payload == Payload.KV ? in : out);
    }

    /** Waits for the posted send and receive (nothing when none), then makes the received block current. */
    void await() {
        if (sending == null) {
            return;
        }
        long t0 = System.nanoTime();
        sending.await(ring.timeout);
        receiving.await(ring.timeout);
        long now = System.nanoTime();
        ring.clock.waited(now - t0);
        ring.clock.transferred(postedStep, postedNanos, Math.max(completed(sending, now), completed(receiving, now)));
        sending = null;
        receiving = null;
        currentSlot = other();
        distance++;
    }

    /** A channel the other way through the same slots and rows, holding this one's current block. */
    RingChannel reversed() {
        if (sending != null) {
            throw new IllegalStateException("reversed: a post is in flight");
        }
        return new RingChannel(ring, direction.opposite(), payload, route, first, second, currentSlot, -distance);
    }

    private int other() {
        return currentSlot == first ? second : first;
    }

    private int rankAt(int hops) {
        return direction.origin(ring.transport.rank(), hops, ring.plan.worldSize);
    }

    private long bytes(int rank) {
        int tokens = route.tokens(rank);
        return payload == Payload.KV ? ring.memory.kvBytes(tokens) : ring.memory.gradBytes(tokens);
    }

    private static long completed(Transfer t, long now) {
        long at = t.completedNanos();
        return at < 0 ? now : at;
    }
}
