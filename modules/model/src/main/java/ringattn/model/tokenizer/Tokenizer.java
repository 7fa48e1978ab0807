package ringattn.model.tokenizer;

/**
 * Text to token ids and back for a language model. Two families:
 * {@link SentencePieceTokenizer} (SentencePiece-style BPE with byte fallback, the Llama 2 family, as
 * GGUF's {@code tokenizer.ggml.model = "llama"} stores it) and {@link ByteLevelBpeTokenizer}
 * (GPT-2-style byte-level BPE from a Hugging Face {@code tokenizer.json}, the Llama 3 family).
 *
 * <p>Text is a Java {@code String}; lone surrogates in it are encoded as U+FFFD. Ids index the
 * vocabulary, {@code 0 <= id < vocabSize()}. Control tokens (BOS, EOS, chat markers) are never
 * produced from plain text, even when the text spells them out, and decode to nothing.
 * Implementations are immutable and thread-safe; a {@link StreamingDecoder} is not.
 */
public sealed interface Tokenizer permits SentencePieceTokenizer, ByteLevelBpeTokenizer {
    /**
     * The ids of {@code text}, preceded by {@link #bos()} when {@code addBos}. The empty text gives no
     * ids (just BOS with {@code addBos}).
     *
     * @throws IllegalStateException when {@code addBos} and the vocabulary has no BOS
     */
    int[] encode(String text, boolean addBos);

    /**
     * The text of {@code ids}: pieces concatenated as bytes, then read as UTF-8 with every ill-formed
     * part as U+FFFD (a byte token alone may be half a character).
     *
     * @throws IllegalArgumentException for an id outside the vocabulary
     */
    String decode(int[] ids);

    /** A new decoder that turns ids into text one at a time, as {@link #decode} would. */
    StreamingDecoder decoder();

    /** The beginning-of-sequence id, or -1 when the vocabulary has none. */
    int bos();

    /** The end-of-sequence id (generation stops there), or -1 when the vocabulary has none. */
    int eos();

    /** Number of ids, tokens. */
    int vocabSize();
}
