/**
 * Dense kernels of the model (matrix multiply with register-blocked Vector API micro-kernels, F32 and
 * BF16 weights). The only package of this module importing {@code jdk.incubator.vector}; not
 * exported, and vector types never appear in its signatures.
 */
package ringattn.model.linalg;
