package ringattn.transport.ucx;

/**
 * Checks on a UCX worker address or remote key before it reaches UCX, whose unpacking trusts its
 * input (a malformed address aborted the process inside UCX 1.13). UCX packs a worker address
 * behind a header byte whose low four bits are the format version; every rank of a job runs the
 * same UCX, so a peer's version must equal this rank's. Stateless.
 */
final class WorkerAddress {
    /** Bounds on a worker address, in bytes. */
    static final int MIN_BYTES = 8;
    static final int MAX_BYTES = 1 << 20;
    /** Bounds on one packed remote key, in bytes. */
    static final int MAX_RKEY_BYTES = 64 << 10;

    private WorkerAddress() {
    }

    /** Whether {@code address} can be a worker address of the same UCX as {@code own}. */
    static boolean plausible(byte[] address, byte[] own) {
        return address != null && address.length >= MIN_BYTES && address.length <= MAX_BYTES
                && own != null && own.length > 0 && (address[0] & 0x0f) == (own[0] & 0x0f);
    }
}
