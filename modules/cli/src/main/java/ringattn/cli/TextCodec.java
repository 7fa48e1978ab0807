package ringattn.cli;

import java.nio.file.Path;
import ringattn.model.WeightSource;

/**
 * Text ↔ token ids for {@code generate}: the model's own tokenizer, found beside its weights. The
 * command only needs to encode the prompt (BOS first), to turn ids into text as they come without
 * splitting a UTF-8 character, and the EOS id. Not thread-safe (a streamer holds partial bytes).
 */
interface TextCodec {
    /** The prompt's ids, BOS first. */
    int[] encode(String text);

    /** The model's end-of-sequence id, or -1. */
    int eos();

    /** A fresh incremental decoder. */
    Streamer streamer();

    /** Turns ids into text one at a time; text of an id whose UTF-8 bytes are incomplete comes with a later id. */
    interface Streamer {
        String next(int id);

        /** Whatever is still pending (U+FFFD for an incomplete UTF-8 sequence). */
        String finish();
    }

    /** The tokenizer of the model at {@code modelPath}, or null when it has none. */
    static TextCodec of(Path modelPath, WeightSource weights) {
        return null;
    }
}
