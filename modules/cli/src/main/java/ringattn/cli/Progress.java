package ringattn.cli;

import java.io.PrintStream;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Progress on stderr. On a terminal ({@link System#console()} is a terminal) a one-line bar redrawn
 * in place: {@code [#####.....] 2/4 phase}. Otherwise, so that batch logs show where a job is, whole
 * lines {@code ringattn: phase} at most one per interval, the first one interval after the start
 * (jobs shorter than that stay silent): {@value #DEFAULT_INTERVAL_SECONDS} s, or
 * {@code RINGATTN_PROGRESS_SECONDS} (0: no lines). Thread-safe (methods synchronize).
 */
public final class Progress {
    /** Seconds between two progress lines when stderr is not a terminal. */
    static final double DEFAULT_INTERVAL_SECONDS = 3;
    /** The environment variable that sets the interval, seconds (0 turns the lines off). */
    static final String INTERVAL_ENV = "RINGATTN_PROGRESS_SECONDS";
    private static final int WIDTH = 24;

    private enum Mode { BAR, LINES, OFF }

    private final PrintStream err;
    private final Mode mode;
    private final int total;
    private final LongSupplier nanoClock;
    private final long intervalNanos;
    private long lastLineNanos;
    private String lastPhase;
    private int done;

    private Progress(PrintStream err, Mode mode, int total, LongSupplier nanoClock, long intervalNanos) {
        this.err = err;
        this.mode = mode;
        this.total = Math.max(1, total);
        this.nanoClock = nanoClock;
        this.intervalNanos = intervalNanos;
        this.lastLineNanos = nanoClock.getAsLong();
    }

    /**
     * Progress of {@code total} steps on {@code err}: a bar on a terminal, timed lines when
     * {@code err} is this process's stderr and not a terminal, nothing on other streams.
     */
    public static Progress of(PrintStream err, int total) {
        java.io.Console console = System.console();
        // Since JDK 22 System.console() exists even when redirected; isTerminal() tells a real terminal.
        if (err != System.err) {
            return new Progress(err, Mode.OFF, total, System::nanoTime, 0);
        }
        if (console != null && console.isTerminal()) {
            return new Progress(err, Mode.BAR, total, System::nanoTime, 0);
        }
        Duration interval = interval(System.getenv(INTERVAL_ENV));
        return interval.isZero() ? new Progress(err, Mode.OFF, total, System::nanoTime, 0)
                : lines(err, total, System::nanoTime, interval);
    }

    /** Timed lines on {@code err}, at most one per {@code interval} of {@code nanoClock} (tests give a fake clock). */
    static Progress lines(PrintStream err, int total, LongSupplier nanoClock, Duration interval) {
        return new Progress(err, Mode.LINES, total, nanoClock, interval.toNanos());
    }

    /** No output at all. */
    static Progress off() {
        return new Progress(System.err, Mode.OFF, 1, System::nanoTime, 0);
    }

    /** The interval from {@code RINGATTN_PROGRESS_SECONDS} (null: the default); a bad value is an error naming it. */
    static Duration interval(String env) {
        if (env == null || env.isBlank()) {
            return Duration.ofMillis((long) (DEFAULT_INTERVAL_SECONDS * 1000));
        }
        try {
            double s = Double.parseDouble(env.trim());
            if (s >= 0 && s <= 86_400) {
                return Duration.ofMillis((long) Math.ceil(s * 1000));
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new UsageException(INTERVAL_ENV, "expected seconds between 0 and 86400, got '" + env + "'");
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

    /** Clears the bar (lines stay). */
    public synchronized void finish() {
        if (mode == Mode.BAR) {
            err.print("\r" + " ".repeat(WIDTH + 60) + "\r");
            err.flush();
        }
    }

    private void draw(String phase) {
        switch (mode) {
            case BAR -> {
                int filled = done * WIDTH / total;
                String line = "[" + "#".repeat(filled) + ".".repeat(WIDTH - filled) + "] " + done + "/" + total + " " + phase;
                err.print("\r" + line + " ".repeat(Math.max(0, 60 - phase.length())));
                err.flush();
            }
            case LINES -> {
                long now = nanoClock.getAsLong();
                if (now - lastLineNanos >= intervalNanos && !phase.equals(lastPhase)) {
                    lastLineNanos = now;
                    lastPhase = phase;
                    err.println("ringattn: " + phase);
                    err.flush();
                }
            }
            case OFF -> {
            }
        }
    }
}
