package ringattn.engine.transport;

import java.lang.foreign.MemorySegment;
import java.time.Duration;

/**
 * One rank's end of a ring of {@code worldSize} ranks. Rank r sends to {@code (r+1) % worldSize}
 * and receives from {@code (r−1+worldSize) % worldSize}.
 *
 * <p>Buffers are allocated (and registered with the network where there is one) once, by
 * {@link #allocateBuffers}, a collective call; every step then moves whole or leading parts of those
 * buffers, so double buffering costs nothing per step. Transfers are non-blocking: each post returns
 * a {@link Transfer} to wait on with a timeout. A rank posts at most one send and one receive per
 * step and direction; a send and a receive meet when they carry the same step number.
 *
 * <p>The transport owns the buffers; they are freed by {@link #close()}. Methods are called by one
 * thread (the rank's ring loop); implementations may progress transfers on their own threads.
 */
public interface RingTransport extends AutoCloseable {
    int rank();

    int worldSize();

    /** The host this rank runs on (for error messages). */
    String host();

    /** The default bound on any wait (rank-failure detection time). */
    Duration timeout();

    /**
     * Collective: every rank allocates {@code count} buffers of {@code lengthBytes} bytes each
     * (64-byte aligned). Ranks that disagree on the sizes all fail with a {@link TransportException}.
     * May be called once per transport.
     */
    void allocateBuffers(int count, long lengthBytes);

    /** Buffer {@code index} allocated by {@link #allocateBuffers}. */
    MemorySegment buffer(int index);

    /** Posts: send the first {@code lengthBytes} bytes of buffer {@code index} to the next rank. */
    Transfer sendToNext(int index, long lengthBytes, int step);

    /** Posts: receive {@code lengthBytes} bytes from the previous rank into buffer {@code index}. */
    Transfer receiveFromPrevious(int index, long lengthBytes, int step);

    /**
     * Whether this transport also moves data the other way ({@link #sendToPrevious},
     * {@link #receiveFromNext}). The ring uses it to send gradient accumulators home the short way.
     */
    default boolean reverseSupported() {
        return false;
    }

    /** Posts: send the first {@code lengthBytes} bytes of buffer {@code index} to the previous rank. */
    default Transfer sendToPrevious(int index, long lengthBytes, int step) {
        throw new UnsupportedOperationException("sendToPrevious: this transport moves data one way only");
    }

    /** Posts: receive {@code lengthBytes} bytes from the next rank into buffer {@code index}. */
    default Transfer receiveFromNext(int index, long lengthBytes, int step) {
        throw new UnsupportedOperationException("receiveFromNext: this transport moves data one way only");
    }

    /** Blocks until every rank has entered the barrier, or fails after {@code timeout}. */
    void barrier(Duration timeout);

    /** Every rank's {@code local} bytes, indexed by rank (small metadata only). */
    byte[][] allGather(byte[] local, Duration timeout);

    /**
     * Tells every other rank that this one failed: their pending and later waits end promptly with
     * a {@link RankFailedException} naming this rank, instead of waiting out the timeout. Called by
     * the ring when a pass fails locally. The default does nothing (peers then time out).
     */
    default void abort(Throwable cause) {
    }

    /** Releases buffers and connections. Idempotent. */
    @Override
    void close();
}
