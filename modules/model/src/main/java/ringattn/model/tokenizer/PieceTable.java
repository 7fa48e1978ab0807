package ringattn.model.tokenizer;

import java.util.Arrays;

/**
 * The bytes each id decodes to (empty for control, unknown and unused tokens), shared by
 * {@link Tokenizer#decode} and {@link StreamingDecoder} so both print the same. Immutable.
 */
final class PieceTable {
    private final byte[][] bytes;
    private final boolean dropLeadingSpace;

    /**
     * @param bytes the bytes of each id (kept, not copied)
     * @param dropLeadingSpace whether the first space of the first printed piece is the one encoding
     *     added (SentencePiece's dummy prefix) and is dropped
     */
    PieceTable(byte[][] bytes, boolean dropLeadingSpace) {
        this.bytes = bytes;
        this.dropLeadingSpace = dropLeadingSpace;
    }

    int size() {
        return bytes.length;
    }

    /** The bytes of {@code id} (not to be modified). */
    byte[] bytes(int id) {
        if (id < 0 || id >= bytes.length) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + bytes.length);
        }
        return bytes[id];
    }

    /** How many bytes to skip at the start of the first non-empty piece of a text (0 or 1). */
    int leadingSpaceToDrop(byte[] firstPiece) {
        return dropLeadingSpace && firstPiece.length > 0 && firstPiece[0] == ' ' ? 1 : 0;
    }

    String decode(int[] ids) {
        byte[] all = new byte[64];
        int length = 0;
        boolean started = false;
        for (int id : ids) {
            byte[] piece = bytes(id);
            int skip = 0;
            if (!started && piece.length > 0) {
                started = true;
                skip = leadingSpaceToDrop(piece);
            }
            int n = piece.length - skip;
            if (length + n > all.length) {
                all = Arrays.copyOf(all, Math.max(length + n, 2 * all.length));
            }
            System.arraycopy(piece, skip, all, length, n);
            length += n;
        }
        StringBuilder out = new StringBuilder(length);
        Utf8.decode(all, 0, length, out);
        return out.toString();
    }

    StreamingDecoder decoder() {
        return new StreamingDecoder(this);
    }
}
