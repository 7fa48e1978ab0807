/**
 * The ring algorithm: sharding layouts with global positions, the forward and backward rings over
 * a {@link ringattn.engine.transport.RingTransport}, and their instrumentation.
 */
package ringattn.engine.ring;
