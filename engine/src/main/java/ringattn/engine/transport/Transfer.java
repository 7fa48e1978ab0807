package ringattn.engine.transport;

import java.time.Duration;

/** A posted send or receive. Thread-safe to query; waited on by the posting thread. */
public interface Transfer {
    /** True once the data has left (send) or arrived completely (receive). */
    boolean isDone();

    /**
     * Waits for completion.
     *
     * @throws RankFailedException if a rank died or stopped answering within {@code timeout}
     * @throws TransportException  on any other transport error
     */
    void await(Duration timeout);
}
