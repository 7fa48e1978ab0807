/**
 * The Vector API kernel. The only package that imports {@code jdk.incubator.vector}; not exported,
 * loaded reflectively by {@link ringattn.engine.kernel.Kernels} so that the engine runs without the
 * incubator module.
 */
package ringattn.engine.kernel.simd;
