package ringattn.model;

import java.nio.file.Path;
import java.util.List;
import ringattn.io.FileFormatException;
import ringattn.io.GgufMetadata;

/**
 * A GGUF file's tokenizer, as its {@code tokenizer.ggml.*} metadata states it: what a tokenizer is
 * built from. Checked when read: the per-token arrays have one entry per token, and the special ids
 * lie in the vocabulary. The arrays are the caller's copies; the lists are immutable.
 *
 * @param model     {@code tokenizer.ggml.model}: {@code llama} (SentencePiece BPE with scores,
 *                  the Llama 2 family), {@code gpt2} (byte-level BPE with merges, Llama 3), ...
 * @param tokens    {@code tokenizer.ggml.tokens}: the pieces, by id
 * @param scores    {@code tokenizer.ggml.scores}: one per token, or empty when the file has none
 * @param types     {@code tokenizer.ggml.token_type}: one per token (1 normal, 2 unknown, 3 control,
 *                  4 user-defined, 5 unused, 6 byte), or empty when the file has none
 * @param bosId     {@code tokenizer.ggml.bos_token_id}, or −1
 * @param eosId     {@code tokenizer.ggml.eos_token_id}, or −1
 * @param unknownId {@code tokenizer.ggml.unknown_token_id}, or −1
 * @param merges    {@code tokenizer.ggml.merges} ("a b" pairs, by rank), or empty
 */
public record TokenizerMetadata(String model, List<String> tokens, float[] scores, int[] types, int bosId, int eosId,
        int unknownId, List<String> merges) {
    static final String TOKENS = "tokenizer.ggml.tokens";

    /** Reads the {@code tokenizer.ggml.*} keys of {@code m} (from {@code file}). */
    static TokenizerMetadata of(Path file, GgufMetadata m) {
        try {
            List<String> tokens = m.strings(TOKENS);
            float[] scores = m.has("tokenizer.ggml.scores") ? m.floats("tokenizer.ggml.scores") : new float[0];
            int[] types = m.has("tokenizer.ggml.token_type") ? m.ints("tokenizer.ggml.token_type") : new int[0];
            perToken(file, "tokenizer.ggml.scores", scores.length, tokens.size());
            perToken(file, "tokenizer.ggml.token_type", types.length, tokens.size());
            List<String> merges = m.has("tokenizer.ggml.merges") ? m.strings("tokenizer.ggml.merges") : List.of();
            return new TokenizerMetadata(m.string("tokenizer.ggml.model"), tokens, scores, types,
                    id(file, m, "tokenizer.ggml.bos_token_id", tokens.size()), id(file, m, "tokenizer.ggml.eos_token_id", tokens.size()),
                    id(file, m, "tokenizer.ggml.unknown_token_id", tokens.size()), merges);
        } catch (FileFormatException e) {
            throw new ModelFormatException(e.getMessage(), e);
        }
    }

    private static void perToken(Path file, String key, int length, int tokens) {
        if (length != 0 && length != tokens) {
            throw new ModelFormatException(file + ": metadata '" + key + "': " + length + " entries for " + tokens + " tokens");
        }
    }

    /** A token id, −1 when absent (or stored as uint32 −1, llama.cpp's "none"). */
    private static int id(Path file, GgufMetadata m, String key, int vocab) {
        long v = m.integer(key, -1);
        if (v == -1 || v == 0xFFFF_FFFFL) {
            return -1;
        }
        if (v < 0 || v >= vocab) {
            throw new ModelFormatException(file + ": metadata '" + key + "': " + v + " is outside the " + vocab + " tokens");
        }
        return (int) v;
    }

    /** The number of tokens. */
    public int size() {
        return tokens.size();
    }
}
