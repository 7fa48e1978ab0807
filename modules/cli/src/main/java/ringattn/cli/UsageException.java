package ringattn.cli;

/** Bad command-line usage or input; the message names the argument. Exit code 2. */
public final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** {@code argument}: {@code problem}. */
    public UsageException(String argument, String problem) {
        super(argument + ": " + problem);
    }
}
