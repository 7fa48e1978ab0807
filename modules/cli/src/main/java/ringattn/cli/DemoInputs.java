package ringattn.cli;

import java.util.SplittableRandom;
import java.util.TreeSet;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * Seeded demo inputs that any rank can generate for any global positions, so no input moves between
 * ranks: the row of tensor {@code which} (0 = Q, 1 = K, 2 = V) at global position {@code p} is a
 * stream of uniform values in [−1, 1) seeded by {@code (seed, which, p)}; a rank generating its shard
 * gets exactly the rows a single device would. Stateless and thread-safe.
 */
public final class DemoInputs {
    /** Tensor ids for {@link #rows}. */
    public static final int Q = 0;
    public static final int K = 1;
    public static final int V = 2;

    private DemoInputs() {
    }

    /** A new tensor {@code [positions.size(), heads, headDim]} of the rows at {@code positions}. Caller owns it. */
    public static Tensor rows(long seed, int which, Positions positions, int heads, int headDim, DType dtype) {
        Tensor t = Tensor.allocate(positions.size(), heads, headDim, dtype);
        int perRow = heads * headDim;
        for (int r = 0; r < positions.size(); r++) {
            long state = mix(seed ^ mix(which * 0x9E3779B97F4A7C15L + positions.get(r)));
            long base = (long) r * perRow;
            for (int i = 0; i < perRow; i++) {
                state += 0x9E3779B97F4A7C15L;
                long z = mix(state);
                t.setFlat(base + i, (z >>> 40) * 0x1p-23f - 1f);
            }
        }
        return t;
    }

    /**
     * The rows checked against the single-device reference: every position when {@code seqLen ≤
     * allRowsLimit}, else {@code count} distinct positions drawn uniformly with
     * {@code SplittableRandom(seed ^ 0x5EED)}, in increasing order.
     */
    public static int[] checkedRows(long seed, int seqLen, int count, int allRowsLimit) {
        if (seqLen <= allRowsLimit || count >= seqLen) {
            if (count == 0 && seqLen > allRowsLimit) {
                return new int[0];
            }
            int[] all = new int[seqLen];
            for (int i = 0; i < seqLen; i++) {
                all[i] = i;
            }
            return all;
        }
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x5EED);
        TreeSet<Integer> picked = new TreeSet<>();
        while (picked.size() < count) {
            picked.add(rnd.nextInt(seqLen));
        }
        return picked.stream().mapToInt(Integer::intValue).toArray();
    }

    /** SplitMix64's finaliser. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
