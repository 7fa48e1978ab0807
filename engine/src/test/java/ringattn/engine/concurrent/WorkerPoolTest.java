package ringattn.engine.concurrent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/** The pool's contract: every task once, worker indices in range, the first failure rethrown, no use after close. */
class WorkerPoolTest {
    @Test
    void runsEveryTaskOnceOnAWorkerInRange() {
        try (WorkerPool pool = new WorkerPool(3, "test-pool")) {
            assertEquals(3, pool.size());
            for (int round = 0; round < 20; round++) { // several calls on the same threads
                int tasks = 1 + round * 7;
                AtomicIntegerArray runs = new AtomicIntegerArray(tasks);
                AtomicIntegerArray badWorker = new AtomicIntegerArray(1);
                pool.run(tasks, (task, worker) -> {
                    runs.incrementAndGet(task);
                    if (worker < 0 || worker >= pool.size()) {
                        badWorker.set(0, 1);
                    }
                });
                for (int t = 0; t < tasks; t++) {
                    assertEquals(1, runs.get(t), "task " + t + " of " + tasks);
                }
                assertEquals(0, badWorker.get(0), "a worker index outside [0, size)");
            }
        }
    }

    @Test
    void rethrowsTheTaskFailureAndStaysUsable() {
        try (WorkerPool pool = new WorkerPool(2, "test-pool")) {
            IllegalStateException boom = new IllegalStateException("task 5 failed");
            assertSame(boom, assertThrows(IllegalStateException.class, () -> pool.run(16, (task, worker) -> {
                if (task == 5) {
                    throw boom;
                }
            })));
            AtomicIntegerArray runs = new AtomicIntegerArray(4);
            pool.run(4, (task, worker) -> runs.incrementAndGet(task));
            assertEquals("[1, 1, 1, 1]", runs.toString());
        }
    }

    @Test
    void refusesBadSizeAndUseAfterClose() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new WorkerPool(0, "x")).getMessage()
                .startsWith("size:"));
        WorkerPool pool = new WorkerPool(2, "test-pool");
        pool.close();
        assertTrue(assertThrows(IllegalStateException.class, () -> pool.run(2, (task, worker) -> { }))
                .getMessage().contains("closed"));
    }
}
