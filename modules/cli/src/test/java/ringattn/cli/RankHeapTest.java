package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The rank heap bound: the floor for small jobs, the kernel estimate plus 64 MiB above it. */
class RankHeapTest {
    @Test
    void defaultDemoGetsTheFloor() {
        // S = 16384 over 4 ranks, H = Hkv = 8, D = 128: 4096 rows · 8 · 258 · 4 + the 8 MiB block = 40.25 MiB
        assertEquals(4L * 4096 * 8 * 258 + (8L << 20), RankHeap.kernelBytes(16384, 4, 8, 8, 128, false));
        assertEquals(List.of("-Xmx256m"), RankHeap.option(16384, 4, 8, 8, 128, false));
        assertEquals(List.of("-Xmx256m"), RankHeap.option(64, 1, 2, 2, 16, true));
    }

    @Test
    void largeShardsRaiseItAndLargeBlocksDoNot() {
        // 2M tokens over 4 ranks, one head of 64: 524288 · 130 · 4 = 260 MiB of query side, the K/V
        // block capped at 8 MiB (runs); + 64 = 332 MiB; gradients add three 32 MiB runs: 428 MiB
        assertEquals(List.of("-Xmx332m"), RankHeap.option(2 << 20, 4, 1, 1, 64, false));
        assertEquals(List.of("-Xmx428m"), RankHeap.option(2 << 20, 4, 1, 1, 64, true));
        // an uneven split rounds the shard up
        assertEquals(4L * 251 * 130 + 8L * 251 * 64, RankHeap.kernelBytes(1001, 4, 1, 1, 64, false));
    }
}
