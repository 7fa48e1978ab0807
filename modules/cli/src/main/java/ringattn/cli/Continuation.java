package ringattn.cli;

import ringattn.model.tokenizer.StreamingDecoder;

/**
 * The text of a generation after its prompt, one token at a time: the decoder is first fed the
 * prompt, so the continuation's spaces come out as they would in the whole text; stop tokens give
 * nothing; without a tokenizer the ids themselves, space-separated. Not thread-safe.
 */
final class Continuation {
    private final GenerateJob job;
    private final StreamingDecoder decoder;
    private boolean any;

    Continuation(GenerateJob job) {
        this.job = job;
        this.decoder = job.codec == null ? null : job.codec.decoder();
        if (decoder != null) {
            for (int id : job.prompt) {
                decoder.next(id);
            }
        }
    }

    /** The text {@code token} adds (empty for a stop token or an incomplete UTF-8 character). */
    String next(int token) {
        for (int s : job.stopTokens) {
            if (s == token) {
                return "";
            }
        }
        String piece = decoder == null ? (any ? " " : "") + token : decoder.next(token);
        any = true;
        return piece;
    }

    /** What is still pending (U+FFFD for an incomplete UTF-8 sequence). */
    String finish() {
        return decoder == null ? "" : decoder.finish();
    }

    /** The whole continuation of {@code tokens}. */
    static String of(GenerateJob job, int[] tokens) {
        Continuation c = new Continuation(job);
        StringBuilder b = new StringBuilder();
        for (int t : tokens) {
            b.append(c.next(t));
        }
        return b.append(c.finish()).toString();
    }
}
