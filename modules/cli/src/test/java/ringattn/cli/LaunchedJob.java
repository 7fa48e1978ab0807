package ringattn.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real launcher (mpirun, srun, salloc, sbatch) started by a test: its stderr is read line by line
 * as it comes (so a test can wait for a rank's banner), its stdout goes to a file. Every wait is
 * bounded; {@link #close()} destroys the launcher and its descendants. Not thread-safe: one test
 * thread drives it (the reader thread only appends).
 */
final class LaunchedJob implements AutoCloseable {
    private static final Pattern BANNER = Pattern.compile("^rank (\\d+)/(\\d+) pid (\\d+) host (\\S+)");
    private static final Pattern SRUN_TASKS = Pattern.compile(
            "^srun: error: \\S+: tasks? ([0-9,-]+): (Exited with exit code (\\d+)|Killed)", Pattern.MULTILINE);
    private static final Pattern MPIRUN_FIRST_EXIT = Pattern.compile(
            "Process name: +\\[\\[\\d+,\\d+],(\\d+)]\\s+Exit code: +(\\d+)");

    private final String name;
    private final Process process;
    private final Path out;
    private final Thread reader;
    private final LinkedBlockingQueue<String> unread = new LinkedBlockingQueue<>();
    private final StringBuffer err = new StringBuffer();

    private LaunchedJob(String name, Process process, Path out) {
        this.name = name;
        this.process = process;
        this.out = out;
        this.reader = Thread.ofPlatform().daemon().name("stderr of " + name).start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getErrorStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    err.append(line).append('\n');
                    unread.add(line);
                }
            } catch (IOException | UncheckedIOException ignored) {
                // the launcher is gone
            }
        });
    }

    /**
     * Starts {@code command} in {@code dir} with the inherited environment minus every launcher's and
     * ringattn's variables, plus {@code env}.
     */
    static LaunchedJob start(String name, List<String> command, Map<String, String> env, Path dir) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("RINGATTN_") || k.startsWith("SLURM_")
                || k.startsWith("OMPI_") || k.startsWith("PMI_") || k.startsWith("PMIX_") || k.startsWith("SALLOC_")
                || k.startsWith("SBATCH_") || k.startsWith("SRUN_"));
        pb.environment().putAll(env);
        Path out = Files.createTempFile(dir, name + "-", ".out");
        pb.redirectOutput(out.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        return new LaunchedJob(name, pb.start(), out);
    }

    /** The launcher's exit code; fails (after destroying it) when it has not ended within {@code bound}. */
    int exitCode(Duration bound) throws InterruptedException {
        if (!process.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS)) {
            close();
            throw new AssertionError(name + " did not end within " + bound + "\n" + this);
        }
        reader.join(Duration.ofSeconds(10)); // the rest of stderr, unless a leftover holds the pipe
        return process.exitValue();
    }

    /** Waits (bounded) for a stderr line matching {@code p}, among the lines not yet waited for; returns it. */
    Matcher awaitLine(Pattern p, Duration bound) throws InterruptedException {
        long end = System.nanoTime() + bound.toNanos();
        while (true) {
            String line = unread.poll(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (line == null) {
                throw new AssertionError("no stderr line of " + name + " matched /" + p + "/ within " + bound + "\n" + this);
            }
            Matcher m = p.matcher(line);
            if (m.find()) {
                return m;
            }
        }
    }

    /** Waits (bounded) for every rank's banner {@code rank R/N pid P host H}; returns pid by rank. */
    Map<Integer, Long> rankPids(int worldSize, Duration bound) throws InterruptedException {
        Map<Integer, Long> pids = new TreeMap<>();
        long end = System.nanoTime() + bound.toNanos();
        while (pids.size() < worldSize) {
            Matcher m = awaitLine(BANNER, Duration.ofNanos(Math.max(1, end - System.nanoTime())));
            if (Integer.parseInt(m.group(2)) != worldSize) {
                throw new AssertionError("a rank of " + name + " says world size " + m.group(2) + ", not " + worldSize
                        + "\n" + this);
            }
            if (pids.put(Integer.parseInt(m.group(1)), Long.parseLong(m.group(3))) != null) {
                throw new AssertionError("two ranks of " + name + " say they are rank " + m.group(1) + "\n" + this);
            }
        }
        return pids;
    }

    /** The ranks' banners in {@code text}, rank by rank; a rank that said it twice has both, joined by " AND ". */
    static Map<Integer, String> banners(String text) {
        Map<Integer, String> b = new TreeMap<>();
        text.lines().map(BANNER::matcher).filter(Matcher::find).forEach(m -> b.merge(
                Integer.parseInt(m.group(1)), m.group(), (x, y) -> x + " AND " + y));
        return b;
    }

    /** The lines of {@code text} that start with {@code error:} (ringattn's one-line errors). */
    static List<String> errorLines(String text) {
        return new ArrayList<>(text.lines().filter(l -> l.startsWith("error:")).toList());
    }

    /**
     * How srun says each task ended, {@code task -> "3"} or {@code "Killed"}; srun lists only the
     * tasks that did not exit 0.
     */
    Map<Integer, String> srunTaskExits(int tasks) {
        Map<Integer, String> exits = new TreeMap<>();
        for (int r = 0; r < tasks; r++) {
            exits.put(r, "0");
        }
        Matcher m = SRUN_TASKS.matcher(stderr());
        while (m.find()) {
            String exit = m.group(3) != null ? m.group(3) : "Killed";
            for (String part : m.group(1).split(",")) {
                String[] range = part.split("-");
                for (int r = Integer.parseInt(range[0]); r <= Integer.parseInt(range[range.length - 1]); r++) {
                    exits.put(r, exit);
                }
            }
        }
        return exits;
    }

    /** The rank mpirun names as the first to exit non-zero, with its exit code ({@code [rank, code]}), if it names one. */
    java.util.Optional<int[]> mpirunFirstExit() {
        Matcher m = MPIRUN_FIRST_EXIT.matcher(stderr());
        return m.find() ? java.util.Optional.of(new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))})
                : java.util.Optional.empty();
    }

    /**
     * The processes (other than this JVM) whose command line contains {@code text}, as "pid command".
     * Linux shows at most 4096 characters of a command line: markers must come early in it.
     */
    static List<String> processesWith(String text) {
        return ProcessHandle.allProcesses().filter(p -> commandLine(p).contains(text))
                .map(p -> p.pid() + " " + commandLine(p).substring(0, Math.min(200, commandLine(p).length()))).toList();
    }

    /** Kills (SIGKILL) the processes whose command line contains {@code text}. */
    static void killProcessesWith(String text) {
        ProcessHandle.allProcesses().filter(p -> commandLine(p).contains(text)).forEach(ProcessHandle::destroyForcibly);
    }

    private static String commandLine(ProcessHandle p) {
        return p.pid() == ProcessHandle.current().pid() ? "" : p.info().commandLine().orElse("");
    }

    /** Sends signal {@code name} (STOP, CONT, KILL, ...) to {@code pid} with kill(1); a gone process is no error. */
    static void signal(String name, long pid) throws IOException, InterruptedException {
        new ProcessBuilder("kill", "-" + name, Long.toString(pid)).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start().waitFor(10, TimeUnit.SECONDS);
    }

    String stderr() {
        return err.toString();
    }

    String stdout() {
        try {
            return Files.readString(out, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The stderr lines that start with {@code error:}. */
    List<String> errorLines() {
        return errorLines(stderr());
    }

    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
    }

    @Override
    public String toString() {
        return "--- " + name + " stdout\n" + stdout() + "--- " + name + " stderr\n" + stderr();
    }
}
