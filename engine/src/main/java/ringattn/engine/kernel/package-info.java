/**
 * The block-kernel port and what it works on: global token {@link ringattn.engine.kernel.Positions},
 * the {@link ringattn.engine.kernel.AttentionSpec} (scale and masks by global position), the carried
 * online-softmax {@link ringattn.engine.kernel.ForwardState} and the
 * {@link ringattn.engine.kernel.BackwardState}. {@link ringattn.engine.kernel.Kernels} picks an
 * implementation once (Vector API when present, else scalar) and logs the choice once.
 */
package ringattn.engine.kernel;
