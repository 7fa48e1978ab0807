package ringattn.cli;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import ringattn.launch.LocalLauncher;

/** Runs {@code ringattn} as a separate JVM (same module path as the tests), with extra environment. */
final class CliProcess {
    private CliProcess() {
    }

    /** The java command line for {@code args}. */
    static List<String> command(List<String> args) {
        LocalLauncher.Spec spec = RankLauncher.spec(args, Map.of(), Duration.ofMinutes(2));
        List<String> cmd = new ArrayList<>();
        cmd.add(spec.java().toString());
        cmd.addAll(spec.jvmArgs());
        if (spec.modulePath() != null) {
            cmd.add("-p");
            cmd.add(spec.modulePath());
            cmd.add("-m");
        } else {
            cmd.add("-cp");
            cmd.add(spec.classPath());
        }
        cmd.add(spec.mainClass());
        cmd.addAll(spec.args());
        return cmd;
    }

    /** Runs to completion (killing it after {@code timeout}); returns exit code and output. */
    static CliRun run(Path dir, Map<String, String> env, Duration timeout, String... args) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command(List.of(args)));
        pb.environment().keySet().removeIf(k -> k.startsWith("RINGATTN_") || k.startsWith("SLURM_"));
        pb.environment().putAll(env);
        Path out = Files.createTempFile(dir, "out", ".txt");
        Path err = Files.createTempFile(dir, "err", ".txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError("ringattn " + String.join(" ", args) + " did not finish in " + timeout);
            }
            return new CliRun(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }
}
