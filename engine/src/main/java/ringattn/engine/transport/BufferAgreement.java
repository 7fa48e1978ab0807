package ringattn.engine.transport;

import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * The check every {@link RingTransport#allocateBuffers} implementation makes before allocating:
 * the arguments are sane and every rank asked for the same buffers. Stateless.
 */
public final class BufferAgreement {
    private BufferAgreement() {
    }

    /**
     * Validates {@code count} and {@code lengthBytes}, then all-gathers them over {@code transport};
     * throws a {@link TransportException} on every rank when any two ranks disagree.
     */
    public static void check(RingTransport transport, int count, long lengthBytes, Duration timeout) {
        if (count < 1) {
            throw new IllegalArgumentException("count: must be >= 1, got " + count);
        }
        if (lengthBytes < 0) {
            throw new IllegalArgumentException("lengthBytes: must be >= 0, got " + lengthBytes);
        }
        String mine = count + ":" + lengthBytes;
        byte[][] all = transport.allGather(mine.getBytes(StandardCharsets.UTF_8), timeout);
        for (int r = 0; r < all.length; r++) {
            String theirs = new String(all[r], StandardCharsets.UTF_8);
            if (!theirs.equals(mine)) {
                throw new TransportException("ranks disagree on buffer sizes: rank " + transport.rank() + " has "
                        + count + " x " + lengthBytes + " bytes, rank " + r + " has " + theirs.replace(":", " x ")
                        + " bytes");
            }
        }
    }
}
