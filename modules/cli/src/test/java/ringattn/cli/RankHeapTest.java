package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The rank heap bound: the floor for small jobs, the kernel estimate plus 64 MiB above it. */
class RankHeapTest {
    @Test
    void defaultDemoGetsTheFloor() {
        // S = 16384 over 4 ranks, H = Hkv = 8, D = 128, 1 thread: 4096 rows · 8 · 258 · 4 + the 8 MiB
        // block + 1 MiB = 41.25 MiB
        assertEquals(4L * 4096 * 8 * 258 + (9L << 20), RankHeap.kernelBytes(16384, 4, 8, 8, 128, 1, false));
        assertEquals(List.of("-Xmx256m"), RankHeap.option(16384, 4, 8, 8, 128, 1, false));
        assertEquals(List.of("-Xmx256m"), RankHeap.option(64, 1, 2, 2, 16, 2, true));
    }

    @Test
    void largeShardsThreadsAndGradientsRaiseItAndLargeBlocksDoNot() {
        // 2M tokens over 4 ranks, one head of 64, 1 thread: 524288 · 130 · 4 = 260 MiB of query side,
        // the K/V block capped at 8 MiB (runs), 1 MiB of tiles; + 64 = 333 MiB; gradients add three
        // 32 MiB runs and 6 MiB per thread instead of 1: 434 MiB; 16 threads 524 MiB
        assertEquals(List.of("-Xmx333m"), RankHeap.option(2 << 20, 4, 1, 1, 64, 1, false));
        assertEquals(List.of("-Xmx434m"), RankHeap.option(2 << 20, 4, 1, 1, 64, 1, true));
        assertEquals(List.of("-Xmx524m"), RankHeap.option(2 << 20, 4, 1, 1, 64, 16, true));
        // an uneven split rounds the shard up
        assertEquals(4L * 251 * 130 + 8L * 251 * 64 + (1 << 20), RankHeap.kernelBytes(1001, 4, 1, 1, 64, 1, false));
    }
}
