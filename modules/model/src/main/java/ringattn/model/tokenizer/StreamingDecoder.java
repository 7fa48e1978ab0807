package ringattn.model.tokenizer;

import java.util.Arrays;

/**
 * Turns ids into text as they come, for printing generated tokens: each {@link #next} returns the
 * text that is complete so far, holding back the bytes of a UTF-8 character that a later id will
 * finish (a byte-fallback emoji is four byte tokens), so no character is ever split or printed as
 * U+FFFD too early. The concatenation of everything {@code next} and {@link #finish} return equals
 * {@link Tokenizer#decode} of the same ids. Feed a sequence from its beginning (BOS included or not):
 * a SentencePiece decoder drops the space that encoding put before the first word. Not thread-safe:
 * one decoder per stream.
 */
public final class StreamingDecoder {
    private final PieceTable pieces;
    private byte[] held = new byte[8];
    private int heldLength;
    private boolean started;

    StreamingDecoder(PieceTable pieces) {
        this.pieces = pieces;
    }

    /**
     * The text that {@code id} completes: possibly empty (a control token, or a partial character
     * held back), possibly several characters (held bytes completed by this one).
     *
     * @throws IllegalArgumentException for an id outside the vocabulary
     */
    public String next(int id) {
        byte[] piece = pieces.bytes(id);
        int skip = 0;
        if (!started && piece.length > 0) {
            started = true;
            skip = pieces.leadingSpaceToDrop(piece);
        }
        int length = heldLength + piece.length - skip;
        if (length > held.length) {
            held = Arrays.copyOf(held, Math.max(length, 2 * held.length));
        }
        System.arraycopy(piece, skip, held, heldLength, piece.length - skip);
        int tail = Utf8.incompleteTail(held, 0, length);
        StringBuilder out = new StringBuilder(length);
        Utf8.decode(held, 0, length - tail, out);
        System.arraycopy(held, length - tail, held, 0, tail);
        heldLength = tail;
        return out.toString();
    }

    /**
     * The held bytes of an unfinished character, as U+FFFD (empty when none): call at the end of the
     * stream. The decoder stays usable; later ids continue the same text.
     */
    public String finish() {
        StringBuilder out = new StringBuilder(1);
        Utf8.decode(held, 0, heldLength, out);
        heldLength = 0;
        return out.toString();
    }
}
