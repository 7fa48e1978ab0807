package ringattn.engine.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

@Timeout(60)
class InJvmRingTest {
    private static byte pattern(int origin, long i) {
        return (byte) (origin * 31 + i * 7 + (i >> 8));
    }

    @ParameterizedTest(name = "P={0}")
    @ValueSource(ints = {2, 3, 4})
    void buffersRotateByteForByte(int world) {
        long[] sizes = {1, 4096, 65_536 + 3, 1 << 20};
        List<Integer> ok = InJvmRing.run(world, Duration.ofSeconds(10), t -> {
            long max = sizes[sizes.length - 1];
            t.allocateBuffers(2, max);
            int step = 0;
            for (long size : sizes) {
                MemorySegment mine = t.buffer(0);
                for (long i = 0; i < size; i++) {
                    mine.set(ValueLayout.JAVA_BYTE, i, pattern(t.rank(), i));
                }
                for (int s = 0; s < world - 1; s++) {
                    int cur = s % 2;
                    Transfer recv = t.receiveFromPrevious(1 - cur, size, step);
                    Transfer send = t.sendToNext(cur, size, step);
                    step++;
                    send.await(Duration.ofSeconds(5));
                    recv.await(Duration.ofSeconds(5));
                    int origin = Math.floorMod(t.rank() - s - 1, world);
                    MemorySegment got = t.buffer(1 - cur);
                    for (long i = 0; i < size; i++) {
                        if (got.get(ValueLayout.JAVA_BYTE, i) != pattern(origin, i)) {
                            throw new AssertionError("rank " + t.rank() + " step " + s + " byte " + i);
                        }
                    }
                    // the next step sends what arrived (buffer 1-cur becomes cur)
                }
            }
            return 1;
        });
        assertEquals(world, ok.stream().mapToInt(Integer::intValue).sum());
    }

    @Test
    void deadRankFailsTheOthersWithinTheBound() {
        long start = System.nanoTime();
        RuntimeException e = assertThrows(RuntimeException.class, () -> InJvmRing.run(3, Duration.ofSeconds(2), t -> {
            t.allocateBuffers(2, 64);
            if (t.rank() == 1) {
                throw new IllegalStateException("rank 1 crashed");
            }
            Transfer recv = t.receiveFromPrevious(1, 64, 0);
            Transfer send = t.sendToNext(0, 64, 0);
            send.await(Duration.ofSeconds(30));
            recv.await(Duration.ofSeconds(30));
            return 0;
        }));
        double seconds = (System.nanoTime() - start) / 1e9;
        assertTrue(e.getMessage().contains("rank 1 crashed"), e.getMessage());
        assertTrue(seconds < 10, "ended in " + seconds + " s");
    }

    @Test
    void silentRankTimesOutNamingIt() {
        RankFailedException e = assertThrows(RankFailedException.class, () -> InJvmRing.run(2, Duration.ofSeconds(1), t -> {
            t.allocateBuffers(2, 8);
            if (t.rank() == 0) {
                Transfer recv = t.receiveFromPrevious(1, 8, 0);
                recv.await(Duration.ofMillis(300));
            }
            return 0;
        }));
        assertEquals(1, e.failedRank());
    }

    @Test
    void disagreeingBufferSizesFailOnEveryRank() {
        TransportException e = assertThrows(TransportException.class, () -> InJvmRing.run(2, Duration.ofSeconds(5), t -> {
            t.allocateBuffers(2, t.rank() == 0 ? 64 : 128);
            return 0;
        }));
        assertTrue(e.getMessage().contains("disagree on buffer sizes"), e.getMessage());
    }

    @Test
    void allGatherReturnsEveryRanksBytes() {
        List<byte[][]> all = InJvmRing.run(3, Duration.ofSeconds(5), t -> t.allGather(new byte[] {(byte) t.rank()}, Duration.ofSeconds(5)));
        for (byte[][] g : all) {
            for (int r = 0; r < 3; r++) {
                assertEquals(r, g[r][0]);
            }
        }
    }

    @Test
    void badWorldSizeIsRefused() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> InJvmRing.create(0, Duration.ofSeconds(1)))
                .getMessage().startsWith("worldSize:"));
    }
}
