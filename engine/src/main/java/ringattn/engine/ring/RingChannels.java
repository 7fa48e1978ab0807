package ringattn.engine.ring;

import java.time.Duration;
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

    RingChannels(RingTransport transport, RingPlan plan, RingMemory memory, Tags tags, StepClock clock, Duration timeout) {
        this.transport = transport;
        this.plan = plan;
        this.memory = memory;
        this.tags = tags;
        this.clock = clock;
        this.timeout = timeout;
    }

    /**
     * K/V blocks going {@code direction} through slots {@code first} and {@code second}. The channel
     * starts holding the local block, staged in slot 0 (which it sends from even when slot 0 is not
     * one of its own: the local block leaves both ways at once in a two-way forward).
     */
    RingChannel blocks(Direction direction, int first, int second) {
        return new RingChannel(this, direction, RingChannel.Payload.KV, first, second, 0, 0);
    }

    /**
     * dK/dV accumulators going {@code direction} through slots 2 and 3, starting at the first block
     * visited after the local one (one hop away), whose accumulator its first visitor writes to slot 3.
     */
    RingChannel gradients(Direction direction) {
        return new RingChannel(this, direction, RingChannel.Payload.GRADIENTS, 2, 3, 3, 1);
    }

    /** Tokens of rank {@code rank}'s shard. */
    int tokens(int rank) {
        return plan.positions[rank].size();
    }
}
