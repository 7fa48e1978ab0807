/**
 * The ring algorithm: sharding layouts with global positions ({@link ringattn.engine.ring.ShardLayout}),
 * the forward and backward rings over a {@link ringattn.engine.transport.RingTransport}
 * ({@link ringattn.engine.ring.RingAttention}, and {@link ringattn.engine.ring.LocalRingAttention} for
 * ranks as threads of one JVM), and their instrumentation ({@link ringattn.engine.ring.RingStats}).
 *
 * <p>Inside, {@code RingAttention} is a loop over channels: every pass first agrees on its arguments
 * with all ranks ({@code RingAgreement}) and gets a {@code RingPlan} (where every block is, how far it
 * must travel, one way or both); {@code RingMemory} owns the transport's four buffer slots, sized once,
 * and the dK/dV scratch; a {@code RingChannel} moves blocks one way through two slots (post, compute on
 * the current block, await: the received block becomes current), taking its message tags from the
 * ring's {@code Tags} sequence; a {@code StepClock} times each step and makes the stats.
 */
package ringattn.engine.ring;
