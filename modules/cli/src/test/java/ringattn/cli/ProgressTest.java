package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.ring.RingAttention;
import ringattn.engine.ring.RingOptions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.InJvmRing;

/**
 * Progress lines for batch logs: a fake clock drives the interval, so the test asserts which lines
 * appear (rate bound, step counts, keys, estimate) without depending on speed.
 */
class ProgressTest {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream err = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    private List<String> lines() {
        return bytes.toString(StandardCharsets.UTF_8).lines().toList();
    }

    private static long seconds(double s) {
        return (long) (s * 1e9);
    }

    @Test
    void linesAppearAtMostOncePerIntervalWithStepsKeysAndTimeLeft() {
        Progress p = Progress.lines(err, 1, now::get, Duration.ofSeconds(3));
        RingProgress ring = new RingProgress(p, now::get, "demo", 1000, 4, 2);
        ring.startPass("forward", 1, 2, 1);
        now.addAndGet(seconds(1));
        ring.stepDone(250);
        assertEquals(List.of(), lines(), "nothing before the first interval");
        now.addAndGet(seconds(2));
        ring.stepDone(250);
        assertEquals(List.of("ringattn: demo: forward pass 1/2, ring step 2/4, 500/1000 keys, 3.0 s elapsed, "
                + "about 9 s left"), lines());
        now.addAndGet(seconds(1));
        ring.stepDone(250); // 1 s after the last line: held back
        assertEquals(1, lines().size(), lines().toString());
        now.addAndGet(seconds(2));
        ring.stepDone(250);
        ring.startPass("forward", 2, 2, 1);
        now.addAndGet(seconds(3));
        ring.stepDone(500);
        assertEquals(List.of(
                "ringattn: demo: forward pass 1/2, ring step 2/4, 500/1000 keys, 3.0 s elapsed, about 9 s left",
                "ringattn: demo: forward pass 1/2, ring step 4/4, 1000/1000 keys, 6.0 s elapsed, about 6 s left",
                "ringattn: demo: forward pass 2/2, ring step 1/4, 500/1000 keys, 9.0 s elapsed, about 3 s left"), lines());
    }

    @Test
    void aWrappedKernelCountsEveryRingStepOfForwardAndBackward() {
        int ranks = 3;
        int seq = 24;
        Progress p = Progress.lines(err, 1, now::get, Duration.ZERO);
        RingProgress ring = new RingProgress(p, now::get, "run", seq, ranks, 1 + Flops.BACKWARD_FACTOR);
        AttentionSpec spec = AttentionSpec.of(8);
        InJvmRing.run(ranks, Duration.ofSeconds(30), t -> {
            RingProgress mine = t.rank() == 0 ? ring : RingProgress.none();
            int n = seq / ranks;
            try (BlockKernel kernel = mine.wrap(Devices.select("cpu", KernelOptions.defaults(1)).kernel());
                 RingAttention attention = new RingAttention(t, kernel, RingOptions.defaults(spec));
                 Tensor q = Tensor.allocate(n, 1, 8, DType.F32); Tensor k = Tensor.allocate(n, 1, 8, DType.F32);
                 Tensor v = Tensor.allocate(n, 1, 8, DType.F32); Tensor dOut = Tensor.allocate(n, 1, 8, DType.F32)) {
                mine.startPass("forward", 1, 2, 1);
                try (var fwd = attention.forward(q, k, v, seq)) {
                    mine.startPass("backward", 2, 2, Flops.BACKWARD_FACTOR);
                    attention.backward(q, k, v, fwd, dOut, seq).close();
                }
            }
            return null;
        });
        List<String> got = lines();
        assertEquals(6, got.size(), got.toString());
        for (int s = 1; s <= ranks; s++) {
            assertTrue(got.get(s - 1).startsWith("ringattn: run: forward pass 1/2, ring step " + s + "/3, " + 8 * s
                    + "/24 keys"), got.toString());
            assertTrue(got.get(ranks + s - 1).startsWith("ringattn: run: backward pass 2/2, ring step " + s + "/3, "
                    + 8 * s + "/24 keys"), got.toString());
        }
    }

    @Test
    void theIntervalComesFromTheEnvironmentAndZeroTurnsLinesOff() {
        assertEquals(Duration.ofSeconds(3), Progress.interval(null));
        assertEquals(Duration.ofMillis(500), Progress.interval("0.5"));
        assertEquals(Duration.ZERO, Progress.interval("0"));
        UsageException e = assertThrows(UsageException.class, () -> Progress.interval("soon"));
        assertTrue(e.getMessage().contains("RINGATTN_PROGRESS_SECONDS"), e.getMessage());
    }
}
