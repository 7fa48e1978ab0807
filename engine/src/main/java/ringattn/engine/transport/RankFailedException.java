package ringattn.engine.transport;

/**
 * A peer rank died or stopped answering within the bound; names the rank and its host. Every other
 * rank ends with this error instead of hanging.
 */
public class RankFailedException extends TransportException {
    private static final long serialVersionUID = 1L;
    private final int failedRank;
    private final String failedHost;

    public RankFailedException(int failedRank, String failedHost, String message) {
        super("rank " + failedRank + (failedHost == null ? "" : " on " + failedHost) + " failed: " + message);
        this.failedRank = failedRank;
        this.failedHost = failedHost;
    }

    public int failedRank() {
        return failedRank;
    }

    public String failedHost() {
        return failedHost;
    }
}
