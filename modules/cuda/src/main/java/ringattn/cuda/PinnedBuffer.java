package ringattn.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Page-locked host memory that grows on demand: the staging area of the asynchronous copies.
 * Not thread-safe.
 */
final class PinnedBuffer implements AutoCloseable {
    private final DeviceOps device;
    private MemorySegment segment = MemorySegment.NULL;

    PinnedBuffer(DeviceOps device) {
        this.device = device;
    }

    /** A segment of at least {@code bytes} (reallocated, contents lost, when smaller). */
    MemorySegment ensure(long bytes) {
        if (bytes > segment.byteSize()) {
            close();
            segment = device.allocPinned(Math.max(4096, (bytes + 0xFFFF) & ~0xFFFFL));
        }
        return segment;
    }

    @Override
    public void close() {
        if (!segment.equals(MemorySegment.NULL)) {
            MemorySegment s = segment;
            segment = MemorySegment.NULL;
            device.freePinned(s);
        }
    }
}
