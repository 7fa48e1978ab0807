/** The UCX implementation of {@link ringattn.engine.transport.RingTransport}, bootstrap and rendezvous. */
package ringattn.transport.ucx;
