/**
 * A Llama-style decoder-only transformer: long-context prefill with ring attention (each rank holds
 * only its shard of the activations, every layer calls the engine's ring) and generation over the
 * K/V cache that the prefill leaves sharded across the ranks. Weights come memory-mapped from a
 * Hugging Face-style directory ({@code config.json} + safetensors), from a llama.cpp GGUF file, or
 * from the embedded tiny model. Tokenizers (SentencePiece and byte-level BPE) are in
 * {@code ringattn.model.tokenizer}. The Vector API stays inside {@code ringattn.model.linalg}, which
 * is not exported.
 */
module ringattn.model {
    requires transitive ringattn.engine;
    requires ringattn.io;
    requires jdk.incubator.vector;

    exports ringattn.model;
    exports ringattn.model.tokenizer;
}
