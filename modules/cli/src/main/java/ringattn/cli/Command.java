package ringattn.cli;

import java.io.PrintStream;
import java.util.List;

/** A subcommand of {@code ringattn}. Implementations are stateless. */
interface Command {
    /** The word that selects it. */
    String name();

    /** One line for the overview. */
    String summary();

    /** The full help text ({@code ringattn NAME --help}). */
    String help();

    /** Runs with the arguments after the subcommand's name; returns the exit code. */
    int run(List<String> args, PrintStream out, PrintStream err);

    /** Help text from a synopsis, a description and options. */
    static String help(String synopsis, String description, List<Option> options) {
        StringBuilder b = new StringBuilder("usage: ringattn ").append(synopsis).append("\n\n").append(description)
                .append("\n\noptions:\n");
        int width = options.stream().mapToInt(o -> o.usage().length()).max().orElse(10) + 2;
        for (Option o : options) {
            b.append("  ").append(String.format("%-" + width + "s", o.usage())).append(o.help()).append('\n');
        }
        b.append("  ").append(String.format("%-" + width + "s", "--help")).append("this help\n");
        b.append("  ").append(String.format("%-" + width + "s", "--debug")).append("stack traces on errors\n");
        return b.toString();
    }
}
