package ringattn.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** A growable little-endian byte buffer for the writer. */
final class ByteSink {
    private ByteBuffer buf = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);

    private ByteBuffer room(int n) {
        if (buf.remaining() < n) {
            ByteBuffer bigger = ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n))
                    .order(ByteOrder.LITTLE_ENDIAN);
            bigger.put(buf.flip());
            buf = bigger;
        }
        return buf;
    }

    ByteSink u32(long v) {
        room(4).putInt((int) v);
        return this;
    }

    ByteSink u64(long v) {
        room(8).putLong(v);
        return this;
    }

    ByteSink bytes(byte[] b) {
        room(b.length).put(b);
        return this;
    }

    ByteSink string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return u64(b.length).bytes(b);
    }

    /** Zero bytes up to a multiple of {@code alignment}. */
    ByteSink pad(long alignment) {
        int n = (int) ((alignment - size() % alignment) % alignment);
        return bytes(new byte[n]);
    }

    int size() {
        return buf.position();
    }

    byte[] toArray() {
        byte[] out = new byte[buf.position()];
        buf.duplicate().flip().get(out);
        return out;
    }
}
