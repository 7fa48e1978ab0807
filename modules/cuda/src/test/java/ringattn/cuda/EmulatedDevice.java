package ringattn.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.TreeMap;
import ringattn.cuda.ffm.Cublas;
import ringattn.cuda.ffm.KernelArgs;

/**
 * {@link DeviceOps} on the CPU, for tests without a GPU: "device" memory is host memory, GEMMs follow
 * cuBLAS's column-major strided-batched definition, and the PTX entries are ported line by line from
 * attention.cu. Every access is checked against the live allocations, so an index error in
 * {@link CublasKernel} fails here instead of corrupting GPU memory; {@link #live()} reports leaks,
 * and the copy counters say how many bytes crossed between host and "device".
 */
@SuppressWarnings("restricted") // FFM: native access is enabled for this module
final class EmulatedDevice implements DeviceOps {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;

    private static final String PTX = Ptx.text();

    private final TreeMap<Long, Arena> arenas = new TreeMap<>();
    private final TreeMap<Long, Long> sizes = new TreeMap<>();
    int launches;
    int gemms;
    /** Bytes copied host → device ({@link #copyToDevice}) so far. */
    long bytesToDevice;
    /** Bytes copied device → host ({@link #copyToHost}) so far. */
    long bytesToHost;

    @Override
    public String describe() {
        return "emulated";
    }

    @Override
    public void makeCurrent() {
    }

    @Override
    public long alloc(long bytes) {
        Arena arena = Arena.ofShared();
        MemorySegment s = arena.allocate(bytes, 256);
        s.fill((byte) 0x7f); // garbage, like fresh device memory
        arenas.put(s.address(), arena);
        sizes.put(s.address(), bytes);
        return s.address();
    }

    @Override
    public void free(long pointer) {
        Arena a = arenas.remove(pointer);
        if (a == null) {
            throw new IllegalStateException("free of unknown pointer " + pointer);
        }
        sizes.remove(pointer);
        a.close();
    }

    @Override
    public MemorySegment allocPinned(long bytes) {
        long p = alloc(bytes);
        return MemorySegment.ofAddress(p).reinterpret(bytes);
    }

    @Override
    public void freePinned(MemorySegment pinned) {
        free(pinned.address());
    }

    /** Live allocations (pointer → bytes). */
    Map<Long, Long> live() {
        return Map.copyOf(sizes);
    }

