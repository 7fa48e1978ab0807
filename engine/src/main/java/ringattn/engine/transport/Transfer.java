package ringattn.engine.transport;

import java.time.Duration;

/** A posted send or receive. Thread-safe to query; waited on by the posting thread. */
public interface Transfer {
    /** True once the data has left (send) or arrived completely (receive). */
    boolean isDone();

    /**
     * {@link System#nanoTime()} when the transfer completed, or −1 while it has not (or when the
     * implementation cannot tell). The ring uses it to measure how long each transfer took, and so
     * how much of it the compute hid.
     */
    default long completedNanos() {
        return -1;
    }

    /**
     * Waits for completion.
     *
     * @throws RankFailedException if a rank died or stopped answering within {@code timeout}
     * @throws TransportException  on any other transport error
     */
    void await(Duration timeout);
}
