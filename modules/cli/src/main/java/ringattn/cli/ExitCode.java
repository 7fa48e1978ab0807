package ringattn.cli;

/** The command's exit codes. */
public final class ExitCode {
    /** Success. */
    public static final int OK = 0;
    /**
     * Anything not covered below (a bug, an I/O failure of the machine), and a demo whose error
     * against the fp64 reference exceeds its {@code --tolerance}.
     */
    public static final int FAILURE = 1;
    /** Bad usage or input: a wrong option, a malformed or inconsistent file. */
    public static final int USAGE = 2;
    /** A rank failed or timed out. */
    public static final int RANK_FAILED = 3;

    private ExitCode() {
    }
}
