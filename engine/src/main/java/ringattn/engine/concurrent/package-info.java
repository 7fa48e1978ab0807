/**
 * Concurrency shared by the engine and the modules built on it:
 * {@link ringattn.engine.concurrent.WorkerPool}, the fixed pool that runs the data-parallel tasks of
 * the CPU kernels and of the model's matrix multiplies.
 */
package ringattn.engine.concurrent;
