package ringattn.model.linalg;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/**
 * A fixed decode-attention problem (seeded, 8 query heads over 4 K/V heads of 16, 1003 keys) and the
 * bits of its result as hex, for {@link DecodeAttentionTest}'s comparison across JIT tiers: run as a
 * main in a JVM of its own ({@code -Xint}: every vector operation interpreted), or called in the
 * test's JVM after C2 has compiled the kernel.
 */
public final class DecodeAttentionBits {
    static final int HEADS = 8;
    static final int KV_HEADS = 4;
    static final int D = 16;
    static final int N = 1003;

    private DecodeAttentionBits() {
    }

    /** Prints {@link #compute()} on one line. */
    public static void main(String[] args) {
        System.out.println(compute());
    }

    /**
     * Seeded inputs for the decode attention tests: Q and V N(0, 1), K N(0, 9) (peaked softmaxes);
     * {@code qCount} and {@code kvCount} fp32 elements.
     */
    static void fillRandom(Random r, MemorySegment q, long qCount, MemorySegment kt, MemorySegment vt, long kvCount) {
        for (long i = 0; i < qCount; i++) {
            q.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        }
        for (long i = 0; i < kvCount; i++) {
            kt.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (3 * r.nextGaussian()));
            vt.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        }
    }

    /** The out and LSE bits of the fixed problem, 8 hex digits per float. */
    static String compute() {
        int cap = N + 5;
        Random r = new Random(17);
        ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment q = arena.allocate(4L * HEADS * D, 64);
            MemorySegment kt = arena.allocate(4L * KV_HEADS * D * cap, 64);
            MemorySegment vt = arena.allocate(4L * KV_HEADS * D * cap, 64);
            MemorySegment out = arena.allocate(4L * HEADS * D, 64);
            MemorySegment lse = arena.allocate(4L * HEADS, 64);
            fillRandom(r, q, (long) HEADS * D, kt, vt, (long) KV_HEADS * D * cap);
            DecodeAttention.attend(q, HEADS, KV_HEADS, D, 0.25f, kt, vt, cap, N, 0, HEADS, new float[cap], out, lse);
            StringBuilder sb = new StringBuilder();
            for (long i = 0; i < (long) HEADS * D; i++) {
                sb.append(String.format("%08x", Float.floatToRawIntBits(out.getAtIndex(f32, i))));
            }
            for (long i = 0; i < HEADS; i++) {
                sb.append(String.format("%08x", Float.floatToRawIntBits(lse.getAtIndex(f32, i))));
            }
            return sb.toString();
        }
    }
}
