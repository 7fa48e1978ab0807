package ringattn.transport.ucx;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * One authenticated control connection after the {@link Handshake}: every frame carries a
 * sequence number and an HMAC-SHA256 under the session key, so a relay or a stranger cannot
 * inject, replay, reorder or alter a frame (a bad frame ends the connection as lost). Frames are
 * not encrypted. Frame: {@code int length, payload, 32-byte MAC over (direction, sequence,
 * payload)}.
 *
 * <p>Thread-safety: {@link #send} may be called from any thread (frames are written under this
 * object's monitor); {@link #receive} from one reader thread only.
 */
final class ControlChannel {
    /** The largest frame accepted, in bytes. */
    static final int MAX_FRAME = 32 << 20;
    private static final int MAC_BYTES = 32;

    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final Mac sendMac;
    private final Mac receiveMac;
    private final byte sendDirection;
    private final byte receiveDirection;
    private long sent;
    private long received;
    /** The rank at the other end, or -1 while unknown. */
    volatile int peerRank = -1;
    /** Set once the peer left in good order or the connection was given up. */
    volatile boolean gone;
    Thread reader;

    ControlChannel(Socket socket, DataInputStream in, DataOutputStream out, byte[] sessionKey, boolean coordinatorSide) {
        this.socket = socket;
        this.in = in;
        this.out = out;
        this.sendMac = mac(sessionKey);
        this.receiveMac = mac(sessionKey);
        this.sendDirection = (byte) (coordinatorSide ? 'S' : 'C');
        this.receiveDirection = (byte) (coordinatorSide ? 'C' : 'S');
    }

    static DataInputStream input(Socket s) throws IOException {
        return new DataInputStream(new BufferedInputStream(s.getInputStream()));
    }

    static DataOutputStream output(Socket s) throws IOException {
        s.setTcpNoDelay(true);
        return new DataOutputStream(new BufferedOutputStream(s.getOutputStream()));
    }

    Socket socket() {
        return socket;
    }

    /** Sends one message (any thread). */
    synchronized void send(ControlMessage m) throws IOException {
        byte[] payload = m.encode();
        out.writeInt(payload.length);
        out.write(payload);
        out.write(tag(sendMac, sendDirection, sent++, payload));
        out.flush();
    }

    /** {@link #send}, reporting failure as false (the reader notices a dead connection). */
    boolean sendQuietly(ControlMessage m) {
        try {
            send(m);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Reads the next message (reader thread only); a forged or malformed frame is an IOException. */
    ControlMessage receive() throws IOException {
        int n = in.readInt();
        if (n < 1 || n > MAX_FRAME) {
            throw new IOException("control frame of " + n + " bytes");
        }
        byte[] payload = in.readNBytes(n);
        byte[] mac = in.readNBytes(MAC_BYTES);
        if (payload.length != n || mac.length != MAC_BYTES) {
            throw new java.io.EOFException("closed in the middle of a frame");
        }
        if (!MessageDigest.isEqual(mac, tag(receiveMac, receiveDirection, received, payload))) {
            throw new ForgedFrameException();
        }
        received++;
        return ControlMessage.decode(payload);
    }

    void close() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    private static byte[] tag(Mac mac, byte direction, long seq, byte[] payload) {
        mac.update(direction);
        for (int i = 7; i >= 0; i--) {
            mac.update((byte) (seq >>> (8 * i)));
        }
        return mac.doFinal(payload);
    }

    static Mac mac(byte[] key) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new SecretKeySpec(key, "HmacSHA256"));
            return m;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    /** A frame whose MAC does not verify: forged, replayed or corrupted on the way. */
    static final class ForgedFrameException extends IOException {
        private static final long serialVersionUID = 1L;

        ForgedFrameException() {
            super("a control frame failed authentication (forged, replayed or corrupted on the way)");
        }
    }
}
