package ringattn.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import ringattn.engine.transport.RankFailedException;
import ringattn.io.FileFormatException;
import ringattn.transport.ucx.ConfigurationException;

/**
 * The {@code ringattn} command: {@code demo}, {@code run}, {@code worker}, {@code bench}, {@code prefill}. Exit codes
 * in {@link ExitCode}; errors are one {@code error: ...} line on stderr naming the argument, file or
 * rank, with a stack trace only under {@code --debug}.
 */
public final class Main {
    private static final Map<String, Command> COMMANDS = new LinkedHashMap<>();

    static {
        for (Command c : List.of(new DemoCommand(), new RunCommand(), new WorkerCommand(), new BenchCommand(),
                new PrefillCommand(), new GenerateCommand())) {
            COMMANDS.put(c.name(), c);
        }
    }

    private Main() {
    }

    public static void main(String[] args) {
        ringattn.transport.ucx.LogFormat.oneLine();
        int code = run(args, System.out, System.err);
        System.out.flush();
        System.err.flush();
        System.exit(code);
    }

    /** Runs the command in this JVM and returns its exit code (for tests and embedding). */
    public static int run(String[] argv, PrintStream out, PrintStream err) {
        ringattn.io.HeapHighWater.track(); // before the job's first collection
        List<String> args = new ArrayList<>(List.of(argv));
        boolean debug = args.remove("--debug");
        if (args.isEmpty() || args.getFirst().equals("--help") || args.getFirst().equals("-h")
                || args.getFirst().equals("help")) {
            out.print(overview());
            return args.isEmpty() ? ExitCode.USAGE : ExitCode.OK;
        }
        Command command = COMMANDS.get(args.getFirst());
        if (command == null) {
            err.println("error: unknown command '" + args.getFirst() + "' (commands: " + String.join(", ", COMMANDS.keySet())
                    + "; try --help)");
            return ExitCode.USAGE;
        }
        List<String> rest = args.subList(1, args.size());
        if (rest.contains("--help") || rest.contains("-h")) {
            out.print(command.help());
            return ExitCode.OK;
        }
        try {
            return command.run(new ArrayList<>(rest), out, err);
        } catch (Throwable t) {
            int code = exitCode(t);
            err.println("error: " + message(t, code));
            if (debug) {
                t.printStackTrace(err);
            } else if (code == ExitCode.FAILURE) {
                err.println("(run with --debug for the stack trace)");
            }
            return code;
        }
    }

    /** The exit code for a failure: the first cause that is ours decides. */
    static int exitCode(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof UsageException || c instanceof FileFormatException || c instanceof ConfigurationException) {
                return ExitCode.USAGE; // a refused or misconfigured rank: the job's setup, not a failed rank
            }
            if (c instanceof RankFailure || c instanceof RankFailedException) {
                return ExitCode.RANK_FAILED;
            }
            if (c instanceof IllegalArgumentException && c.getStackTrace().length > 0
                    && c.getStackTrace()[0].getClassName().startsWith("ringattn.")) {
                return ExitCode.USAGE; // our and the engine's argument checks name the argument
            }
        }
        return ExitCode.FAILURE;
    }

    private static String message(Throwable t, int code) {
        Throwable shown = t;
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof UsageException || c instanceof FileFormatException || c instanceof RankFailure
                    || c instanceof RankFailedException || c instanceof ConfigurationException) {
                shown = c;
                break;
            }
        }
        String m = shown.getMessage();
        if (m == null || m.isBlank() || code == ExitCode.FAILURE) {
            m = shown.getClass().getSimpleName() + (m == null ? "" : ": " + m);
        }
        return m.replace('\n', ' ').replace('\r', ' ');
    }

    static String overview() {
        StringBuilder b = new StringBuilder("usage: ringattn <command> [options]\n\n");
        for (Command c : COMMANDS.values()) {
            b.append(String.format("  %-8s %s%n", c.name(), c.summary()));
        }
        b.append("\n  <command> --help   options of a command\n");
        b.append("\nexit codes: 0 ok, 2 bad usage or input, 3 a rank failed or timed out, 1 anything else (a demo's error above "
                + "--tolerance included)\n");
        return b.toString();
    }
}
