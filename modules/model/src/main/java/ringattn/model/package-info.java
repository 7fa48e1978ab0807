/**
 * The Llama-style model: configuration ({@link ringattn.model.LlamaConfig}), weights
 * ({@link ringattn.model.WeightSource}: memory-mapped safetensors, a GGUF file, or the tiny in-memory
 * model; {@link ringattn.model.Checkpoint} opens a directory or a GGUF file), the
 * per-rank forward ({@link ringattn.model.LlamaModel}) and the prefill over a ring
 * ({@link ringattn.model.Prefill}: one rank over any transport, or every rank as threads of this JVM).
 * A library: the {@code prefill} command line is {@code ringattn.cli}'s, and nothing here needs UCX.
 */
package ringattn.model;
