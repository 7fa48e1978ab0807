package ringattn.transport.ucx;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;

import ringattn.engine.transport.TransportException;

/**
 * The one thread that owns a UCX worker (an agent loop): it runs the commands other threads hand
 * it, then {@code progress()}es the worker, and backs off (spin, yield, park up to
 * {@code maxParkNanos}) only while neither did any work. UCX asserts if two threads progress one
 * worker, so every worker call goes through here.
 */
final class ProgressLoop {
    private static final System.Logger LOG = System.getLogger("ringattn.transport.ucx");
    private final ConcurrentLinkedQueue<Runnable> commands = new ConcurrentLinkedQueue<>();
    private final Thread thread;
    private volatile IntSupplier progress = () -> 0;
    private volatile boolean running = true;
    /** How many transfers are in flight: while any is, the loop naps at most 20 us at a time. */
    private volatile IntSupplier inFlight = () -> 0;

    ProgressLoop(String name) {
        thread = Thread.ofPlatform().daemon().name(name).start(this::loop);
    }

    /** The work function, e.g. {@code worker::progress}; set once the worker exists. */
    void progressWith(IntSupplier p) {
        progress = p;
    }

    void inFlightFrom(IntSupplier count) {
        inFlight = count;
    }

    boolean onLoopThread() {
        return Thread.currentThread() == thread;
    }

    /** Runs {@code command} on the loop thread (soon); never blocks. */
    void execute(Runnable command) {
        commands.add(command);
        LockSupport.unpark(thread);
    }

    /** Runs {@code task} on the loop thread and waits for its result. */
    <T> T call(Callable<T> task, Duration wait, String what) {
        if (onLoopThread()) {
            try {
                return task.call();
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new TransportException(what + ": " + e.getMessage(), e);
            }
        }
        CompletableFuture<T> f = new CompletableFuture<>();
        execute(() -> {
            try {
                f.complete(task.call());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        try {
            return f.get(wait.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new TransportException(what + ": no answer from the UCX progress thread within " + wait);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof TransportException te) {
                throw te;
            }
            throw new TransportException(what + ": " + c, c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException(what + ": interrupted", e);
        }
    }

    /** Stops after the queued commands have run; waits up to {@code wait}. */
    boolean stop(Duration wait) {
        running = false;
        LockSupport.unpark(thread);
        try {
            return thread.join(wait);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private void loop() {
        int idle = 0;
        while (running || !commands.isEmpty()) {
            int work = 0;
            Runnable r;
            while ((r = commands.poll()) != null) {
                try {
                    r.run();
                } catch (Throwable t) {
                    // A command's owner is told through its own future; this thread must go on
                    // serving the others (if it ended, every later wait would time out).
                    LOG.log(System.Logger.Level.WARNING, "ringattn: " + thread.getName() + ": a command failed: " + t);
                }
                work++;
            }
            try {
                work += progress.getAsInt();
            } catch (Throwable t) {
                LOG.log(System.Logger.Level.WARNING, "ringattn: " + thread.getName() + ": progress failed: " + t);
                work++;
            }
            if (work > 0) {
                idle = 0;
            } else if (++idle < 256) {
                Thread.onSpinWait();
            } else if (idle < 320) {
                Thread.yield();
            } else {
                // Short naps while a transfer is in flight. Measured on 2 cores: never parking (only
                // yielding) made ring steps slower and noisier, since the ranks' own threads then
                // compete with 2 busy progress threads.
                long cap = inFlight.getAsInt() > 0 ? 20_000 : 1_000_000;
                LockSupport.parkNanos(Math.min(cap, 1_000L << Math.min(10, idle - 320)));
            }
        }
    }
}
