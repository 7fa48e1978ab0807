package ringattn.model.tokenizer;

/**
 * What a vocabulary entry is, with the codes GGUF's {@code tokenizer.ggml.token_type} and llama.cpp
 * use. It decides what encoding may produce and what decoding prints:
 * <ul>
 * <li>{@link #NORMAL} (and {@link #UNDEFINED}, treated alike): produced by merging, printed as text;
 * <li>{@link #USER_DEFINED}: matched whole in the input before merging, printed verbatim;
 * <li>{@link #BYTE}: a raw byte {@code <0xNN>} (SentencePiece byte fallback), printed as that byte;
 * <li>{@link #CONTROL} (BOS, EOS, chat markers), {@link #UNKNOWN} and {@link #UNUSED}: never produced
 * from plain text, print nothing.
 * </ul>
 */
public enum TokenType {
    UNDEFINED(0), NORMAL(1), UNKNOWN(2), CONTROL(3), USER_DEFINED(4), UNUSED(5), BYTE(6);

    private static final TokenType[] BY_CODE = values();

    private final int code;

    TokenType(int code) {
        this.code = code;
    }

    /** The GGUF / llama.cpp code (0 to 6). */
    public int code() {
        return code;
    }

    /**
     * The type with GGUF code {@code code}.
     *
     * @throws IllegalArgumentException for a code outside 0..6
     */
    public static TokenType of(int code) {
        if (code < 0 || code >= BY_CODE.length) {
            throw new IllegalArgumentException("token type: expected a code 0..6, got " + code);
        }
        return BY_CODE[code];
    }

    /** The type of entry {@code id} of a list of codes; the message names the entry. */
    static TokenType at(int[] codes, int id) {
        try {
            return of(codes[id]);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("types: entry " + id + ": " + e.getMessage(), e);
        }
    }

    /** The byte a {@link #BYTE} piece {@code <0xNN>} stands for (0..255), or -1 when it is not one. */
    static int byteOf(String piece) {
        if (piece.length() != 6 || !piece.startsWith("<0x") || piece.charAt(5) != '>') {
            return -1;
        }
        int hi = hexDigit(piece.charAt(3));
        int lo = hexDigit(piece.charAt(4));
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    private static int hexDigit(char c) {
        return c < 0x80 ? Character.digit(c, 16) : -1; // ASCII only: no full-width digits
    }

    /** Whether encoding may produce this token from text by merging (NORMAL, UNDEFINED, USER_DEFINED). */
    boolean mergeable() {
        return this == NORMAL || this == UNDEFINED || this == USER_DEFINED;
    }
}
