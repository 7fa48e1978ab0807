package ringattn.cli;

/**
 * One command-line option of a subcommand. Immutable.
 *
 * @param name      the long name without dashes ({@code seq} for {@code --seq})
 * @param valueName the value's placeholder in help ({@code S}), or null for a flag
 * @param help      one line of help, defaults included
 */
public record Option(String name, String valueName, String help) {
    /** An option with a value. */
    public static Option value(String name, String valueName, String help) {
        return new Option(name, valueName, help);
    }

    /** A flag without a value. */
    public static Option flag(String name, String help) {
        return new Option(name, null, help);
    }

    /** True when the option takes a value. */
    public boolean takesValue() {
        return valueName != null;
    }

    /** {@code --name VALUE} or {@code --name}. */
    public String usage() {
        return "--" + name + (takesValue() ? " " + valueName : "");
    }
}
