package ringattn.cuda.ffm;

import java.lang.foreign.MemorySegment;

/**
 * Page-locked host memory ({@code cudaMallocHost}) that grows on demand; the staging area for
 * asynchronous copies to and from the device. Not thread-safe.
 */
public final class PinnedBuffer implements AutoCloseable {
    private MemorySegment segment = MemorySegment.NULL;

    /** A segment of at least {@code bytes} (reallocated, contents lost, when smaller). */
    public MemorySegment ensure(long bytes) {
        if (bytes > segment.byteSize()) {
            close();
            segment = Cudart.mallocHost(Math.max(4096, (bytes + 0xFFFF) & ~0xFFFFL));
        }
        return segment;
    }

    @Override
    public void close() {
        if (!segment.equals(MemorySegment.NULL)) {
            Cudart.freeHost(segment);
            segment = MemorySegment.NULL;
        }
    }
}
