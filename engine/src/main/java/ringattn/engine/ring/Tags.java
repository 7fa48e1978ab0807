package ringattn.engine.ring;

/**
 * The message tags ({@code step} numbers of {@link ringattn.engine.transport.RingTransport}) of one
 * ring, handed out in sequence. Every post of a channel takes the next tag for both its send and its
 * receive; every rank makes the same posts in the same order, so the send of a rank's i-th post
 * meets the receive of its neighbour's i-th post, and no two messages that can be in flight at once
 * (within a pass, across legs, or between consecutive passes) share a tag. Lives as long as the
 * {@link RingAttention} (tags are not reused by later passes; the sequence wraps after 2^32 posts).
 * Not thread-safe.
 */
final class Tags {
    private int next;

    /** The tag of the next post. */
    int next() {
        return next++;
    }
}
