package ringattn.cli;

import java.io.PrintStream;

/**
 * A one-line progress display on stderr, drawn only when stderr is a terminal
 * ({@link System#console()} is a terminal): {@code [#####.....] 2/4 phase}. Otherwise silent, so logs
 * and pipes stay clean. Thread-safe (methods synchronize).
 */
public final class Progress {
    private static final int WIDTH = 24;
    private final PrintStream err;
    private final boolean enabled;
    private final int total;
    private int done;

    private Progress(PrintStream err, boolean enabled, int total) {
        this.err = err;
        this.enabled = enabled;
        this.total = Math.max(1, total);
    }

    /** A bar of {@code total} steps on {@code err}, shown only on a terminal. */
    public static Progress of(PrintStream err, int total) {
        java.io.Console console = System.console();
        // Since JDK 22 System.console() exists even when redirected; isTerminal() tells a real terminal.
        return new Progress(err, console != null && console.isTerminal() && err == System.err, total);
    }

    /** Marks one more step done, now in {@code phase}. */
    public synchronized void step(String phase) {
        done = Math.min(total, done + 1);
        draw(phase);
    }

    /** Shows {@code phase} without advancing. */
    public synchronized void phase(String phase) {
        draw(phase);
    }

    /** Clears the line. */
    public synchronized void finish() {
        if (enabled) {
            err.print("\r" + " ".repeat(WIDTH + 60) + "\r");
            err.flush();
        }
    }

    private void draw(String phase) {
        if (!enabled) {
            return;
        }
        int filled = done * WIDTH / total;
        String line = "[" + "#".repeat(filled) + ".".repeat(WIDTH - filled) + "] " + done + "/" + total + " " + phase;
        err.print("\r" + line + " ".repeat(Math.max(0, 60 - phase.length())));
        err.flush();
    }
}
