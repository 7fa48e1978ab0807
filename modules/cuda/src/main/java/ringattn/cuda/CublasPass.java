package ringattn.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * What the forward and the backward pass of {@link CublasKernel} share: the device buffers the pass
 * owns (its queries and running state), freed at finish, at close, or when the kernel closes first;
 * and the life cycle: updates until finish or close, after which each call is refused with an
 * {@link IllegalStateException} naming it. Every call locks the kernel.
 */
abstract class CublasPass implements AutoCloseable {
    final CublasKernel kernel;
    final DeviceOps dev;
    private final String kind;
    private final List<DeviceBuffer> buffers = new ArrayList<>();
    private boolean finished;
    private boolean closed;

    CublasPass(CublasKernel kernel, String kind) {
        this.kernel = kernel;
        this.dev = kernel.dev;
        this.kind = kind;
    }

    /**
     * The begin's transfers: puts the queries and the initial state on the device (the kernel holds
     * its lock, has made the device current, and closes the pass if this throws).
     */
    abstract void upload();

    /** A device buffer that this pass owns (allocated on its first {@code ensure}). */
    final DeviceBuffer buffer(String name) {
        DeviceBuffer b = new DeviceBuffer(dev, name);
        buffers.add(b);
        return b;
    }

    /** Throws unless the pass accepts {@code call} (update, finish); the caller holds the kernel's lock. */
    final void checkLive(String call) {
        if (closed) {
            throw new IllegalStateException(call + ": the " + kind + " pass is closed");
        }
        if (finished) {
            throw new IllegalStateException(call + ": the " + kind + " pass is finished");
        }
    }

    /** Marks the pass finished: no update or finish after this. */
    final void markFinished() {
        finished = true;
    }

    /** Frees the pass's device buffers (each at most once) and leaves the kernel's open passes. */
    final void release() {
        kernel.forget(this);
        RuntimeException first = null;
        for (DeviceBuffer b : buffers) {
            try {
                b.close();
            } catch (RuntimeException e) {
                first = first != null ? first : e;
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Closes the pass as its kernel closes (the kernel holds its lock and has made the device current). */
    final void abandon() {
        closed = true;
        release();
    }

    /** Frees the pass's device memory (if finish has not); idempotent. */
    @Override
    public final void close() {
        synchronized (kernel) {
            if (closed) {
                return;
            }
            closed = true;
            dev.makeCurrent();
            release();
        }
    }
}
