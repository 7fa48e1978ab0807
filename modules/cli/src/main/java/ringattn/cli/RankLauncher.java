package ringattn.cli;

import java.io.File;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import ringattn.launch.LocalLauncher;

/**
 * Starts the ranks of a job as {@code worker} processes on this machine through {@code ringattn.launch}'s
 * {@link LocalLauncher}, with the same JVM and module path as this process: the launcher script's
 * {@code RINGATTN_LAUNCH_CMD} when set, else this process's java command and {@code jdk.module.path}
 * (or class path). A failed rank becomes a {@link RankFailure}. Stateless.
 */
public final class RankLauncher {
    static final String MAIN_MODULE_CLASS = "ringattn.cli/ringattn.cli.Main";

    private RankLauncher() {
    }

    /** The result of a successful job: process ids by rank. */
    public record Launched(List<Long> pids) {
    }

    /**
     * Runs {@code ranks} processes of {@code ringattn worker <args>}; their output goes to {@code out}
     * and {@code err} prefixed with {@code [rank R]}.
     *
     * @throws RankFailure when a rank exits non-zero or the deadline passes
     */
    public static Launched run(int ranks, List<String> workerArgs, Map<String, String> env, Duration deadline,
                               PrintStream out, PrintStream err) {
        return run(ranks, List.of(), workerArgs, env, deadline, out, err);
    }

    /**
     * As {@link #run(int, List, Map, Duration, PrintStream, PrintStream)}, with {@code jvmOptions} for
     * the ranks' JVMs, placed before the launcher's own options (where the user's
     * {@code RINGATTN_JVM_OPTS} are), so that the user's win on a conflict.
     */
    public static Launched run(int ranks, List<String> jvmOptions, List<String> workerArgs, Map<String, String> env,
                               Duration deadline, PrintStream out, PrintStream err) {
        List<String> args = new ArrayList<>();
        args.add("worker");
        args.addAll(workerArgs);
        LocalLauncher.Spec spec = spec(args, env, deadline);
        if (!jvmOptions.isEmpty()) {
            List<String> jvm = new ArrayList<>(jvmOptions);
            jvm.addAll(spec.jvmArgs());
            spec = new LocalLauncher.Spec(spec.java(), jvm, spec.classPath(), spec.modulePath(), spec.mainClass(),
                    spec.args(), spec.env(), spec.deadline(), spec.failureGrace(), spec.rankPrefix());
        }
        LocalLauncher.Result result = LocalLauncher.run(spec, ranks, out, err);
        if (!result.succeeded()) {
            int r = result.failedRank();
            String why = result.failure() != null ? result.failure() : "exit codes " + result.exitCodes();
            throw new RankFailure(r, (r >= 0 ? "rank " + r + " failed" : "the job failed") + ": " + why);
        }
        return new Launched(result.pids());
    }

    /** The launch spec for this process's JVM. */
    static LocalLauncher.Spec spec(List<String> args, Map<String, String> env, Duration deadline) {
        String cmd = System.getenv("RINGATTN_LAUNCH_CMD");
        if (cmd != null && !cmd.isBlank()) {
            // One word per line (paths may contain spaces); a single line is split on whitespace.
            List<String> words = new ArrayList<>(Arrays.asList(cmd.contains("\n")
                    ? cmd.strip().split("\n") : cmd.trim().split("\\s+")));
            words.removeIf(String::isEmpty);
            Path java = Path.of(words.removeFirst());
            String modulePath = null;
            List<String> jvm = new ArrayList<>();
            for (int i = 0; i < words.size(); i++) {
                String w = words.get(i);
                if (w.equals("-m") || w.equals("--module")) {
                    break; // the main module follows; we add our own
                }
                if ((w.equals("--module-path") || w.equals("-p")) && i + 1 < words.size()) {
                    modulePath = words.get(++i);
                } else if (w.startsWith("--module-path=")) {
                    modulePath = w.substring("--module-path=".length());
                } else {
                    jvm.add(w);
                }
            }
            return new LocalLauncher.Spec(java, jvm, null, modulePath, modulePath != null ? MAIN_MODULE_CLASS
                    : Main.class.getName(), args, env, deadline, Duration.ofSeconds(5), null);
        }
        Path java = ProcessHandle.current().info().command().map(Path::of)
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java"));
        List<String> jvm = new ArrayList<>(List.of("--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED,ringattn.engine,ringattn.cli,ringattn.transport.ucx,ringattn.cuda,jucx",
                "-Djava.awt.headless=true"));
        String modulePath = System.getProperty("jdk.module.path");
        if (modulePath != null && !modulePath.isEmpty() && Main.class.getModule().isNamed()) {
            return new LocalLauncher.Spec(java, jvm, null, modulePath, MAIN_MODULE_CLASS, args, env, deadline,
                    Duration.ofSeconds(5), null);
        }
        String cp = System.getProperty("java.class.path", "");
        if (modulePath != null && !modulePath.isEmpty()) {
            cp = cp.isEmpty() ? modulePath : cp + File.pathSeparator + modulePath;
        }
        return new LocalLauncher.Spec(java, jvm, cp, null, Main.class.getName(), args, env, deadline,
                Duration.ofSeconds(5), null);
    }
}
