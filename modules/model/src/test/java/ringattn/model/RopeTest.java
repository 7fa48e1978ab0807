package ringattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import ringattn.engine.kernel.Positions;
import ringattn.engine.ring.ShardLayout;
import ringattn.model.linalg.Layouts;

/** RoPE at global positions: shards rotate exactly as the rows of the whole sequence do. */
class RopeTest {
    private static final int HEADS = 3;
    private static final int HEAD_DIM = 32;

    private static MemorySegment random(Arena arena, int tokens, long seed) {
        MemorySegment m = arena.allocate(4L * tokens * HEADS * HEAD_DIM, 64);
        SplittableRandom r = new SplittableRandom(seed);
        for (long i = 0; i < (long) tokens * HEADS * HEAD_DIM; i++) {
            m.setAtIndex(Layouts.F32_LE, i, (float) (r.nextDouble() * 2 - 1));
        }
        return m;
    }

    /**
     * A shard rotated alone at its global offset equals the same rows of the whole sequence rotated
     * at once, bit for bit: the angle of a row depends only on its global position, never on where
     * the row sits in its shard (exact equality, since the same float operations run on the same
     * inputs).
     */
    @Test
    void shardAtGlobalOffsetEqualsRowsOfFullComputation() {
        Rope rope = Rope.of(LlamaConfig.tiny());
        int s = 101;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment full = random(arena, s, 1);
            MemorySegment original = arena.allocate(full.byteSize(), 64).copyFrom(full);
            rope.apply(full, HEADS, rope.table(Positions.range(0, s)));
            for (ShardLayout layout : ShardLayout.values()) {
                for (int rank = 0; rank < 3; rank++) {
                    Positions p = layout.positions(rank, 3, s);
                    long row = 4L * HEADS * HEAD_DIM;
                    MemorySegment shard = arena.allocate(Math.max(1, p.size() * row), 64);
                    for (int i = 0; i < p.size(); i++) {
                        MemorySegment.copy(original, p.get(i) * row, shard, i * row, row);
                    }
                    rope.apply(shard, HEADS, rope.table(p));
                    for (int i = 0; i < p.size(); i++) {
                        for (int e = 0; e < HEADS * HEAD_DIM; e++) {
                            assertEquals(full.getAtIndex(Layouts.F32_LE, (long) p.get(i) * HEADS * HEAD_DIM + e),
                                    shard.getAtIndex(Layouts.F32_LE, (long) i * HEADS * HEAD_DIM + e),
                                    layout + " rank " + rank + " row " + i + " (position " + p.get(i) + ") element " + e);
                        }
                    }
                }
            }
        }
    }

    /**
     * The point of RoPE: ⟨R(m)q, R(n)k⟩ depends only on m − n. Shifting both positions by 1000
     * changes the dot product by fp32 rounding only: tolerance 1e-4 on dot products of about 5
     * (angles of up to ~1500 rad in fp32 carry about 1e-4 rad of error).
     */
    @Test
    void dotProductDependsOnlyOnRelativePosition() {
        Rope rope = Rope.of(LlamaConfig.tiny());
        try (Arena arena = Arena.ofConfined()) {
            for (int[] mn : new int[][] {{7, 3}, {40, 0}, {90, 89}}) {
                MemorySegment a = random(arena, 2, 5);
                MemorySegment b = arena.allocate(a.byteSize(), 64).copyFrom(a);
                rope.apply(a, HEADS, rope.table(Positions.of(mn[1], mn[0])));
                rope.apply(b, HEADS, rope.table(Positions.of(mn[1] + 1000, mn[0] + 1000)));
                for (int h = 0; h < HEADS; h++) {
                    double da = 0;
                    double db = 0;
                    for (int e = 0; e < HEAD_DIM; e++) {
                        long k = (long) h * HEAD_DIM + e;
                        long q = (long) (HEADS + h) * HEAD_DIM + e;
                        da += a.getAtIndex(Layouts.F32_LE, q) * a.getAtIndex(Layouts.F32_LE, k);
                        db += b.getAtIndex(Layouts.F32_LE, q) * b.getAtIndex(Layouts.F32_LE, k);
                    }
                    assertEquals(da, db, 1e-4, "m=" + mn[0] + " n=" + mn[1] + " head " + h);
                }
            }
        }
    }

    /**
     * Llama-3 scaling of the tiny config (θ=500000, headDim 32, factor 8, low 1, high 4, original
     * 64): wavelengths below 16 keep their frequency, above 64 are divided by 8, and in between are
     * interpolated. Checked against values worked out by hand (relative 1e-12: both are the same
     * double formula).
     */
    @Test
    void llama3FrequencyScaling() {
        LlamaConfig c = LlamaConfig.tiny();
        double[] f = Rope.inverseFrequencies(c.headDim(), c.ropeTheta(), c.ropeScaling());
        double[] plain = Rope.inverseFrequencies(c.headDim(), c.ropeTheta(), null);
        assertEquals(1.0, plain[0], 0);
        assertEquals(Math.pow(500000, -2.0 / 32), plain[1], 1e-15);
        // i=0: wavelength 2π ≈ 6.28 < 16: unchanged
        assertEquals(plain[0], f[0], 0);
        // i=1: wavelength 2π·500000^(1/16) ≈ 14.3 < 16: unchanged
        assertEquals(plain[1], f[1], 0);
        // i=2: wavelength ≈ 32.6 in [16, 64]: smooth = (64/λ − 1)/(4 − 1)
        double lambda = 2 * Math.PI / plain[2];
        assertTrue(lambda > 16 && lambda < 64, "wavelength " + lambda);
        double smooth = (64 / lambda - 1) / 3;
        assertEquals((1 - smooth) * plain[2] / 8 + smooth * plain[2], f[2], 1e-12 * plain[2]);
        // i≥3: wavelengths > 64: divided by the factor
        for (int i = 3; i < f.length; i++) {
            assertTrue(2 * Math.PI / plain[i] > 64);
            assertEquals(plain[i] / 8, f[i], 1e-12 * plain[i]);
        }
        // and the test oracle's independent restatement agrees
        double[] oracle = Fp64Llama.invFreq(c);
        for (int i = 0; i < f.length; i++) {
            assertEquals(oracle[i], f[i], 1e-12 * oracle[i], "frequency " + i);
        }
    }

    /** Position 0 is the identity; a known angle rotates a unit pair exactly (tolerance: fp32 cos/sin, 1e-6). */
    @Test
    void knownRotation() {
        Rope rope = new Rope(4, 10000, null);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(4L * 2 * 4, 64);
            float[] row = {1, 0, 0, 0};
            for (int t = 0; t < 2; t++) {
                for (int i = 0; i < 4; i++) {
                    x.setAtIndex(Layouts.F32_LE, t * 4L + i, row[i]);
                }
            }
            rope.apply(x, 1, rope.table(Positions.of(0, 3)));
            assertEquals(1f, x.getAtIndex(Layouts.F32_LE, 0));
            assertEquals(0f, x.getAtIndex(Layouts.F32_LE, 2));
            // position 3, frequency 1: (x1, x2) = (1, 0) → (cos 3, sin 3)
            assertEquals(Math.cos(3), x.getAtIndex(Layouts.F32_LE, 4), 1e-6);
            assertEquals(Math.sin(3), x.getAtIndex(Layouts.F32_LE, 6), 1e-6);
        }
    }
}
