package ringattn.transport.ucx;

/** Text that came from outside (a peer, a file, the environment) made safe to print in one line. */
final class Messages {
    /** The longest piece of outside text an error message repeats, in characters. */
    static final int MAX = 200;

    private Messages() {
    }

    /** The longest failure reason repeated from an authenticated rank, in characters. */
    static final int MAX_REASON = 2000;

    /** {@code s} with control characters replaced and cut to {@link #MAX} characters. */
    static String cut(String s) {
        return cut(s, MAX);
    }

    /** {@code s} with control characters replaced and cut to {@code max} characters. */
    static String cut(String s, int max) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder(Math.min(s.length(), max + 3));
        for (int i = 0; i < s.length() && b.length() < max; i++) {
            char c = s.charAt(i);
            b.append(Character.isISOControl(c) ? '?' : c);
        }
        if (s.length() > max) {
            b.append("...");
        }
        return b.toString();
    }
}
