package ringattn.model.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * UTF-8 as the tokenizers need it: text to bytes with lone surrogates replaced, and bytes back to text
 * with every ill-formed part replaced by U+FFFD following the Unicode standard's "maximal subpart"
 * practice (§3.9, also WHATWG's and Python's {@code errors="replace"}): an invalid lead byte is one
 * U+FFFD, a sequence broken after a valid prefix is one U+FFFD for that prefix, and decoding resumes
 * at the byte that broke it. Because a valid prefix ends only at a byte that cannot continue it,
 * decoding in pieces cut before an incomplete trailing sequence ({@link #incompleteTail}) gives the
 * same text as decoding all at once. Stateless.
 */
final class Utf8 {
    static final char REPLACEMENT = '\uFFFD';

    private Utf8() {
    }

    /** {@code s} with each lone (unpaired) surrogate replaced by U+FFFD; {@code s} itself when it has none. */
    static String wellFormed(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!Character.isSurrogate(c)) {
                continue;
            }
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
                continue;
            }
            if (b == null) {
                b = new StringBuilder(s);
            }
            b.setCharAt(i, REPLACEMENT);
        }
        return b == null ? s : b.toString();
    }

    /** The UTF-8 bytes of {@code s}, lone surrogates encoded as U+FFFD (EF BF BD). */
    static byte[] bytes(String s) {
        return wellFormed(s).getBytes(StandardCharsets.UTF_8);
    }

    /** Bytes of the sequence a lead byte starts (1 to 4), or 0 when {@code lead} cannot start one. */
    static int sequenceLength(int lead) {
        if (lead < 0x80) {
            return 1;
        }
        if (lead < 0xC2) {
            return 0; // continuation byte, or C0/C1 (overlong)
        }
        if (lead < 0xE0) {
            return 2;
        }
        if (lead < 0xF0) {
            return 3;
        }
        return lead < 0xF5 ? 4 : 0;
    }

    /**
     * Whether {@code b} may follow {@code lead} at position {@code index} (1, 2 or 3) of a sequence:
     * a continuation byte, with the narrower second-byte ranges that exclude overlong forms,
     * surrogates and code points above U+10FFFF.
     */
    static boolean continues(int lead, int index, int b) {
        if (index == 1) {
            return switch (lead) {
                case 0xE0 -> b >= 0xA0 && b <= 0xBF;
                case 0xED -> b >= 0x80 && b <= 0x9F;
                case 0xF0 -> b >= 0x90 && b <= 0xBF;
                case 0xF4 -> b >= 0x80 && b <= 0x8F;
                default -> (b & 0xC0) == 0x80;
            };
        }
        return (b & 0xC0) == 0x80;
    }

    /**
     * Appends the text of {@code bytes[from, to)} to {@code out}, ill-formed parts as U+FFFD (one per
     * maximal subpart; an incomplete sequence at {@code to} is one U+FFFD).
     */
    static void decode(byte[] bytes, int from, int to, StringBuilder out) {
        int i = from;
        while (i < to) {
            int lead = bytes[i] & 0xFF;
            int n = sequenceLength(lead);
            if (n == 1) {
                out.append((char) lead);
                i++;
                continue;
            }
            if (n == 0) {
                out.append(REPLACEMENT);
                i++;
                continue;
            }
            int k = 1;
            while (k < n && i + k < to && continues(lead, k, bytes[i + k] & 0xFF)) {
                k++;
            }
            if (k < n) {
                out.append(REPLACEMENT); // the maximal subpart bytes[i, i + k)
                i += k;
                continue;
            }
            int cp = lead & (0xFF >> (n + 1));
            for (int j = 1; j < n; j++) {
                cp = (cp << 6) | (bytes[i + j] & 0x3F);
            }
            out.appendCodePoint(cp);
            i += n;
        }
    }

    /**
     * How many bytes at the end of {@code bytes[from, to)} are a valid but incomplete sequence (0 to
     * 3): the bytes to hold back until the next ones arrive. Zero when the range ends on a complete
     * character or on ill-formed bytes that no later byte can repair.
     */
    static int incompleteTail(byte[] bytes, int from, int to) {
        for (int back = 1; back <= 3 && to - back >= from; back++) {
            int lead = bytes[to - back] & 0xFF;
            if ((lead & 0xC0) == 0x80) {
                continue; // a continuation byte: its lead is further back
            }
            int n = sequenceLength(lead);
            if (n <= back) {
                return 0; // ASCII, an invalid lead, or a sequence already complete
            }
            for (int k = 1; k < back; k++) {
                if (!continues(lead, k, bytes[to - back + k] & 0xFF)) {
                    return 0;
                }
            }
            return back;
        }
        return 0;
    }
}
