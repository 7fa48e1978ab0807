package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The rank heap bound: the floor for small jobs, twice the kernel estimate plus 64 MiB above it. */
class RankHeapTest {
    @Test
    void defaultDemoGetsTheFloor() {
        // S = 16384 over 4 ranks, H = Hkv = 8, D = 128: 4096 rows · 128 · 24 fp32 · 2 = 96 MiB; 2 · 96 + 64 = 256
        assertEquals(96L << 20, RankHeap.kernelBytes(16384, 4, 8, 8, 128, false));
        assertEquals(List.of("-Xmx256m"), RankHeap.option(16384, 4, 8, 8, 128, false));
        assertEquals(List.of("-Xmx256m"), RankHeap.option(64, 1, 2, 2, 16, true));
    }

    @Test
    void largeShardsAndGradientsRaiseIt() {
        // 1M tokens over 4 ranks, one head of 64: 262144 · 64 · 3 · 4 · 2 = 384 MiB; 2 · 384 + 64 = 832
        assertEquals(List.of("-Xmx832m"), RankHeap.option(1 << 20, 4, 1, 1, 64, false));
        assertEquals(List.of("-Xmx1600m"), RankHeap.option(1 << 20, 4, 1, 1, 64, true));
        // an uneven split rounds the shard up
        assertEquals(RankHeap.kernelBytes(1001, 4, 1, 1, 64, false), 2L * 4 * 251 * 64 * 3);
    }
}
