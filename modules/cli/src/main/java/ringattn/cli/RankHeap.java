package ringattn.cli;

import java.util.List;

/**
 * The Java heap bound ({@code -Xmx}) for the rank processes the CLI starts, sized from the job. The
 * Vector API kernel keeps fp32 copies of what it works on, on the heap: a forward pass's packed
 * queries and unnormalised output (about twice the query shard in fp32) and one packed K/V block of
 * at most 8 MiB (a larger block is taken in runs), and a backward pass's per-run copies of K, V, dK
 * and dV. Without a bound, G1 answers the garbage of the JIT warm-up (every vector operation an object
 * until C2 has compiled the kernels) by growing the heap to several times that, and keeps it, which
 * made most of a demo rank's resident memory (README, "Cold start and memory"). The bound is the
 * estimate plus {@link #ROOM_BYTES}, at least 256 MiB, so a misestimate costs collections,
 * not an {@code OutOfMemoryError}; the user's own {@code -Xmx} in {@code RINGATTN_JVM_OPTS} comes later
 * on the command line and wins. Stateless.
 */
final class RankHeap {
    /** The smallest bound given (bytes): the JVM, the model code and the transport's own objects fit in it. */
    static final long FLOOR_BYTES = 256L << 20;
    /**
     * Room beside the kernel's arrays (bytes): the young generation (at most 16 MiB, the launcher's
     * {@code -XX:MaxNewSize}; G1 shrinks it when the heap is tight) and everything else on the heap,
     * a few MiB.
     */
    static final long ROOM_BYTES = 64L << 20;
    /** The kernel's bound on a forward's packed K/V block (bytes; {@code PanamaKernel.PACKED_BLOCK_BYTES}). */
    static final long PACKED_BLOCK_BYTES = 8L << 20;
    /** The same for the backward's runs ({@code PanamaKernel.BACKWARD_RUN_FACTOR} times longer). */
    static final long BACKWARD_BLOCK_BYTES = 32L << 20;

    private RankHeap() {
    }

    /** Per compute thread (bytes): a forward task's tiles; with gradients, a backward task's packed Q, dO and dQ. */
    static final long THREAD_BYTES = 1L << 20;
    static final long THREAD_GRADIENT_BYTES = 6L << 20;

    /**
     * The estimate of the kernel's heap per rank, bytes, for rows {@code ⌈S / P⌉}: the forward's
     * packed Q, output rows and m/l ({@code 4 · rows · H · (2D + 2)}) and one packed K/V block
     * ({@code 8 · rows · Hkv · D}, at most {@link #PACKED_BLOCK_BYTES}); with {@code gradients} three
     * of the backward's runs (at most {@link #BACKWARD_BLOCK_BYTES} each) more: its copies of K, V,
     * dK and dV of a run, and its K panels; and each of the rank's {@code threads} workers' scratch.
     */
    static long kernelBytes(long seqLen, int ranks, int heads, int kvHeads, int headDim, int threads, boolean gradients) {
        long rows = (seqLen + ranks - 1) / ranks;
        long query = 4L * rows * heads * (2L * headDim + 2);
        long kv = 8L * rows * kvHeads * headDim;
        long workers = (long) threads * (gradients ? THREAD_GRADIENT_BYTES : THREAD_BYTES);
        return query + Math.min(PACKED_BLOCK_BYTES, kv) + (gradients ? 3 * Math.min(BACKWARD_BLOCK_BYTES, kv) : 0) + workers;
    }

    /** {@code -Xmx<N>m} for a rank of this job (see the class comment). */
    static List<String> option(long seqLen, int ranks, int heads, int kvHeads, int headDim, int threads, boolean gradients) {
        long bytes = Math.max(FLOOR_BYTES, kernelBytes(seqLen, ranks, heads, kvHeads, headDim, threads, gradients) + ROOM_BYTES);
        return List.of("-Xmx" + ((bytes + (1 << 20) - 1) >> 20) + "m");
    }
}
