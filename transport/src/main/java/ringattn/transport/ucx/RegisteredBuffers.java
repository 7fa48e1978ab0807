package ringattn.transport.ucx;

import java.lang.foreign.MemorySegment;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Predicate;

import org.openucx.jucx.ucp.UcpContext;
import org.openucx.jucx.ucp.UcpEndpoint;
import org.openucx.jucx.ucp.UcpMemMapParams;
import org.openucx.jucx.ucp.UcpMemory;
import org.openucx.jucx.ucp.UcpRemoteKey;

/**
 * A rank's ring buffers, allocated and registered by UCX ({@code UcpMemMapParams.allocate()}), and
 * the next rank's buffers as this rank may put into them (addresses and unpacked remote keys).
 * The wire form of a buffer table is little-endian: {@code int count}, then per buffer
 * {@code long address, int keyLength, key bytes}; a peer's table is checked before UCX sees a key.
 *
 * <p>Owned by one {@link UcxTransport}; every UCX call on the progress thread. Lengths in bytes.
 */
final class RegisteredBuffers {
    private final UcpMemory[] memories;
    private final MemorySegment[] segments;
    private long[] nextAddresses;
    private UcpRemoteKey[] nextKeys;

    /** A peer's checked buffer table. */
    record Table(long[] addresses, byte[][] keys) {
    }

    RegisteredBuffers(int count) {
        memories = new UcpMemory[count];
        segments = new MemorySegment[count];
    }

    /**
     * Maps {@code count} buffers of {@code lengthBytes} (at least 64 are mapped); returns this rank's
     * table. Progress thread. Whatever got mapped before a failure is released by {@link #unmap}.
     */
    byte[] map(UcpContext context, long lengthBytes) {
        long mapped = Math.max(lengthBytes, 64);
        byte[][] keys = new byte[memories.length][];
        int n = 4;
        for (int i = 0; i < memories.length; i++) {
            memories[i] = context.memoryMap(new UcpMemMapParams().allocate().setLength(mapped));
            segments[i] = MemorySegment.ofAddress(memories[i].getAddress()).reinterpret(mapped).asSlice(0, lengthBytes);
            ByteBuffer k = memories[i].getRemoteKeyBuffer();
            keys[i] = new byte[k.remaining()];
            k.get(keys[i]);
            n += 12 + keys[i].length;
        }
        ByteBuffer out = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(memories.length);
        for (int i = 0; i < memories.length; i++) {
            out.putLong(memories[i].getAddress()).putInt(keys[i].length).put(keys[i]);
        }
        return out.array();
    }

    MemorySegment segment(int index) {
        return segments[index];
    }

    int count() {
        return segments.length;
    }

    /** Parses and checks a peer's table; throws IllegalArgumentException saying what is wrong. */
    static Table parse(byte[] table, int count) {
        try {
            ByteBuffer theirs = ByteBuffer.wrap(table).order(ByteOrder.LITTLE_ENDIAN);
            int n = theirs.getInt();
            if (n != count) {
                throw new IllegalArgumentException(n + " buffers, expected " + count);
            }
            long[] addresses = new long[n];
            byte[][] keys = new byte[n][];
            for (int i = 0; i < n; i++) {
                addresses[i] = theirs.getLong();
                int len = theirs.getInt();
                if (len < 1 || len > WorkerAddress.MAX_RKEY_BYTES || len > theirs.remaining()) {
                    throw new IllegalArgumentException("a remote key of " + len + " bytes");
                }
                keys[i] = new byte[len];
                theirs.get(keys[i]);
            }
            if (theirs.hasRemaining()) {
                throw new IllegalArgumentException(theirs.remaining() + " trailing bytes");
            }
            return new Table(addresses, keys);
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("too short", e);
        }
    }

    /**
     * Unpacks the next rank's keys on {@code next}; progress thread. {@code stop} is asked before
     * each key: when the owner may be gone, UCX must not touch its memory.
     */
    void unpackNext(UcpEndpoint next, Table theirs, Runnable stop) {
        nextAddresses = theirs.addresses();
        nextKeys = new UcpRemoteKey[theirs.keys().length];
        for (int i = 0; i < nextKeys.length; i++) {
            byte[] kb = theirs.keys()[i];
            ByteBuffer direct = ByteBuffer.allocateDirect(kb.length);
            direct.put(kb).flip();
            stop.run();
            nextKeys[i] = next.unpackRemoteKey(direct);
        }
    }

    long nextAddress(int index) {
        return nextAddresses[index];
    }

    UcpRemoteKey nextKey(int index) {
        return nextKeys[index];
    }

    /** Releases the next rank's keys; {@code step} runs each release guarded. Progress thread. */
    void releaseKeys(Predicate<Runnable> step) {
        if (nextKeys != null) {
            for (UcpRemoteKey k : nextKeys) {
                if (k != null) {
                    step.test(k::close);
                }
            }
        }
    }

    /** Unmaps every mapped buffer; true when all were released. Progress thread. */
    boolean unmap(Predicate<Runnable> step) {
        boolean released = true;
        for (UcpMemory m : memories) {
            if (m != null && !step.test(m::deregister)) {
                released = false;
            }
        }
        return released;
    }
}
