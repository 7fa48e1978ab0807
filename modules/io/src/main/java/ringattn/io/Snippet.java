package ringattn.io;

/**
 * Text taken from an untrusted file (a tensor name, a dtype, a JSON value, a path an index names),
 * made fit for a one-line error message: control characters escaped as {@code \\uXXXX}, and the
 * result cut to {@value #MAX_CHARS} characters, saying the full length, when longer. Readers quote
 * file content only through this, so a hostile file can neither flood a message nor split it
 * across lines. Stateless and thread-safe.
 */
public final class Snippet {
    /** Most characters of the value kept in a message. */
    public static final int MAX_CHARS = 64;

    private Snippet() {
    }

    /**
     * {@code String.valueOf(value)}, control characters escaped, cut after at most {@value #MAX_CHARS}
     * characters (never inside an escape or a surrogate pair) and followed by {@code "... (N chars)"}
     * (N: the value's length) when longer.
     */
    public static String of(Object value) {
        String s = String.valueOf(value);
        StringBuilder b = new StringBuilder(MAX_CHARS + 24);
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            int step = Character.isHighSurrogate(c) && i + 1 < s.length() ? 2 : 1;
            String piece = Character.isISOControl(c) || c == '\u2028' || c == '\u2029'
                    ? String.format("\\u%04x", (int) c)
                    : s.substring(i, i + step);
            if (b.length() + piece.length() > MAX_CHARS) {
                break;
            }
            b.append(piece);
            i += step;
        }
        if (i < s.length()) {
            b.append("... (").append(s.length()).append(" chars)");
        }
        return b.toString();
    }
}
