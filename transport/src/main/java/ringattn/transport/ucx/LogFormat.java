package ringattn.transport.ucx;

/**
 * The transport logs through {@link System.Logger} (logger name {@code ringattn.transport.ucx}), so
 * a library user routes it like any other. A command-line program calls {@link #oneLine()} first
 * to print each record as one line on stderr (the message only: every message of ours starts with
 * {@code ringattn: }), as the launcher script configures it too. Thread-safe.
 */
public final class LogFormat {
    private static final String FORMAT = "%5$s%6$s%n"; // the messages carry their "ringattn: " prefix

    private LogFormat() {
    }

    /** Sets the one-line format for java.util.logging and the JDK's simple logger, unless the user set one. */
    public static void oneLine() {
        for (String p : new String[] {"java.util.logging.SimpleFormatter.format", "jdk.system.logger.format"}) {
            if (System.getProperty(p) == null) {
                System.setProperty(p, FORMAT);
            }
        }
    }
}
