/**
 * The transport port the ring algorithm is written against ({@link ringattn.engine.transport.RingTransport}),
 * its errors, and the in-JVM implementation ({@link ringattn.engine.transport.InJvmRing}) in which
 * ranks are threads of one process. The UCX implementation lives in module
 * {@code ringattn.transport.ucx}.
 */
package ringattn.engine.transport;