    /** The memory {@code [address, address + bytes)}, which must lie inside one allocation. */
    MemorySegment at(long address, long bytes) {
        Map.Entry<Long, Long> e = sizes.floorEntry(address);
        if (e == null || bytes < 0 || address + bytes > e.getKey() + e.getValue()) {
            throw new IndexOutOfBoundsException("access [" + address + ", +" + bytes + ") outside every allocation"
                    + (e == null ? "" : " (nearest starts at " + e.getKey() + " with " + e.getValue() + " bytes, offset "
                    + (address - e.getKey()) + ")"));
        }
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    @Override
    public void copyToDevice(long dst, MemorySegment pinned, long offset, long bytes) {
        bytesToDevice += bytes;
        MemorySegment.copy(pinned, offset, at(dst, bytes), 0, bytes);
    }

    @Override
    public void copyToHost(MemorySegment pinned, long offset, long src, long bytes) {
        bytesToHost += bytes;
        MemorySegment.copy(at(src, bytes), 0, pinned, offset, bytes);
    }

    @Override
    public void zero(long dst, long bytes) {
        at(dst, bytes).fill((byte) 0);
    }

    @Override
    public void synchronize() {
    }

    @Override
    public void gemm(int transa, int transb, int m, int n, int k, float alpha,
                     long a, int aType, int lda, long strideA, long b, int bType, int ldb, long strideB,
                     float beta, long c, int ldc, long strideC, int batch) {
        gemms++;
        // stored shapes: op(A) is m×k, so A is m×k (N) or k×m (T); op(B) is k×n
        int aRows = transa == Cublas.OP_N ? m : k;
        int aCols = transa == Cublas.OP_N ? k : m;
        int bRows = transb == Cublas.OP_N ? k : n;
        int bCols = transb == Cublas.OP_N ? n : k;
        if (lda < aRows || ldb < bRows || ldc < m) {
            throw new IllegalArgumentException("leading dimension too small: lda " + lda + " for " + aRows
                    + " rows, ldb " + ldb + " for " + bRows + ", ldc " + ldc + " for " + m);
        }
        int aSize = aType == Cublas.R_16BF ? 2 : 4;
        int bSize = bType == Cublas.R_16BF ? 2 : 4;
        MemorySegment as = at(a, aSize * ((batch - 1) * strideA + (long) (aCols - 1) * lda + aRows));
        MemorySegment bs = at(b, bSize * ((batch - 1) * strideB + (long) (bCols - 1) * ldb + bRows));
        MemorySegment cs = at(c, 4 * ((batch - 1) * strideC + (long) (n - 1) * ldc + m));
        for (int z = 0; z < batch; z++) {
            for (int j = 0; j < n; j++) {
                for (int i = 0; i < m; i++) {
                    float sum = 0f;
                    for (int p = 0; p < k; p++) {
                        long ai = z * strideA + (transa == Cublas.OP_N ? i + (long) p * lda : p + (long) i * lda);
                        long bi = z * strideB + (transb == Cublas.OP_N ? p + (long) j * ldb : j + (long) p * ldb);
                        sum += read(as, ai, aType) * read(bs, bi, bType);
                    }
                    long ci = z * strideC + i + (long) j * ldc;
                    float old = beta == 0f ? 0f : beta * cs.getAtIndex(F32, ci);
                    cs.setAtIndex(F32, ci, alpha * sum + old);
                }
            }
        }
    }

    private static float read(MemorySegment s, long index, int type) {
        return type == Cublas.R_16BF
                ? Float.intBitsToFloat((s.getAtIndex(U16, index) & 0xFFFF) << 16)
                : s.getAtIndex(F32, index);
    }

    @Override
    public void launch(String entry, int grid, int block, KernelArgs args) {
        launches++;
        if (grid < 1 || block < 1 || block > 1024) {
            throw new IllegalArgumentException(entry + ": bad launch grid " + grid + " block " + block);
        }
        // The arguments must match the parameters of the real PTX entry, kind by kind.
        String want = Ptx.signature(PTX, entry);
        if (!args.kinds().equals(want)) {
            throw new IllegalArgumentException(entry + ": arguments " + args.kinds() + " do not match the PTX parameters "
                    + want);
        }
        switch (entry) {
            case Ptx.BF16_TO_F32 -> {
                long n = args.longAt(2);
                MemorySegment in = at(args.longAt(0), 2 * n);
                MemorySegment out = at(args.longAt(1), 4 * n);
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(F32, i, Float.intBitsToFloat((in.getAtIndex(U16, i) & 0xFFFF) << 16));
                }
            }
            case Ptx.SWAP01_B32, Ptx.SWAP01_B16 -> {
                int size = entry.equals(Ptx.SWAP01_B32) ? 4 : 2;
                int a = args.intAt(2);
                int b = args.intAt(3);
                int inner = args.intAt(4);
                long n = (long) a * b * inner;
                MemorySegment in = at(args.longAt(0), size * n);
                MemorySegment out = at(args.longAt(1), size * n);
                for (long i = 0; i < n; i++) {
                    int c = (int) (i % inner);
                    long t = i / inner;
                    int y = (int) (t % b);
                    int x = (int) (t / b);
                    long o = ((long) y * a + x) * inner + c;
                    MemorySegment.copy(in, i * size, out, o * size, size);
                }
            }
            case Ptx.ONLINE_SOFTMAX -> onlineSoftmax(grid, args);
            case Ptx.BACKWARD_SCORES -> backwardScores(grid, args);
            default -> throw new IllegalArgumentException("no PTX entry " + entry);
        }
    }

