package ringattn.engine.ring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.testing.TestTensors;

class ShardLayoutTest {
    @ParameterizedTest
    @EnumSource(ShardLayout.class)
    void everyPositionBelongsToExactlyOneShard(ShardLayout layout) {
        for (int world = 1; world <= 7; world++) {
            for (int seq : new int[] {0, 1, 2, 5, 13, 64, 1001}) {
                int[] owner = new int[seq];
                java.util.Arrays.fill(owner, -1);
                int max = 0;
                int min = Integer.MAX_VALUE;
                for (int r = 0; r < world; r++) {
                    Positions p = layout.positions(r, world, seq);
                    max = Math.max(max, p.size());
                    min = Math.min(min, p.size());
                    for (int i = 0; i < p.size(); i++) {
                        assertEquals(-1, owner[p.get(i)], layout + " position " + p.get(i) + " owned twice");
                        owner[p.get(i)] = r;
                        if (i > 0) {
                            assertTrue(p.get(i) > p.get(i - 1), "increasing");
                        }
                    }
                }
                for (int i = 0; i < seq; i++) {
                    assertTrue(owner[i] >= 0, layout + " P=" + world + " S=" + seq + ": position " + i + " unowned");
                }
                int slack = layout == ShardLayout.ZIGZAG ? 2 : 1;
                assertTrue(max - min <= slack, layout + " shards differ by " + (max - min));
            }
        }
    }

    @Test
    void zigzagGivesRankRChunksRAnd2PMinus1MinusR() {
        // S = 16, P = 4: chunks of 2; rank 1 holds chunk 1 [2,3] and chunk 6 [12,13].
        assertEquals(Positions.of(2, 3, 12, 13), ShardLayout.ZIGZAG.positions(1, 4, 16));
        assertEquals(Positions.of(1, 5, 9), ShardLayout.STRIPED.positions(1, 4, 12));
        assertEquals(Positions.range(3, 3), ShardLayout.CONTIGUOUS.positions(1, 4, 12));
    }

    @ParameterizedTest
    @EnumSource(ShardLayout.class)
    void shardThenUnshardRestoresTheTensor(ShardLayout layout) {
        try (Tensor global = TestTensors.normal(5, 23, 3, 4, DType.BF16);
             Tensor back = Tensor.allocate(23, 3, 4, DType.BF16)) {
            for (int r = 0; r < 3; r++) {
                try (Tensor s = layout.shard(global, r, 3)) {
                    layout.unshard(s, r, 3, back);
                }
            }
            for (long i = 0; i < global.elementCount(); i++) {
                assertEquals(global.getFlat(i), back.getFlat(i));
            }
        }
    }

    @Test
    void badArgumentsAreNamed() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ShardLayout.ZIGZAG.positions(4, 4, 10))
                .getMessage().startsWith("rank:"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ShardLayout.ZIGZAG.positions(0, 0, 10))
                .getMessage().startsWith("worldSize:"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ShardLayout.parse("diagonal"))
                .getMessage().startsWith("layout:"));
    }
}
