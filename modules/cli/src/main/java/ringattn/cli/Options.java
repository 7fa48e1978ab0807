package ringattn.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parsed options of one subcommand: {@code --name value}, {@code --name=value} and flags. Unknown
 * options, missing values and stray arguments are {@link UsageException}s naming the argument.
 * Typed getters validate ranges and name the option on failure. Not thread-safe (read-only after
 * parsing in practice).
 */
public final class Options {
    private final String command;
    private final Map<String, String> values = new LinkedHashMap<>();
    private final java.util.Set<String> flags = new java.util.HashSet<>();

    private Options(String command) {
        this.command = command;
    }

    /** Parses {@code args} against the options the subcommand accepts. */
    public static Options parse(String command, List<Option> accepted, List<String> args) {
        Options o = new Options(command);
        Map<String, Option> byName = new LinkedHashMap<>();
        for (Option opt : accepted) {
            byName.put(opt.name(), opt);
        }
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (!a.startsWith("--") || a.length() == 2) {
                throw new UsageException(a, "unexpected argument for '" + command + "' (options start with --; see "
                        + command + " --help)");
            }
            String name = a.substring(2);
            String value = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            Option opt = byName.get(name);
            if (opt == null) {
                throw new UsageException("--" + name, "unknown option for '" + command + "' (see " + command + " --help)");
            }
            if (opt.takesValue()) {
                if (value == null) {
                    if (i + 1 >= args.size()) {
                        throw new UsageException("--" + name, "needs a value " + opt.valueName());
                    }
                    value = args.get(++i);
                }
            } else if (value != null) {
                throw new UsageException("--" + name, "takes no value");
            } else {
                value = "true";
                o.flags.add(name);
            }
            o.values.remove(name); // the last occurrence wins and keeps command-line order
            o.values.put(name, value);
        }
        return o;
    }

    /** The subcommand these options belong to. */
    public String command() {
        return command;
    }

    /** True when the option was given. */
    public boolean has(String name) {
        return values.containsKey(name);
    }

    /** The raw value, or {@code fallback}. */
    public String string(String name, String fallback) {
        return values.getOrDefault(name, fallback);
    }

    /** The raw value; a {@link UsageException} when it is missing. */
    public String required(String name) {
        String v = values.get(name);
        if (v == null) {
            throw new UsageException("--" + name, "is required for '" + command + "'");
        }
        return v;
    }

    /** True when the flag was given. */
    public boolean flag(String name) {
        return values.containsKey(name);
    }

    /**
     * A yes/no pair of flags ({@code --name} / {@code --no-name}): the one given last wins, else
     * {@code fallback}.
     */
    public boolean toggle(String name, boolean fallback) {
        boolean result = fallback;
        for (String k : values.keySet()) {
            if (k.equals(name)) {
                result = true;
            } else if (k.equals("no-" + name)) {
                result = false;
            }
        }
        return result;
    }

    /** An int in {@code [min, max]}, or {@code fallback} when absent. */
    public int intValue(String name, int fallback, int min, int max) {
        String v = values.get(name);
        if (v == null) {
            return fallback;
        }
        return parseInt("--" + name, v, min, max);
    }

    /** A long, or {@code fallback} when absent. */
    public long longValue(String name, long fallback) {
        String v = values.get(name);
        if (v == null) {
            return fallback;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name, "expected an integer, got '" + v + "'");
        }
    }

    /** A finite double, or {@code fallback} when absent. */
    public double doubleValue(String name, double fallback) {
        String v = values.get(name);
        if (v == null) {
            return fallback;
        }
        try {
            double d = Double.parseDouble(v.trim());
            if (!Double.isFinite(d)) {
                throw new NumberFormatException();
            }
            return d;
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name, "expected a finite number, got '" + v + "'");
        }
    }

    /** One of {@code choices} (case-sensitive), or {@code fallback} when absent. */
    public String choice(String name, String fallback, String... choices) {
        String v = values.get(name);
        if (v == null) {
            return fallback;
        }
        for (String c : choices) {
            if (c.equals(v)) {
                return v;
            }
        }
        throw new UsageException("--" + name, "expected one of " + String.join("|", choices) + ", got '" + v + "'");
    }

    /** A comma-separated list of ints in {@code [min, max]}, or {@code fallback} when absent. */
    public List<Integer> intList(String name, List<Integer> fallback, int min, int max) {
        String v = values.get(name);
        if (v == null) {
            return fallback;
        }
        List<Integer> out = new ArrayList<>();
        for (String part : v.split(",", -1)) {
            out.add(parseInt("--" + name, part, min, max));
        }
        return out;
    }

    /** A comma-separated list of strings from {@code choices}, or {@code fallback}. */
    public List<String> choiceList(String name, List<String> fallback, String... choices) {
        String v = values.get(name);
        if (v == null) {
            return fallback;
        }
        List<String> out = new ArrayList<>();
        for (String part : v.split(",", -1)) {
            if (!List.of(choices).contains(part)) {
                throw new UsageException("--" + name, "expected a list of " + String.join("|", choices) + ", got '" + part + "'");
            }
            out.add(part);
        }
        return out;
    }

    /** Parses an int in {@code [min, max]} for {@code argument}. */
    public static int parseInt(String argument, String v, int min, int max) {
        long n;
        try {
            n = Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException(argument, "expected an integer, got '" + v + "'");
        }
        if (n < min || n > max) {
            throw new UsageException(argument, "must be in [" + min + ", " + max + "], got " + n);
        }
        return (int) n;
    }

    /** The options in the form they were given (for passing on to worker processes). */
    public List<String> toArgs() {
        List<String> out = new ArrayList<>();
        values.forEach((k, v) -> out.add(flags.contains(k) ? "--" + k : "--" + k + "=" + v));
        return out;
    }
}
