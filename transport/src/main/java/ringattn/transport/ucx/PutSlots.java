package ringattn.transport.ucx;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The small messages of the put path ("ready": buffer index and expected length; "done": the
 * length put), one 16-byte slot per kind and step modulo {@link #SLOTS}, in memory of their own
 * (UCX writes into a receive slot while its request is open), and the tag layout of every data-path
 * message: kind (bits 56-63), a random salt of the job (bits 32-55), the step (bits 0-31).
 *
 * <p>Owned by one {@link UcxTransport}; closed only once UCX can no longer write into it.
 */
final class PutSlots implements AutoCloseable {
    static final long KIND_DATA = 1L << 56;
    static final long KIND_READY = 2L << 56;
    static final long KIND_DONE = 3L << 56;
    /** Data moving towards lower ranks (always tagged). */
    static final long KIND_REVERSE = 4L << 56;
    /** Slot kinds: ready and done as the sender sees them, ready and done as the receiver does. */
    static final int SEND_READY = 0;
    static final int SEND_DONE = 1;
    static final int RECEIVE_READY = 2;
    static final int RECEIVE_DONE = 3;
    static final int SLOTS = 64;
    static final int SLOT_BYTES = 16;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment slots = arena.allocate(4L * SLOTS * SLOT_BYTES, 64);
    private long salt;

    /** Sets the job's salt (24 bits are used); before the first message. */
    void salt(int jobSalt) {
        salt = (jobSalt & 0xFF_FFFFL) << 32;
    }

    /** The tag of a data-path message. */
    long tag(long kind, int step) {
        return kind | salt | (step & 0xFFFF_FFFFL);
    }

    MemorySegment slot(int kind, int step) {
        return slots.asSlice(((long) kind * SLOTS + Math.floorMod(step, SLOTS)) * SLOT_BYTES, SLOT_BYTES);
    }

    @Override
    public void close() {
        arena.close();
    }
}
