/**
 * Tokenizers in plain Java: {@link ringattn.model.tokenizer.Tokenizer}, with SentencePiece-style BPE
 * (the Llama 2 family, from GGUF's {@code tokenizer.ggml.*} lists) and byte-level BPE (the Llama 3 and
 * GPT-2 family, from a Hugging Face {@code tokenizer.json}); a
 * {@link ringattn.model.tokenizer.StreamingDecoder} prints generated ids as they come without
 * splitting a UTF-8 character.
 */
package ringattn.model.tokenizer;
