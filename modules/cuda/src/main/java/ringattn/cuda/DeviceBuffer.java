package ringattn.cuda;

/** A device allocation that grows on demand (contents are not kept when it grows). Not thread-safe. */
final class DeviceBuffer implements AutoCloseable {
    private final DeviceOps device;
    private final String name;
    private long pointer;
    private long capacityBytes;

    DeviceBuffer(DeviceOps device, String name) {
        this.device = device;
        this.name = name;
    }

    /** The device address of at least {@code bytes} bytes (reallocated when smaller). */
    long ensure(long bytes) {
        if (bytes > capacityBytes) {
            close();
            long rounded = Math.max(256, (bytes + 0xFFFF) & ~0xFFFFL);
            try {
                pointer = device.alloc(rounded);
            } catch (RuntimeException e) {
                throw new IllegalStateException("device memory for " + name + " (" + rounded + " bytes): "
                        + e.getMessage(), e);
            }
            capacityBytes = rounded;
        }
        return pointer;
    }

    /** The current address (0 before the first {@link #ensure}). */
    long pointer() {
        return pointer;
    }

    @Override
    public void close() {
        if (pointer != 0) {
            long p = pointer;
            pointer = 0;
            capacityBytes = 0;
            device.free(p);
        }
    }
}
