package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

/**
 * The progress loop: a command that throws must not end its thread (finding 12); a waiting caller
 * may progress the worker itself, but never at the same time as the loop thread (UCX asserts when
 * two threads progress one worker).
 */
class ProgressLoopTest {
    @Test
    void throwingCommandLeavesTheLoopServing() {
        ProgressLoop loop = new ProgressLoop("test-progress");
        try {
            loop.execute(() -> {
                throw new IllegalStateException("a UCX call failed");
            });
            loop.progressWith(() -> {
                throw new IllegalStateException("progress failed once");
            });
            assertEquals(42, (int) loop.call(() -> {
                loop.progressWith(() -> 0);
                return 42;
            }, Duration.ofSeconds(10), "after a failure"));
        } finally {
            assertTrue(loop.stop(Duration.ofSeconds(5)));
        }
    }

    @Test
    void aFreeWorkerRunsAPostOnTheCallersThread() {
        ProgressLoop loop = new ProgressLoop("test-progress");
        try {
            AtomicReference<Thread> ranOn = new AtomicReference<>();
            AtomicBoolean loopThreadThere = new AtomicBoolean();
            // The loop thread may hold the worker at this moment; then the post goes to it. Retry a
            // bounded number of times until one post finds the worker free.
            for (int i = 0; i < 1000 && ranOn.get() != Thread.currentThread(); i++) {
                loop.runOrExecute(() -> {
                    ranOn.set(Thread.currentThread());
                    loopThreadThere.set(loop.onLoopThread());
                });
                loop.call(() -> 0, Duration.ofSeconds(10), "flush"); // the post has run when this returns
            }
            assertSame(Thread.currentThread(), ranOn.get());
            assertTrue(loopThreadThere.get(), "a post run by the caller must see itself as the worker's thread");
        } finally {
            assertTrue(loop.stop(Duration.ofSeconds(5)));
        }
    }

    @Test
    void driveRunsQueuedCommandsAndProgressUntilDone() {
        ProgressLoop loop = new ProgressLoop("test-progress");
        try {
            AtomicInteger progressCalls = new AtomicInteger();
            loop.progressWith(() -> {
                progressCalls.incrementAndGet();
                return 0;
            });
            AtomicBoolean done = new AtomicBoolean();
            loop.execute(() -> done.set(true));
            assertTrue(loop.drive(done::get, Duration.ofSeconds(10).toNanos()));
            assertFalse(loop.drive(() -> false, 200_000), "drive must give up after its spin time");
            assertTrue(progressCalls.get() > 0);
        } finally {
            assertTrue(loop.stop(Duration.ofSeconds(5)));
        }
    }

    @Test
    void callerAndLoopThreadNeverProgressAtOnce() throws InterruptedException {
        ProgressLoop loop = new ProgressLoop("test-progress");
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        AtomicInteger calls = new AtomicInteger();
        try {
            loop.progressWith(() -> {
                if (inside.incrementAndGet() != 1) {
                    overlaps.incrementAndGet();
                }
                calls.incrementAndGet();
                Thread.onSpinWait();
                inside.decrementAndGet();
                return calls.get() % 7 == 0 ? 1 : 0; // sometimes "work", so the loop thread keeps polling
            });
            Thread[] callers = new Thread[2];
            long end = System.nanoTime() + Duration.ofMillis(300).toNanos();
            for (int c = 0; c < callers.length; c++) {
                callers[c] = Thread.ofPlatform().start(() -> {
                    while (System.nanoTime() < end) {
                        loop.runOrExecute(() -> { });
                        loop.drive(() -> false, 50_000);
                    }
                });
            }
            for (Thread t : callers) {
                t.join(Duration.ofSeconds(10));
            }
            assertTrue(calls.get() > 100, "the test must have progressed the worker, got " + calls.get() + " calls");
            assertEquals(0, overlaps.get(), "calls of progress() that overlapped another");
        } finally {
            assertTrue(loop.stop(Duration.ofSeconds(5)));
        }
    }
}
