package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;

import org.junit.jupiter.api.Test;

/** Finding 12: a command that throws on the progress thread must not end the thread. */
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
}
