package ringattn.engine.kernel.contract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.Positions;
import ringattn.engine.kernel.contract.KernelTestSupport.Backward;
import ringattn.engine.kernel.contract.KernelTestSupport.Forward;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * Passes over K/V split into blocks, for {@link BlockKernelContract}: a block is a strictly
 * increasing list of K/V row indices, fed as a view when its rows are a run and as a copy of them
 * otherwise (stripes), so that any split, in any order, can be given to a kernel; and byte
 * comparisons of results.
 */
final class BlockRuns {
    private BlockRuns() {
    }

    /** Rows {@code [from, to)}. */
    static int[] range(int from, int to) {
        return IntStream.range(from, to).toArray();
    }

    /** K/V rows {@code [0, n)} as {@code parts} uneven runs, in shuffled order. */
    static int[][] runs(int n, int parts, long seed) {
        int[] cut = KernelTestSupport.cuts(n, parts, seed);
        int[] order = KernelTestSupport.shuffledOrder(cut, seed);
        int[][] blocks = new int[order.length][];
        for (int i = 0; i < order.length; i++) {
            blocks[i] = range(cut[order[i]], cut[order[i] + 1]);
        }
        return blocks;
    }

    /** K/V rows {@code [0, n)} as {@code count} stripes (stripe r: rows r, r + count, …), the last stripe first. */
    static int[][] stripes(int n, int count) {
        int[][] blocks = new int[count][];
        for (int r = 0; r < count; r++) {
            int first = count - 1 - r;
            blocks[r] = IntStream.iterate(first, i -> i < n, i -> i + count).toArray();
        }
        return blocks;
    }

    /** Positions {@code first, first + step, …} ({@code count} of them). */
    static Positions stride(int first, int step, int count) {
        return Positions.of(IntStream.range(0, count).map(i -> first + i * step).toArray());
    }

    static String describe(Positions p) {
        return p.isContiguous() ? p.toString() : p.size() + " positions in [" + p.first() + ", " + p.last() + "]";
    }

    /** Positions {@code [0, n)} except the multiples of {@code m}. */
    static Positions withoutMultiplesOf(int m, int n) {
        return Positions.of(IntStream.range(0, n).filter(i -> i % m != 0).toArray());
    }

    /** O (F32) and LSE of queries at {@code qPos} over the K/V rows of each block, fed in order. */
    static Forward forward(BlockKernel kernel, Tensor q, Positions qPos, Tensor k, Tensor v, Positions kPos,
                           int[][] blocks, AttentionSpec spec) {
        return forward(kernel, q, qPos, k, v, kPos, blocks, spec, 0f);
    }

    /** As above, with {@code out} holding {@code stale} in every element before finish. */
    static Forward forward(BlockKernel kernel, Tensor q, Positions qPos, Tensor k, Tensor v, Positions kPos,
                           int[][] blocks, AttentionSpec spec, float stale) {
        Arena arena = Arena.ofShared();
        MemorySegment lse = arena.allocate(Math.max(4, 4L * q.tokens() * q.heads()));
        Tensor out = Tensor.allocate(q.tokens(), q.heads(), q.headDim(), DType.F32);
        for (long i = 0; i < out.elementCount(); i++) {
            out.setFlat(i, stale);
        }
        try (ForwardPass pass = kernel.beginForward(q, qPos, spec)) {
            feed(pass, k, v, kPos, blocks);
            pass.finish(out, lse);
        }
        return new Forward(out, lse, arena);
    }

    /** Updates {@code pass} with each block: a view when its rows are a run, else a copy of them. */
    static void feed(ForwardPass pass, Tensor k, Tensor v, Positions kPos, int[][] blocks) {
        for (int[] rows : blocks) {
            try (Tensor kb = rows(k, rows); Tensor vb = rows(v, rows)) {
                pass.update(kb, vb, positions(kPos, rows));
            }
        }
    }

    /**
     * Gradients of queries at {@code qPos} over the K/V rows of each block, fed in order, with O and
     * LSE from the fp64 reference. dK and dV go into {@code into} ({dK, dV}, added to what they hold)
     * or, when it is null, into new zeroed tensors; the result's dK/dV are then those tensors.
     */
    static Backward backward(BlockKernel kernel, Tensor q, Positions qPos, Tensor k, Tensor v, Positions kPos,
                             Tensor dOut, int[][] blocks, AttentionSpec spec, Tensor[] into) {
        ReferenceAttention.Result ref = ReferenceAttention.forward(q, qPos, k, v, kPos, spec);
        Tensor dq = Tensor.allocate(q.tokens(), q.heads(), q.headDim(), DType.F32);
        Tensor dk = into != null ? into[0] : Tensor.allocate(k.tokens(), k.heads(), k.headDim(), DType.F32);
        Tensor dv = into != null ? into[1] : Tensor.allocate(k.tokens(), k.heads(), k.headDim(), DType.F32);
        try (Arena arena = Arena.ofShared(); // shared: kernel workers read the LSE
             Tensor out = KernelTestSupport.toTensor(ref.out(), q.tokens(), q.heads(), q.headDim(), DType.F32);
             BackwardPass pass = kernel.beginBackward(q, qPos, out, dOut, KernelTestSupport.lseSegment(arena, ref.lse()),
                     spec)) {
            for (int[] rows : blocks) {
                try (Tensor kb = rows(k, rows); Tensor vb = rows(v, rows);
                     Tensor dkb = rows(dk, rows); Tensor dvb = rows(dv, rows)) {
                    pass.update(kb, vb, positions(kPos, rows), dkb, dvb);
                    if (!isRun(rows)) {
                        scatter(dkb, dk, rows);
                        scatter(dvb, dv, rows);
                    }
                }
            }
            pass.finish(dq);
        }
        return new Backward(dq, dk, dv);
    }

    private static boolean isRun(int[] rows) {
        return rows.length == 0 || rows[rows.length - 1] - rows[0] == rows.length - 1;
    }

    /** The given rows of {@code t}: a view when they are a run, else a copy. */
    private static Tensor rows(Tensor t, int[] rows) {
        if (isRun(rows)) {
            return t.tokens(rows.length == 0 ? 0 : rows[0], rows.length);
        }
        Tensor copy = Tensor.allocate(rows.length, t.heads(), t.headDim(), t.dtype());
        long stride = t.tokenStrideBytes();
        for (int i = 0; i < rows.length; i++) {
            MemorySegment.copy(t.segment(), rows[i] * stride, copy.segment(), i * stride, stride);
        }
        return copy;
    }

    /** Writes the rows of {@code block} back to rows {@code rows} of {@code t}. */
    private static void scatter(Tensor block, Tensor t, int[] rows) {
        long stride = t.tokenStrideBytes();
        for (int i = 0; i < rows.length; i++) {
            MemorySegment.copy(block.segment(), i * stride, t.segment(), rows[i] * stride, stride);
        }
    }

    private static Positions positions(Positions p, int[] rows) {
        return Positions.of(IntStream.of(rows).map(p::get).toArray());
    }

    static byte[] bytes(Tensor t) {
        return t.segment().toArray(ValueLayout.JAVA_BYTE);
    }

    static void assertSameBytes(Tensor want, Tensor got, String what) {
        assertArrayEquals(bytes(want), bytes(got), what);
    }

    static void assertSameBytes(MemorySegment want, MemorySegment got, long bytes, String what) {
        assertArrayEquals(want.asSlice(0, bytes).toArray(ValueLayout.JAVA_BYTE),
                got.asSlice(0, bytes).toArray(ValueLayout.JAVA_BYTE), what);
    }
}
