package ringattn.cuda.ffm;

/**
 * A device allocation that grows on demand (contents are not kept when it grows). Not thread-safe.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final String name;
    private long pointer;
    private long capacityBytes;

    public DeviceBuffer(String name) {
        this.name = name;
    }

    /** The device pointer of at least {@code bytes} bytes (reallocated when smaller). */
    public long ensure(long bytes) {
        if (bytes > capacityBytes) {
            close();
            long rounded = Math.max(256, (bytes + 0xFFFF) & ~0xFFFFL);
            try {
                pointer = Cudart.malloc(rounded);
            } catch (CudaException e) {
                throw new CudaException("cudaMalloc(" + rounded + " bytes for " + name + ")", e.status(),
                        Cudart.errorName(e.status()), Cudart.errorString(e.status()));
            }
            capacityBytes = rounded;
        }
        return pointer;
    }

    /** The current pointer (0 before the first {@link #ensure}). */
    public long pointer() {
        return pointer;
    }

    public long capacityBytes() {
        return capacityBytes;
    }

    @Override
    public void close() {
        if (pointer != 0) {
            Cudart.free(pointer);
            pointer = 0;
            capacityBytes = 0;
        }
    }
}
