package ringattn.engine.concurrent;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A fixed set of daemon threads that run the tasks {@code 0..count-1} of one call and return when
 * all are done: the one worker pool of the engine's CPU kernels and the model's dense layers.
 * Tasks are handed out dynamically (which worker runs which task is not fixed), so they must write
 * disjoint memory; each task is told which worker runs it ({@code 0 ≤ worker < size()}) so it can
 * use that worker's scratch buffers. The caller's thread is worker 0, the others are
 * {@code size() − 1} platform threads named {@code name-1 … name-(size−1)}, started by the
 * constructor. One {@link #run} at a time (callers serialize); {@link #close()} stops the threads.
 */
public final class WorkerPool implements AutoCloseable {
    /** One task: {@code task} in {@code [0, count)}, run by worker {@code worker}. */
    @FunctionalInterface
    public interface Task {
        void run(int task, int worker);
    }

    private final int size;
    private final Thread[] threads;
    private final Object lock = new Object();
    private long generation;
    private boolean closed;
    private Task current;
    private int count;
    private AtomicInteger next;
    private CountDownLatch done;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    /** A pool of {@code size} workers (the caller plus {@code size − 1} threads). */
    public WorkerPool(int size, String name) {
        if (size < 1) {
            throw new IllegalArgumentException("size: must be >= 1, got " + size);
        }
        this.size = size;
        this.threads = new Thread[size - 1];
        for (int i = 1; i < size; i++) {
            int worker = i;
            Thread t = Thread.ofPlatform().daemon().name(name + "-" + i).unstarted(() -> loop(worker));
            threads[i - 1] = t;
            t.start();
        }
    }

    /** Workers, the caller's thread included (≥ 1). */
    public int size() {
        return size;
    }

    /** Runs tasks {@code 0..count-1} on the workers and waits; rethrows the first task failure. */
    public void run(int taskCount, Task task) {
        if (taskCount <= 0) {
            return;
        }
        if (size == 1 || taskCount == 1) {
            for (int t = 0; t < taskCount; t++) {
                task.run(t, 0);
            }
            return;
        }
        AtomicInteger counter = new AtomicInteger();
        CountDownLatch latch = new CountDownLatch(size - 1);
        failure.set(null);
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("worker pool is closed");
            }
            current = task;
            count = taskCount;
            next = counter;
            done = latch;
            generation++;
            lock.notifyAll();
        }
        drain(task, taskCount, counter, 0);
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the workers of a worker pool", e);
        }
        Throwable f = failure.get();
        if (f instanceof RuntimeException re) {
            throw re;
        } else if (f instanceof Error err) {
            throw err;
        } else if (f != null) {
            throw new IllegalStateException(f);
        }
    }

    private void drain(Task task, int taskCount, AtomicInteger counter, int worker) {
        int t;
        while ((t = counter.getAndIncrement()) < taskCount) {
            try {
                task.run(t, worker);
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
                counter.set(taskCount); // stop handing out work
            }
        }
    }

    private void loop(int worker) {
        long seen = 0;
        while (true) {
            Task task;
            int taskCount;
            AtomicInteger counter;
            CountDownLatch latch;
            synchronized (lock) {
                while (!closed && generation == seen) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) {
                    return;
                }
                seen = generation;
                task = current;
                taskCount = count;
                counter = next;
                latch = done;
            }
            drain(task, taskCount, counter, worker);
            latch.countDown();
        }
    }

    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
            lock.notifyAll();
        }
        for (Thread t : threads) {
            try {
                t.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
