package ringattn.cli;

import java.util.List;

/**
 * The Java heap bound ({@code -Xmx}) for the rank processes the CLI starts, sized from the job. The
 * Vector API kernel keeps fp32 copies of what it works on, on the heap: about twice the query shard
 * and one K/V block (README, "Known limits"), twice that again with the gradients. Without a bound,
 * G1 answers the garbage of the JIT warm-up (every vector operation an object until C2 has compiled
 * the kernels) by growing the heap to several times that, and keeps it, which made most of a demo
 * rank's resident memory (README, "Cold start and memory"). The bound is twice the estimate plus
 * 64 MiB, at least 256 MiB, so a
 * misestimate costs collections, not an {@code OutOfMemoryError}; the user's own {@code -Xmx} in
 * {@code RINGATTN_JVM_OPTS} comes later on the command line and wins. Stateless.
 */
final class RankHeap {
    /** The smallest bound given (bytes): the JVM, the model code and the transport's own objects fit in it. */
    static final long FLOOR_BYTES = 256L << 20;

    private RankHeap() {
    }

    /**
     * The estimate of the kernel's heap per rank, bytes: {@code 2 · 4 · (Q shard + K and V block)}
     * elements of fp32 for rows {@code ⌈S / P⌉}, doubled with {@code gradients}.
     */
    static long kernelBytes(long seqLen, int ranks, int heads, int kvHeads, int headDim, boolean gradients) {
        long rows = (seqLen + ranks - 1) / ranks;
        long elements = rows * (long) headDim * (heads + 2L * kvHeads);
        return 2L * 4L * elements * (gradients ? 2 : 1);
    }

    /** {@code -Xmx<N>m} for a rank of this job (see the class comment). */
    static List<String> option(long seqLen, int ranks, int heads, int kvHeads, int headDim, boolean gradients) {
        long bytes = Math.max(FLOOR_BYTES, 2 * kernelBytes(seqLen, ranks, heads, kvHeads, headDim, gradients) + (64L << 20));
        return List.of("-Xmx" + ((bytes + (1 << 20) - 1) >> 20) + "m");
    }
}