    /** attention.cu's ra_online_softmax, one grid block after another. */
    private void onlineSoftmax(int grid, KernelArgs args) {
        if (args.count() != 19) {
            throw new IllegalArgumentException("ra_online_softmax takes 19 arguments, got " + args.count());
        }
        int kvc = args.intAt(1);
        int chunkRows = args.intAt(2);
        int group = args.intAt(3);
        int r0 = args.intAt(4);
        int rows = args.intAt(5);
        boolean masked = args.intAt(10) != 0;
        boolean causal = args.intAt(11) != 0;
        int window = args.intAt(12);
        int accRow0 = args.intAt(16);
        int accRows = args.intAt(17);
        int d = args.intAt(18);
        int perG = chunkRows * group;
        if (grid % perG != 0) {
            throw new IllegalArgumentException("grid " + grid + " is not a multiple of chunkRows*group " + perG);
        }
        int kvHeads = grid / perG;
        int heads = kvHeads * group;
        MemorySegment scores = at(args.longAt(0), 4L * grid * kvc);
        MemorySegment qPos = at(args.longAt(6), 4L * rows);
        MemorySegment qDoc = at(args.longAt(7), 4L * rows);
        MemorySegment kPos = at(args.longAt(8), 4L * kvc);
        MemorySegment kDoc = at(args.longAt(9), 4L * kvc);
        MemorySegment rowMax = at(args.longAt(13), 4L * heads * rows);
        MemorySegment rowSum = at(args.longAt(14), 4L * heads * rows);
        MemorySegment acc = at(args.longAt(15), 4L * kvHeads * accRows * group * d);
        for (int b = 0; b < grid; b++) {
            int g = b / perG;
            int t = b % perG;
            int r = r0 + t / group;
            int j = t % group;
            int h = g * group + j;
            if (r - accRow0 < 0 || r - accRow0 >= accRows) {
                throw new IndexOutOfBoundsException("row " + r + " outside the accumulator rows [" + accRow0 + ", "
                        + (accRow0 + accRows) + ")");
            }
            long s = (long) b * kvc;
            int qi = qPos.getAtIndex(I32, r);
            int qd = qDoc.getAtIndex(I32, r);
            float mx = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < kvc; c++) {
                float v = scores.getAtIndex(F32, s + c);
                if (masked && !visible(qi, qd, kPos.getAtIndex(I32, c), kDoc.getAtIndex(I32, c), causal, window)) {
                    v = Float.NEGATIVE_INFINITY;
                    scores.setAtIndex(F32, s + c, v);
                }
                mx = Math.max(mx, v);
            }
            if (mx == Float.NEGATIVE_INFINITY) {
                for (int c = 0; c < kvc; c++) {
                    scores.setAtIndex(F32, s + c, 0f);
                }
                continue;
            }
            long sIdx = (long) h * rows + r;
            float mOld = rowMax.getAtIndex(F32, sIdx);
            float mNew = Math.max(mOld, mx);
            float alpha = mOld == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(mOld - mNew);
            float sum = 0f;
            for (int c = 0; c < kvc; c++) {
                float v = scores.getAtIndex(F32, s + c);
                float p = v == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(v - mNew);
                scores.setAtIndex(F32, s + c, p);
                sum += p;
            }
            rowMax.setAtIndex(F32, sIdx, mNew);
            rowSum.setAtIndex(F32, sIdx, rowSum.getAtIndex(F32, sIdx) * alpha + sum);
            long o = (((long) g * accRows + (r - accRow0)) * group + j) * d;
            for (int c = 0; c < d; c++) {
                acc.setAtIndex(F32, o + c, acc.getAtIndex(F32, o + c) * alpha);
            }
        }
    }

    /** attention.cu's ra_backward_scores. */
    private void backwardScores(int grid, KernelArgs args) {
        if (args.count() != 17) {
            throw new IllegalArgumentException("ra_backward_scores takes 17 arguments, got " + args.count());
        }
        int kvc = args.intAt(2);
        int chunkRows = args.intAt(3);
        int group = args.intAt(4);
        int r0 = args.intAt(5);
        int rows = args.intAt(6);
        boolean masked = args.intAt(11) != 0;
        boolean causal = args.intAt(12) != 0;
        int window = args.intAt(13);
        float scale = Float.intBitsToFloat(args.intAt(16));
        int perG = chunkRows * group;
        if (grid % perG != 0) {
            throw new IllegalArgumentException("grid " + grid + " is not a multiple of chunkRows*group " + perG);
        }
        int heads = grid / perG * group;
        MemorySegment scores = at(args.longAt(0), 4L * grid * kvc);
        MemorySegment dp = at(args.longAt(1), 4L * grid * kvc);
        MemorySegment qPos = at(args.longAt(7), 4L * rows);
        MemorySegment qDoc = at(args.longAt(8), 4L * rows);
        MemorySegment kPos = at(args.longAt(9), 4L * kvc);
        MemorySegment kDoc = at(args.longAt(10), 4L * kvc);
        MemorySegment lse = at(args.longAt(14), 4L * heads * rows);
        MemorySegment delta = at(args.longAt(15), 4L * heads * rows);
        for (int b = 0; b < grid; b++) {
            int g = b / perG;
            int t = b % perG;
            int r = r0 + t / group;
            int j = t % group;
            int h = g * group + j;
            long row = (long) b * kvc;
            float l = lse.getAtIndex(F32, (long) h * rows + r);
            float dl = delta.getAtIndex(F32, (long) h * rows + r);
            int qi = qPos.getAtIndex(I32, r);
            int qd = qDoc.getAtIndex(I32, r);
            for (int c = 0; c < kvc; c++) {
                float p = 0f;
                float ds = 0f;
                if (l != Float.NEGATIVE_INFINITY && (!masked
                        || visible(qi, qd, kPos.getAtIndex(I32, c), kDoc.getAtIndex(I32, c), causal, window))) {
                    p = (float) Math.exp(scores.getAtIndex(F32, row + c) - l);
                    ds = p * (dp.getAtIndex(F32, row + c) - dl) * scale;
                }
                scores.setAtIndex(F32, row + c, p);
                dp.setAtIndex(F32, row + c, ds);
            }
        }
    }

    private static boolean visible(int i, int iDoc, int j, int jDoc, boolean causal, int window) {
        if (iDoc != jDoc) {
            return false;
        }
        if (causal) {
            return j <= i && (window == 0 || (long) j > (long) i - window);
        }
        return window == 0 || Math.abs((long) i - j) < window;
    }

    @Override
    public void close() {
    }
}
