package ringattn.engine.ring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The step clock's bookkeeping, with made-up times: what counts to which step, and how. */
class StepClockTest {
    @Test
    void transfersCountToThePostingStepWithOverlapsOnce() {
        StepClock clock = new StepClock(3, System.nanoTime());
        // step 0: two transfers posted together (the two ways of a two-way forward): 100..160 ∪ 101..190
        clock.transferred(0, 100, 160);
        clock.transferred(0, 101, 190);
        // step 1: K/V 1000..1040, then an accumulator posted after the compute, 1300..1350
        clock.transferred(1, 1000, 1040);
        clock.transferred(1, 1300, 1350);
        // a transfer that completed before it was counted from (clock skew): nothing
        clock.transferred(2, 500, 400);
        RingStats s = clock.stats();
        assertEquals(90, s.transferNanos(0), "from the first post to the last completion");
        assertEquals(40 + 50, s.transferNanos(1), "disjoint transfers add up");
        assertEquals(0, s.transferNanos(2));
    }

    @Test
    void computeWaitAndBytesCountToTheCurrentStep() {
        long start = System.nanoTime();
        StepClock clock = new StepClock(2, start);
        clock.addBytes(7);
        clock.waited(5);
        clock.at(1);
        assertEquals(1, clock.step());
        clock.addBytes(11);
        clock.addBytes(13);
        clock.waited(3);
        clock.compute(() -> {
            long t = System.nanoTime();
            while (System.nanoTime() == t) {
                Thread.onSpinWait();
            }
        });
        RingStats s = clock.stats();
        assertEquals(2, s.steps());
        assertEquals(7, s.bytes(0));
        assertEquals(24, s.bytes(1));
        assertEquals(5, s.waitNanos(0));
        assertEquals(3, s.waitNanos(1));
        assertEquals(0, s.computeNanos(0));
        assertTrue(s.computeNanos(1) > 0, "compute timed");
        assertTrue(s.wallNanos() >= s.computeNanos(1), "wall time from the pass's start");
    }
}
