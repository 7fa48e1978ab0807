package ringattn.transport.ucx;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The messages of the control plane, one per authenticated frame ({@link ControlChannel}). Each
 * encodes to a type byte and its fields; decoding bounds every length, so a malformed frame fails
 * with an {@link IOException}, never with a huge allocation. Immutable.
 */
sealed interface ControlMessage {
    /** The most entries a table or gather result may hold. */
    int MAX_RANKS = 1 << 16;
    /** The longest byte field (a worker address, a gather part), in bytes. */
    int MAX_FIELD = 16 << 20;

    /** A rank's entry in the job table. */
    record Peer(int rank, String host, byte[] workerAddress) {
    }

    /** A rank > 0 asks to join: who it is and what it agrees to. */
    record Join(int rank, int worldSize, String params, String host, byte[] workerAddress) implements ControlMessage {
    }

    /** Rank 0's answer once every rank joined: the job table, and the tag salt of the data path. */
    record Table(List<Peer> peers, int tagSalt) implements ControlMessage {
    }

    /** Rank 0 refuses a join (the connection is closed after it). */
    record Refused(String reason) implements ControlMessage {
    }

    /** I am alive. */
    record Heartbeat() implements ControlMessage {
    }

    /** A rank's part of all-gather number {@code seq}. */
    record Gather(int seq, byte[] part) implements ControlMessage {
    }

    /** Rank 0: the result of all-gather number {@code seq}, by rank. */
    record Gathered(int seq, List<byte[]> parts) implements ControlMessage {
    }

    /** A rank failed (sent by the rank itself or by rank 0 on behalf of a dead one). */
    record Fail(int rank, String host, String reason) implements ControlMessage {
    }

    /** The sender leaves the job in good order. */
    record Bye() implements ControlMessage {
    }

    /** The message's bytes. */
    default byte[] encode() {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(b)) {
            switch (this) {
                case Join j -> {
                    out.writeByte(1);
                    out.writeInt(j.rank());
                    out.writeInt(j.worldSize());
                    writeString(out, j.params());
                    writeString(out, j.host());
                    writeBytes(out, j.workerAddress());
                }
                case Table t -> {
                    out.writeByte(2);
                    out.writeInt(t.tagSalt());
                    out.writeInt(t.peers().size());
                    for (Peer p : t.peers()) {
                        writeString(out, p.host());
                        writeBytes(out, p.workerAddress());
                    }
                }
                case Refused r -> {
                    out.writeByte(3);
                    writeString(out, r.reason());
                }
                case Heartbeat h -> out.writeByte(4);
                case Gather g -> {
                    out.writeByte(5);
                    out.writeInt(g.seq());
                    writeBytes(out, g.part());
                }
                case Gathered g -> {
                    out.writeByte(6);
                    out.writeInt(g.seq());
                    out.writeInt(g.parts().size());
                    for (byte[] p : g.parts()) {
                        writeBytes(out, p);
                    }
                }
                case Fail f -> {
                    out.writeByte(7);
                    out.writeInt(f.rank());
                    writeString(out, f.host());
                    writeString(out, f.reason());
                }
                case Bye y -> out.writeByte(8);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e); // a byte array does not fail
        }
        return b.toByteArray();
    }

    /** Decodes one message; throws on anything malformed or trailing. */
    static ControlMessage decode(byte[] frame) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(frame));
        ControlMessage m = switch (in.readUnsignedByte()) {
            case 1 -> new Join(in.readInt(), in.readInt(), readString(in), readString(in), readBytes(in));
            case 2 -> {
                int salt = in.readInt();
                int n = count(in);
                List<Peer> peers = new ArrayList<>(n);
                for (int r = 0; r < n; r++) {
                    peers.add(new Peer(r, readString(in), readBytes(in)));
                }
                yield new Table(List.copyOf(peers), salt);
            }
            case 3 -> new Refused(readString(in));
            case 4 -> new Heartbeat();
            case 5 -> new Gather(in.readInt(), readBytes(in));
            case 6 -> {
                int seq = in.readInt();
                int n = count(in);
                List<byte[]> parts = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    parts.add(readBytes(in));
                }
                yield new Gathered(seq, List.copyOf(parts));
            }
            case 7 -> new Fail(in.readInt(), readString(in), readString(in));
            case 8 -> new Bye();
            default -> throw new IOException("unknown control message type " + frame[0]);
        };
        if (in.available() > 0) {
            throw new IOException("trailing bytes after a " + m.getClass().getSimpleName() + " message");
        }
        return m;
    }

    private static int count(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > MAX_RANKS) {
            throw new IOException("bad entry count " + n);
        }
        return n;
    }

    /** The longest text field (job parameters, a reason), in bytes. */
    int MAX_TEXT = 64 << 10;

    private static void writeString(DataOutputStream out, String s) throws IOException {
        writeBytes(out, s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    private static String readString(DataInputStream in) throws IOException {
        byte[] b = readBytes(in);
        if (b.length > MAX_TEXT) {
            throw new IOException("text field of " + b.length + " bytes");
        }
        return new String(b, java.nio.charset.StandardCharsets.UTF_8);
    }

    private static void writeBytes(DataOutputStream out, byte[] b) throws IOException {
        out.writeInt(b.length);
        out.write(b);
    }

    private static byte[] readBytes(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > MAX_FIELD || n > in.available()) {
            throw new IOException("bad field length " + n);
        }
        return in.readNBytes(n);
    }
}
