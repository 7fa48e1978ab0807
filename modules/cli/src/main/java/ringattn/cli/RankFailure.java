package ringattn.cli;

/**
 * A rank of a multi-process job failed or timed out, seen from the process that started the ranks.
 * The message names the rank. Exit code 3.
 */
public final class RankFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int rank;

    public RankFailure(int rank, String message) {
        super(message);
        this.rank = rank;
    }

    /** The rank that failed first, or −1 when unknown. */
    public int rank() {
        return rank;
    }
}
