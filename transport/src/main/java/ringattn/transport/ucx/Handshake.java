package ringattn.transport.ucx;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;

import javax.crypto.Mac;

/**
 * The mutual challenge that opens a control connection. Both sides prove they hold the job key
 * (the secret, bound to the job id) without sending it, and derive a fresh session key from both
 * nonces for the {@link ControlChannel}:
 *
 * <pre>
 * coordinator → rank: MAGIC, nonceS (16), job id
 * rank → coordinator: MAGIC, nonceC (16), HMAC(key, "client" | job | nonceS | nonceC)
 * coordinator → rank: 0, HMAC(key, "server" | job | nonceC | nonceS)     (or 1, reason)
 * session key = HMAC(key, "session" | job | nonceS | nonceC)
 * </pre>
 *
 * The caller bounds the whole exchange (a socket timeout and a deadline that closes the socket).
 * Stateless.
 */
final class Handshake {
    static final byte[] MAGIC = "RATT2\n".getBytes(StandardCharsets.US_ASCII);
    static final int NONCE_BYTES = 16;
    private static final int MAC_BYTES = 32;
    private static final byte[] INSECURE_KEY = "ringattn: a job without a secret".getBytes(StandardCharsets.US_ASCII);
    private static final SecureRandom RANDOM = new SecureRandom();

    /** What both ends must share: the secret (none for an insecure job) and the job id. */
    record JobKey(byte[] secret, String jobId) {
        byte[] mac(String label, byte[]... parts) {
            Mac m = ControlChannel.mac(secret.length == 0 ? INSECURE_KEY : secret);
            m.update(label.getBytes(StandardCharsets.US_ASCII));
            m.update((byte) 0);
            m.update(jobId.getBytes(StandardCharsets.UTF_8));
            m.update((byte) 0);
            for (byte[] p : parts) {
                m.update(p);
            }
            return m.doFinal();
        }
    }

    /** The client proved no knowledge of the job key (wrong secret, or another job's rank). */
    static final class WrongKeyException extends IOException {
        private static final long serialVersionUID = 1L;

        WrongKeyException() {
            super("wrong job secret");
        }
    }

    /** The coordinator reached serves another job: keep looking for ours. */
    static final class OtherJobException extends IOException {
        private static final long serialVersionUID = 1L;

        OtherJobException(String theirs, String ours) {
            super("it serves job '" + Messages.cut(theirs) + "', this rank belongs to job '" + ours + "'");
        }
    }

    private Handshake() {
    }

    /** Coordinator side. */
    static ControlChannel accept(Socket s, JobKey key) throws IOException {
        DataInputStream in = ControlChannel.input(s);
        DataOutputStream out = ControlChannel.output(s);
        byte[] nonceS = nonce();
        out.write(MAGIC);
        out.write(nonceS);
        out.writeUTF(key.jobId());
        out.flush();
        expectMagic(in, "not a ringattn rank");
        byte[] nonceC = readExactly(in, NONCE_BYTES);
        byte[] proof = readExactly(in, MAC_BYTES);
        if (!MessageDigest.isEqual(proof, key.mac("client", nonceS, nonceC))) {
            out.writeByte(1);
            out.writeUTF("wrong job secret: this rank's RINGATTN_SECRET differs from rank 0's");
            out.flush();
            throw new WrongKeyException();
        }
        out.writeByte(0);
        out.write(key.mac("server", nonceC, nonceS));
        out.flush();
        return new ControlChannel(s, in, out, key.mac("session", nonceS, nonceC), true);
    }

    /**
     * Rank side. Throws {@link OtherJobException} when the coordinator serves another job, and a
     * {@link ConfigurationException} when it refuses this rank's key or cannot prove its own.
     */
    static ControlChannel connect(Socket s, JobKey key, String where) throws IOException {
        DataInputStream in = ControlChannel.input(s);
        DataOutputStream out = ControlChannel.output(s);
        expectMagic(in, "not a ringattn coordinator");
        byte[] nonceS = readExactly(in, NONCE_BYTES);
        String job = in.readUTF();
        if (!job.equals(key.jobId())) {
            throw new OtherJobException(job, key.jobId());
        }
        byte[] nonceC = nonce();
        out.write(MAGIC);
        out.write(nonceC);
        out.write(key.mac("client", nonceS, nonceC));
        out.flush();
        int status = in.readUnsignedByte();
        if (status != 0) {
            throw new ConfigurationException("coordinator " + where + " refused this rank: " + Messages.cut(in.readUTF()));
        }
        byte[] proof = readExactly(in, MAC_BYTES);
        if (!MessageDigest.isEqual(proof, key.mac("server", nonceC, nonceS))) {
            throw new ConfigurationException("coordinator " + where
                    + " did not prove the job secret (a wrong secret on rank 0, or not our coordinator)");
        }
        return new ControlChannel(s, in, out, key.mac("session", nonceS, nonceC), false);
    }

    private static void expectMagic(DataInputStream in, String otherwise) throws IOException {
        if (!Arrays.equals(readExactly(in, MAGIC.length), MAGIC)) {
            throw new IOException(otherwise + " (bad magic)");
        }
    }

    private static byte[] readExactly(DataInputStream in, int n) throws IOException {
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    static byte[] nonce() {
        byte[] b = new byte[NONCE_BYTES];
        RANDOM.nextBytes(b);
        return b;
    }

    static int randomInt() {
        return RANDOM.nextInt();
    }
}
