package ringattn.model.linalg;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntConsumer;

/**
 * A fixed pool for data-parallel loops: {@code threads - 1} daemon workers plus the calling thread.
 * One loop at a time per pool (the caller's rank thread); closing stops the workers.
 */
public final class Workers implements AutoCloseable {
    private final int threads;
    private final ExecutorService exec;

    public Workers(int threads, String name) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads: must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.exec = threads == 1 ? null : Executors.newFixedThreadPool(threads - 1, r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code body.accept(part)} for every part in {@code [0, parts)}, spread over the pool. */
    public void parallelFor(int parts, IntConsumer body) {
        if (parts <= 0) {
            return;
        }
        if (exec == null || parts == 1) {
            for (int p = 0; p < parts; p++) {
                body.accept(p);
            }
            return;
        }
        int lanes = Math.min(threads, parts);
        List<Future<?>> futures = new ArrayList<>(lanes - 1);
        for (int l = 1; l < lanes; l++) {
            int lane = l;
            futures.add(exec.submit(() -> {
                for (int p = lane; p < parts; p += lanes) {
                    body.accept(p);
                }
            }));
        }
        RuntimeException failure = null;
        try {
            for (int p = 0; p < parts; p += lanes) {
                body.accept(p);
            }
        } catch (RuntimeException e) {
            failure = e;
        }
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (failure == null) {
                    failure = e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failure == null) {
                    failure = new IllegalStateException("interrupted in a parallel loop", e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public void close() {
        if (exec != null) {
            exec.shutdownNow();
        }
    }
}
