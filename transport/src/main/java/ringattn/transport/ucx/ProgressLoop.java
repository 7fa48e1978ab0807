package ringattn.transport.ucx;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
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
    /** The thread now running commands and progressing the worker: the loop's or a driving caller's. */
    private final AtomicReference<Thread> holder = new AtomicReference<>();
    /** Callers driving the worker now: the loop thread sleeps meanwhile (they wake it when they stop). */
    private final AtomicInteger drivers = new AtomicInteger();
    /** True while the loop thread sleeps with no transfer in flight (up to 1 ms): a new transfer must wake it. */
    private volatile boolean sleeping;
    /** Idle rounds a driving caller spins (each a few hundred nanoseconds) before it yields its core between rounds. */
    private static final int YIELD_AFTER = 64;

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

    /** True on the loop thread and on a caller while it {@linkplain #drive drives} the worker. */
    boolean onLoopThread() {
        Thread me = Thread.currentThread();
        return me == thread || holder.get() == me;
    }

    /**
     * Runs the loop's work (queued commands, then {@code progress()}) on the calling thread until
     * {@code done} holds or {@code spinNanos} have passed, taking turns with the loop thread (never
     * both at once). A waiter that drives the worker itself sees a message the moment it lands,
     * instead of after the loop thread wakes and then wakes it: two futex wake-ups fewer per message.
     *
     * @return whether {@code done} held
     */
    boolean drive(BooleanSupplier done, long spinNanos) {
        Thread me = Thread.currentThread();
        long start = System.nanoTime();
        drivers.incrementAndGet();
        try {
            int idle = 0;
            while (!done.getAsBoolean()) {
                long spent = System.nanoTime() - start;
                if (spent > spinNanos) {
                    return false;
                }
                int work = 0;
                if (holder.compareAndSet(null, me)) {
                    try {
                        work = turn();
                    } finally {
                        holder.set(null);
                    }
                }
                if (work > 0) {
                    idle = 0;
                } else if (++idle > YIELD_AFTER) {
                    Thread.yield(); // let a descheduled peer (or its rank's thread) have this core
                } else {
                    Thread.onSpinWait();
                }
            }
            return true;
        } finally {
            if (drivers.decrementAndGet() == 0 && (!commands.isEmpty() || inFlight.getAsInt() > 0)) {
                LockSupport.unpark(thread); // work is left for the loop thread
            }
        }
    }

    /** Runs {@code command} on the loop thread (soon); never blocks. */
    void execute(Runnable command) {
        commands.add(command);
        LockSupport.unpark(thread);
    }

    /**
     * Runs {@code command} (after the commands queued before it) on the calling thread when no other
     * thread holds the worker, else hands it to the loop thread as {@link #execute} does; never
     * blocks. A transfer posted this way costs no thread wake-up; the loop thread is woken only from
     * its long idle sleep, to progress the transfer while the caller computes.
     */
    void runOrExecute(Runnable command) {
        Thread me = Thread.currentThread();
        if (me != thread && holder.compareAndSet(null, me)) {
            try {
                commands.add(command);
                runCommands();
            } finally {
                holder.set(null);
            }
            if (sleeping) {
                LockSupport.unpark(thread);
            }
            return;
        }
        execute(command);
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

    /** One round of work: the queued commands, then one {@code progress()}; the work done. */
    private int turn() {
        int work = runCommands();
        try {
            work += progress.getAsInt();
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.WARNING, "ringattn: " + thread.getName() + ": progress failed: " + t);
            work++;
        }
        return work;
    }

    /** Runs the queued commands; how many ran. */
    private int runCommands() {
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
        return work;
    }

    private void loop() {
        int idle = 0;
        while (running || !commands.isEmpty()) {
            int work;
            if (drivers.get() > 0) {
                LockSupport.parkNanos(1_000_000); // a caller progresses the worker; it wakes this thread when it stops
                continue;
            }
            if (holder.compareAndSet(null, thread)) {
                try {
                    work = turn();
                } finally {
                    holder.set(null);
                }
            } else {
                work = 0; // a caller drives the worker now
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
                sleeping = true; // before reading the count: a poster reads this after raising it
                boolean quiet = inFlight.getAsInt() == 0;
                sleeping = quiet;
                if (commands.isEmpty()) {
                    LockSupport.parkNanos(Math.min(quiet ? 1_000_000 : 20_000, 1_000L << Math.min(10, idle - 320)));
                }
                sleeping = false;
            }
        }
    }
}
