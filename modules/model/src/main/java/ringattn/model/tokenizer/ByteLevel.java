package ringattn.model.tokenizer;

import java.io.ByteArrayOutputStream;

/**
 * GPT-2's byte-to-character mapping, used by byte-level BPE vocabularies: each of the 256 byte values
 * is written as one printable character, so that pieces are strings. The printable Latin-1 bytes
 * ({@code !}..{@code ~}, {@code ¡}..{@code ¬}, {@code ®}..{@code ÿ}) stand for themselves; the other 68
 * (controls, space, DEL, NBSP, soft hyphen) become U+0100 upwards in byte order, so a space is
 * {@code Ġ} (U+0120) and a newline {@code Ċ} (U+010A). Stateless.
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[256 + 68];

    static {
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_TO_CHAR[b] = (char) (printable ? b : 256 + extra++);
            CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
        }
    }

    private ByteLevel() {
    }

    /** The character that stands for byte {@code b} (0..255). */
    static char charOf(int b) {
        return BYTE_TO_CHAR[b];
    }

    /** {@code bytes} as byte-level characters, one per byte. */
    static String map(byte[] bytes) {
        char[] c = new char[bytes.length];
        for (int i = 0; i < c.length; i++) {
            c[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(c);
    }

    /**
     * The bytes a byte-level piece stands for. A character outside the mapping (which no byte-level
     * encoding produces) stands for its own UTF-8 bytes.
     */
    static byte[] unmap(String piece) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(piece.length());
        for (int i = 0; i < piece.length(); ) {
            int cp = piece.codePointAt(i);
            if (cp < CHAR_TO_BYTE.length && (cp == BYTE_TO_CHAR[0] || CHAR_TO_BYTE[cp] != 0)) {
                out.write(CHAR_TO_BYTE[cp]);
            } else {
                out.writeBytes(Utf8.bytes(new String(Character.toChars(cp))));
            }
            i += Character.charCount(cp);
        }
        return out.toByteArray();
    }
}
