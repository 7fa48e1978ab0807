package ringattn.engine.ring;

import java.time.Duration;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.RingTransport;

/**
 * What the {@link RingChannel}s of one pass share, and where they are made: the transport and its
 * slots ({@link RingMemory}), the plan (whose block is where, and its size), the ring's
 * {@link Tags}, the pass's {@link StepClock} and the bound on every wait. Slots 0 and 1 carry the
 * K/V blocks; slots 2 and 3 the K/V blocks that travel the other way in a two-way forward, or the
 * dK/dV accumulators in the backward. Borrows everything; one per pass; not thread-safe.
 */
final class RingChannels {
    final RingTransport transport;
    final RingPlan plan;
    final RingMemory memory;
    final Tags tags;
    final StepClock clock;
    final Duration timeout;
    /** This rank's own K and V (borrowed): the kernel reads the local block from them, not from a slot. */
    final Tensor localK;
    final Tensor localV;

    RingChannels(RingTransport transport, RingPlan plan, RingMemory memory, Tags tags, StepClock clock, Duration timeout,
                 Tensor localK, Tensor localV) {
        this.transport = transport;
        this.plan = plan;
        this.memory = memory;
        this.tags = tags;
        this.clock = clock;
        this.timeout = timeout;
        this.localK = localK;
        this.localV = localV;
    }

    /**
     * K/V blocks going {@code direction} through slots {@code first} and {@code second}, with the
     * rows {@code route} says. The channel starts holding the local block: the kernel reads it whole
     * from the caller's tensors, and its travelling rows are staged in slot {@code first}, from where
     * they leave.
     */
    RingChannel blocks(Direction direction, int first, int second, Route route) {
        int rank = transport.rank();
        int from = route.from(rank);
        int count = route.tokens(rank);
        memory.stage(localK.tokens(from, count), localV.tokens(from, count), memory.slot(first));
        return new RingChannel(this, direction, RingChannel.Payload.KV, route, first, second, first, 0);
    }

    /**
     * dK/dV accumulators of the rows {@code route} says, going {@code direction} through slots 2 and 3,
     * starting at the first block visited after the local one (one hop away), whose accumulator its
     * first visitor writes to slot 3.
     */
    RingChannel gradients(Direction direction, Route route) {
        return new RingChannel(this, direction, RingChannel.Payload.GRADIENTS, route, 2, 3, 3, 1);
    }
}
