package ringattn.engine.ring;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.Transfer;

/**
 * A rank's transport seen through a test: it records the tag of every send, per direction, and can
 * hide the reverse direction (a one-way transport), so that the ring must move everything forward.
 * Used by its rank's thread only.
 */
final class RecordingTransport implements RingTransport {
    private final RingTransport inner;
    private final boolean reverse;
    final List<Integer> tagsToNext = new ArrayList<>();
    final List<Integer> tagsToPrevious = new ArrayList<>();

    RecordingTransport(RingTransport inner, boolean reverse) {
        this.inner = inner;
        this.reverse = reverse && inner.reverseSupported();
    }

    @Override
    public int rank() {
        return inner.rank();
    }

    @Override
    public int worldSize() {
        return inner.worldSize();
    }

    @Override
    public String host() {
        return inner.host();
    }

    @Override
    public Duration timeout() {
        return inner.timeout();
    }

    /** The arguments of the last {@link #allocateBuffers} call (0 before one). */
    int bufferCount;
    long bufferLength;

    @Override
    public void allocateBuffers(int count, long lengthBytes) {
        bufferCount = count;
        bufferLength = lengthBytes;
        inner.allocateBuffers(count, lengthBytes);
    }

    @Override
    public MemorySegment buffer(int index) {
        return inner.buffer(index);
    }

    @Override
    public Transfer sendToNext(int index, long lengthBytes, int step) {
        tagsToNext.add(step);
        return inner.sendToNext(index, lengthBytes, step);
    }

    @Override
    public Transfer receiveFromPrevious(int index, long lengthBytes, int step) {
        return inner.receiveFromPrevious(index, lengthBytes, step);
    }

    @Override
    public boolean reverseSupported() {
        return reverse;
    }

    @Override
    public Transfer sendToPrevious(int index, long lengthBytes, int step) {
        if (!reverse) {
            throw new UnsupportedOperationException("sendToPrevious: this transport moves data one way only");
        }
        tagsToPrevious.add(step);
        return inner.sendToPrevious(index, lengthBytes, step);
    }

    @Override
    public Transfer receiveFromNext(int index, long lengthBytes, int step) {
        if (!reverse) {
            throw new UnsupportedOperationException("receiveFromNext: this transport moves data one way only");
        }
        return inner.receiveFromNext(index, lengthBytes, step);
    }

    @Override
    public void barrier(Duration timeout) {
        inner.barrier(timeout);
    }

    @Override
    public byte[][] allGather(byte[] local, Duration timeout) {
        return inner.allGather(local, timeout);
    }

    @Override
    public void abort(Throwable cause) {
        inner.abort(cause);
    }

    @Override
    public void close() {
        inner.close();
    }
}
