/**
 * The Llama-style model: configuration ({@link ringattn.model.LlamaConfig}), weights
 * ({@link ringattn.model.WeightSource}: memory-mapped safetensors, a GGUF file, or the tiny in-memory
 * model; {@link ringattn.model.Checkpoint} opens a directory or a GGUF file and finds its tokenizer),
 * the per-rank forward ({@link ringattn.model.LlamaModel}), the prefill over a ring
 * ({@link ringattn.model.Prefill}: one rank over any transport, or every rank as threads of this JVM),
 * and generation over the K/V cache the prefill leaves sharded ({@link ringattn.model.KvCache},
 * {@link ringattn.model.Decoder}: per-rank attention and the exact cross-rank reduction,
 * {@link ringattn.model.Sampler}, {@link ringattn.model.Generation}). A library: the {@code prefill}
 * and {@code generate} command lines are {@code ringattn.cli}'s, and nothing here needs UCX.
 */
package ringattn.model;
