/**
 * The Llama-style model: configuration ({@link ringattn.model.LlamaConfig}), weights
 * ({@link ringattn.model.WeightSource}: memory-mapped safetensors or the tiny in-memory model), the
 * per-rank forward ({@link ringattn.model.LlamaModel}) and the {@code prefill} command
 * ({@link ringattn.model.PrefillMain}).
 */
package ringattn.model;
