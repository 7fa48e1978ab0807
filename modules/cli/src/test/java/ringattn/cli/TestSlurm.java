package ringattn.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The real launchers for tests, through {@code .ci/launchers.sh}: Open MPI and Slurm installed (or
 * the reason they cannot be), and a one-node Slurm on loopback whose files live in a directory of
 * the test's. One instance per test class; not thread-safe.
 */
final class TestSlurm {
    static final Path REPO = Path.of("../..").toAbsolutePath().normalize();
    static final Path LAUNCHERS = REPO.resolve(".ci/launchers.sh");

    private final String conf;

    private TestSlurm(String conf) {
        this.conf = conf;
    }

    /** Exit code and output (stdout and stderr together) of a short command. */
    record Result(int code, String output) {
    }

    /** Runs {@code .ci/launchers.sh args}, bounded; its output goes to a file in {@code scratch}. */
    static Result launchers(Path scratch, Duration bound, String... args) throws IOException, InterruptedException {
        Path out = Files.createTempFile(scratch, "launchers", ".txt");
        String[] command = new String[args.length + 2];
        command[0] = "bash";
        command[1] = LAUNCHERS.toString();
        System.arraycopy(args, 0, command, 2, args.length);
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        try {
            if (!p.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError(String.join(" ", command) + " did not end within " + bound + ":\n"
                        + Files.readString(out, StandardCharsets.UTF_8));
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    /**
     * Why the real launchers cannot be tested here (not Linux, not root, or missing and not
     * installable: {@code launchers.sh install} exits 3 with one line), or empty when they can. Installs
     * them when root and missing. Any other failure of the install is an error, not a reason.
     */
    static Optional<String> unavailable(Path scratch) throws IOException, InterruptedException {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            return Optional.of("real launchers: tested on Linux only");
        }
        if (!Files.getAttribute(Path.of("/proc/self"), "unix:uid", LinkOption.NOFOLLOW_LINKS).equals(0)) {
            return Optional.of("real launchers: a one-node Slurm needs root (run as root, as CI does)");
        }
        Result install = launchers(scratch, Duration.ofMinutes(10), "install");
        if (install.code() == 3) {
            return Optional.of("real launchers: " + install.output().strip());
        }
        if (install.code() != 0) {
            throw new AssertionError(".ci/launchers.sh install exited " + install.code() + ":\n" + install.output());
        }
        return Optional.empty();
    }

    /** Starts a Slurm whose config, state and logs live in {@code dir}; waits until its node is idle. */
    static TestSlurm start(Path dir, Path scratch) throws IOException, InterruptedException {
        Result start = launchers(scratch, Duration.ofSeconds(90), "slurm-start", dir.toString());
        Matcher conf = Pattern.compile("(?m)^export SLURM_CONF=(.+)$").matcher(start.output());
        if (start.code() != 0 || !conf.find()) {
            throw new AssertionError(".ci/launchers.sh slurm-start exited " + start.code() + ":\n" + start.output());
        }
        return new TestSlurm(conf.group(1));
    }

    /** Stops what {@link #start} (or a failed start in {@code dir}) left running; harmless when nothing runs. */
    static void stop(Path dir, Path scratch) throws IOException, InterruptedException {
        Result stop = launchers(scratch, Duration.ofSeconds(120), "slurm-stop", dir.toString());
        if (stop.code() != 0) {
            throw new AssertionError(".ci/launchers.sh slurm-stop exited " + stop.code() + ":\n" + stop.output());
        }
    }

    /** The value of SLURM_CONF for this Slurm's clients (srun, salloc, sbatch). */
    String conf() {
        return conf;
    }
}
