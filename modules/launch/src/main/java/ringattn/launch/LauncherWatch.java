package ringattn.launch;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntConsumer;

/**
 * Stops a rank when the launcher that started it dies, SIGKILL included. {@link LocalLauncher} passes
 * its own pid to every rank in {@value #PARENT_PID_ENV}; a rank that calls {@link #startFromEnvironment}
 * gets a daemon thread that checks every {@link #POLL} whether that process still runs (and, when the
 * launcher is the rank's parent, whether the rank is still its child: a killed launcher that nobody has
 * reaped yet still looks alive by pid). Once it is gone the thread prints
 * {@code ringattn: rank R: launcher (pid P) exited; stopping} on stderr, runs the rank's cleanup and
 * exits with status {@value #EXIT_CODE}; printing and cleanup, then the shutdown hooks, get
 * {@link #EXIT_GRACE} each before the rank halts. Ranks started by srun or mpirun have no such variable:
 * their launcher ends them. Thread-safe; at most one watch per JVM.
 */
public final class LauncherWatch {
    /** The environment variable holding the launcher's pid. */
    public static final String PARENT_PID_ENV = "RINGATTN_PARENT_PID";
    /** The exit status of a rank whose launcher died (the CLI's "a rank failed"). */
    public static final int EXIT_CODE = 3;
    /** How often the launcher is checked. */
    static final Duration POLL = Duration.ofMillis(200);
    /** How long printing and cleanup, then the shutdown hooks, may each take before the rank goes on. */
    static final Duration EXIT_GRACE = Duration.ofSeconds(5);

    private static final AtomicBoolean STARTED = new AtomicBoolean();

    private LauncherWatch() {
    }

    /**
     * Starts the watch when {@code env} names a launcher pid in {@value #PARENT_PID_ENV} (the rank is
     * read from RINGATTN_RANK); {@code cleanup} runs before the exit, its failures are printed and
     * ignored. Returns whether a watch was started by this call (false without the variable, or when
     * one already runs).
     *
     * @throws IllegalArgumentException when the variable is not a pid
     */
    public static boolean startFromEnvironment(Map<String, String> env, Runnable cleanup) {
        String value = env.get(PARENT_PID_ENV);
        if (value == null || value.isBlank()) {
            return false;
        }
        long pid;
        try {
            pid = Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            pid = -1;
        }
        if (pid <= 0) {
            throw new IllegalArgumentException(PARENT_PID_ENV + ": expected the launcher's process id, got '" + value + "'");
        }
        if (!STARTED.compareAndSet(false, true)) {
            return false;
        }
        watch(pid, env.getOrDefault("RINGATTN_RANK", "?"), System.err, cleanup, LauncherWatch::exit);
        return true;
    }

    /**
     * Starts a daemon thread that waits until process {@code pid} is gone, then prints the stop line to
     * {@code err}, runs {@code cleanup} (both bounded by {@link #EXIT_GRACE}) and calls {@code stop} with
     * {@value #EXIT_CODE}. Interrupting the thread ends the watch without stopping.
     */
    static Thread watch(long pid, String rank, PrintStream err, Runnable cleanup, IntConsumer stop) {
        Optional<ProcessHandle> launcher = ProcessHandle.of(pid);
        boolean child = parentIs(pid);
        return Thread.ofPlatform().daemon().name("ringattn-launcher-watch").start(() -> {
            while (launcher.map(ProcessHandle::isAlive).orElse(false) && (!child || parentIs(pid))) {
                try {
                    Thread.sleep(POLL);
                } catch (InterruptedException e) {
                    return;
                }
            }
            // A stderr pipe nobody reads, or a cleanup stuck on a dead filesystem, must not keep the rank alive.
            Thread last = Thread.ofPlatform().daemon().name("ringattn-launcher-watch-cleanup").start(() -> {
                err.println("ringattn: rank " + rank + ": launcher (pid " + pid + ") exited; stopping");
                err.flush();
                try {
                    cleanup.run();
                } catch (RuntimeException e) {
                    err.println("ringattn: rank " + rank + ": cleanup failed: " + e.getMessage());
                    err.flush();
                }
            });
            try {
                last.join(EXIT_GRACE);
            } catch (InterruptedException ignored) {
                // stop now
            }
            stop.accept(EXIT_CODE);
        });
    }

    private static boolean parentIs(long pid) {
        return ProcessHandle.current().parent().map(p -> p.pid() == pid).orElse(false);
    }

    /** Exits, running shutdown hooks for at most {@link #EXIT_GRACE}. */
    private static void exit(int code) {
        Thread.ofPlatform().daemon().name("ringattn-launcher-watch-halt").start(() -> {
            try {
                Thread.sleep(EXIT_GRACE);
            } catch (InterruptedException ignored) {
                // halt now
            }
            Runtime.getRuntime().halt(code);
        });
        System.exit(code);
    }
}
