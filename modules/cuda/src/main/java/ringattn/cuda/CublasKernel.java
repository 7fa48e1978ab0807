package ringattn.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import ringattn.cuda.ffm.Cublas;
import ringattn.cuda.ffm.KernelArgs;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.BlockArguments;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.kernel.TileVisibility;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The block kernel on a CUDA GPU: scores and the output update through cuBLAS
 * ({@code cublasGemmStridedBatchedEx}, fp32 compute), the masked online-softmax step as a small PTX
 * kernel. Same state semantics as {@link ringattn.engine.kernel.ScalarKernel}: scaled scores,
 * {@code rowMax}/{@code rowSum} in natural-log units, unnormalised fp32 accumulator.
 *
 * <p><b>Data movement.</b> A pass keeps its queries and its running state on the device from begin
 * to finish:
 * <ul>
 * <li>begin: Q goes up once through a pinned buffer with the query positions and documents; the
 *     forward's {@code rowMax}/{@code rowSum} go up initialised (−∞, 0, {@code 2·rows·heads·4}
 *     bytes) and its accumulator is zeroed on the device. The backward sends Q, dO, LSE and
 *     D = rowsum(dO∘O) (formed once on the host) and zeroes its dQ accumulator on the device.</li>
 * <li>update: only the key range of K and V that some query can see goes up, with its positions
 *     and documents; the state does not move. The backward also sends that range of the caller's
 *     dK and dV up and brings it back, since it adds into them at every update.</li>
 * <li>finish: the accumulator and {@code rowMax}/{@code rowSum} (forward) or dQ (backward) come down
 *     once, and O and LSE (or dQ) are written on the host.</li>
 * </ul>
 * Each call ends with the stream synchronised, so a CUDA error surfaces in the call that caused it.
 *
 * <p><b>Device memory.</b> A pass owns its query-side buffers (Q, the positions, the accumulator and
 * row statistics; for the backward also dO, LSE/D and dQ) and frees them at finish or close, so
 * several passes of one kernel may be open at once, as the port allows. The per-block buffers (K, V,
 * scores, dK/dV, the staging areas) belong to the kernel: they grow to the largest block seen and
 * serve its passes in turn, since calls are serialised. Closing the kernel frees passes left open.
 *
 * <p><b>Layouts.</b> On the device Q and the accumulators are {@code [kvHeads, rows, group, headDim]}
 * so that one strided batched GEMM per kv head covers a GQA group. A pass starts with group 1 and
 * lays Q and its accumulators out again, on the device, when a block has another number of K/V
 * heads (normally once, at its first block).
 *
 * <p><b>Work.</b> Query rows go in chunks (at most {@code ringattn.cuda.queryChunk} rows, default
 * 1024, and at most {@code ringattn.cuda.scoreBytes} of fp32 scores, default 256 MiB); each chunk
 * runs only over the key columns that some of its rows can see (key tiles of
 * {@link KernelOptions#keyTile()} classified by global positions), and chunks that see nothing are
 * skipped, as are blocks that are hidden as a whole (without touching the device). Per chunk:
 * {@code S = scale·Q Kᵀ} (BF16 inputs when Q and K are both BF16, else fp32), the softmax kernel
 * (masks by global position, running max/sum, rescale of the accumulator), then {@code acc += P V} in
 * fp32 (BF16 V is widened first). The backward runs in fp32 (see {@code CublasBackward}).
 *
 * <p>Calls on the kernel and its passes are serialised (they lock the kernel); the CUDA context is
 * made current on the calling thread at each call, so any thread may call.
 */
public final class CublasKernel implements BlockKernel {
    static final int THREADS = 256;
    private static final long ALIGN = 256;

    final KernelOptions options;
    final DeviceOps dev;
    final int maxQueryChunk;
    final long scoreBudgetBytes;
    final KernelArgs args;
    private final int device;
    private final String name;
    private final Arena arena = Arena.ofShared();

    // Shared by the passes: one call at a time, and every call ends with the stream idle.
    private final DeviceBuffer rowsUpload;
    private final DeviceBuffer rowsWide;
    private final DeviceBuffer natural;
    private final DeviceBuffer kDev;
    private final DeviceBuffer vDev;
    private final DeviceBuffer kWide;
    private final DeviceBuffer vWide;
    private final DeviceBuffer kMeta;
    final DeviceBuffer scores;
    final DeviceBuffer scores2;
    final DeviceBuffer gradK;
    final DeviceBuffer gradV;
    private final PinnedBuffer pinnedRows;
    private final PinnedBuffer pinnedBlock;
    private final PinnedBuffer pinnedGrad;

    private final List<CublasPass> open = new ArrayList<>();
    private boolean closed;

    /** One query chunk {@code [r0, r1)} and the key columns {@code [c0, c1)} it can see. */
    record Chunk(int r0, int r1, int c0, int c1) {
        /** The smallest chunk that covers every one of {@code chunks} (not empty). */
        static Chunk cover(List<Chunk> chunks) {
            int r0 = Integer.MAX_VALUE;
            int r1 = 0;
            int c0 = Integer.MAX_VALUE;
            int c1 = 0;
            for (Chunk c : chunks) {
                r0 = Math.min(r0, c.r0);
                r1 = Math.max(r1, c.r1);
                c0 = Math.min(c0, c.c0);
                c1 = Math.max(c1, c.c1);
            }
            return new Chunk(r0, r1, c0, c1);
        }
    }

    /**
     * The key range {@code [c0, c0+keys)} of one block on the device: K (in the GEMM's type), V in
     * fp32, and the key positions followed by their documents ({@code meta}, ints).
     */
    record Block(int c0, int keys, long k, int kType, long kElemBytes, long v, long meta) {
    }

    /**
     * A kernel on CUDA device {@code device} (which the provider has probed), with the chunking of
     * the system properties {@code ringattn.cuda.queryChunk} and {@code ringattn.cuda.scoreBytes}.
     *
     * @throws ringattn.cuda.ffm.CudaException when a CUDA call fails (with the library's message)
     */
    public CublasKernel(KernelOptions options, int device) {
        this(options, device, Integer.getInteger("ringattn.cuda.queryChunk", 1024),
                Long.getLong("ringattn.cuda.scoreBytes", 256L << 20));
    }

    /**
     * A kernel on CUDA device {@code device} with explicit chunking: at most {@code maxQueryChunk}
     * query rows and {@code scoreBudgetBytes} of fp32 scores per chunk.
     */
    public CublasKernel(KernelOptions options, int device, int maxQueryChunk, long scoreBudgetBytes) {
        this(options, new CudaDeviceOps(device), device, maxQueryChunk, scoreBudgetBytes);
    }

    /** A kernel on any {@link DeviceOps} (the tests pass a CPU emulation); takes ownership of it. */
    CublasKernel(KernelOptions options, DeviceOps dev, int device, int maxQueryChunk, long scoreBudgetBytes) {
        if (maxQueryChunk < 1 || scoreBudgetBytes < 4) {
            dev.close();
            throw new IllegalArgumentException("chunking: maxQueryChunk " + maxQueryChunk + " and scoreBudgetBytes "
                    + scoreBudgetBytes + " must be positive");
        }
        this.options = options;
        this.dev = dev;
        this.device = device;
        this.name = "cublas " + dev.describe();
        this.maxQueryChunk = maxQueryChunk;
        this.scoreBudgetBytes = scoreBudgetBytes;
        this.args = new KernelArgs(arena);
        this.rowsUpload = new DeviceBuffer(dev, "Q/dO upload");
        this.rowsWide = new DeviceBuffer(dev, "Q/dO fp32");
        this.natural = new DeviceBuffer(dev, "rows in natural layout");
        this.kDev = new DeviceBuffer(dev, "K");
        this.vDev = new DeviceBuffer(dev, "V");
        this.kWide = new DeviceBuffer(dev, "K fp32");
        this.vWide = new DeviceBuffer(dev, "V fp32");
        this.kMeta = new DeviceBuffer(dev, "key positions");
        this.scores = new DeviceBuffer(dev, "scores");
        this.scores2 = new DeviceBuffer(dev, "dP/dS");
        this.gradK = new DeviceBuffer(dev, "dK");
        this.gradV = new DeviceBuffer(dev, "dV");
        this.pinnedRows = new PinnedBuffer(dev);
        this.pinnedBlock = new PinnedBuffer(dev);
        this.pinnedGrad = new PinnedBuffer(dev);
    }

    @Override
    public String name() {
        return name;
    }

    /** The CUDA device ordinal. */
    public int device() {
        return device;
    }

    /** One host thread drives the device. */
    @Override
    public int threads() {
        return 1;
    }

    /**
     * Begins a forward pass: Q, its positions and the initial state go to the device (see the class
     * comment); the pass holds them there until it finishes or closes.
     */
    @Override
    public synchronized ForwardPass beginForward(Tensor q, Positions qPositions, AttentionSpec spec) {
        checkOpen();
        BlockArguments.checkQueries(q, qPositions, spec);
        return start(new CublasForward(this, q, qPositions, spec));
    }

    /**
     * Begins a backward pass: D = rowsum(dO∘O) is formed on the host, and Q, dO, LSE, D and the
     * query positions go to the device once (see the class comment).
     */
    @Override
    public synchronized BackwardPass beginBackward(Tensor q, Positions qPositions, Tensor out, Tensor dOut,
                                                   MemorySegment lse, AttentionSpec spec) {
        checkOpen();
        BlockArguments.checkQueries(q, qPositions, spec);
        return start(new CublasBackward(this, q, qPositions, out, dOut, lse, spec));
    }

    private <P extends CublasPass> P start(P pass) {
        open.add(pass);
        try {
            dev.makeCurrent();
            pass.upload();
            return pass;
        } catch (RuntimeException | Error e) {
            try {
                pass.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** A pass has released its device memory: it is no longer freed with the kernel. */
    synchronized void forget(CublasPass pass) {
        open.remove(pass);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(name + ": kernel is closed");
        }
    }

    /** The chunks of one block under this kernel's chunking, with at most {@code budgetBytes} of scores each. */
    List<Chunk> chunks(Positions qPos, int[] qDocs, Positions kPos, int[] kDocs, AttentionSpec spec, int heads,
                       long budgetBytes) {
        return plan(qPos, qDocs, kPos, kDocs, spec, heads, options.keyTile(), maxQueryChunk, budgetBytes);
    }

    /**
     * Splits the query rows into chunks of at most {@code maxRows} rows (and of at most
     * {@code scoreBudgetBytes} fp32 scores against the whole block) and gives each the smallest run
     * of key tiles ({@code keyTile} rows) that covers every tile not hidden from it; chunks that see
     * no tile are left out. Package-private for tests (no GPU needed).
     */
    static List<Chunk> plan(Positions qPos, int[] qDocs, Positions kPos, int[] kDocs, AttentionSpec spec,
                            int heads, int keyTile, int maxRows, long scoreBudgetBytes) {
        int rows = qPos.size();
        int keys = kPos.size();
        List<Chunk> out = new ArrayList<>();
        if (rows == 0 || keys == 0) {
            return out;
        }
        if (spec.classify(qPos.first(), qPos.last(), qDocs[0], qDocs[rows - 1],
                kPos.first(), kPos.last(), kDocs[0], kDocs[keys - 1]) == TileVisibility.HIDDEN) {
            return out;
        }
        long perRow = (long) heads * keys * 4;
        int chunkRows = (int) Math.max(1, Math.min(maxRows, scoreBudgetBytes / Math.max(1, perRow)));
        for (int r0 = 0; r0 < rows; r0 += chunkRows) {
            int r1 = Math.min(rows, r0 + chunkRows);
            if (spec.isUnmasked()) {
                out.add(new Chunk(r0, r1, 0, keys));
                continue;
            }
            int c0 = -1;
            int c1 = -1;
            for (int t0 = 0; t0 < keys; t0 += keyTile) {
                int t1 = Math.min(keys, t0 + keyTile);
                TileVisibility vis = spec.classify(qPos.get(r0), qPos.get(r1 - 1), qDocs[r0], qDocs[r1 - 1],
                        kPos.get(t0), kPos.get(t1 - 1), kDocs[t0], kDocs[t1 - 1]);
                if (vis != TileVisibility.HIDDEN) {
                    if (c0 < 0) {
                        c0 = t0;
                    }
                    c1 = t1;
                }
            }
            if (c0 >= 0) {
                out.add(new Chunk(r0, r1, c0, c1));
            }
        }
        return out;
    }

    /** The pinned staging area of begin and finish: at least {@code bytes}. */
    MemorySegment stageRows(long bytes) {
        return pinnedRows.ensure(bytes);
    }

    /**
     * Copies the rows tensor {@code t} (already in {@code pin} at {@code offset}) to the device and
     * lays it out in {@code target} as {@code [heads, rows, headDim]} (the pass layout for group 1):
     * BF16 when {@code keepBf16} and t is BF16, else fp32. Returns the element size in bytes.
     */
    int uploadRows(Tensor t, MemorySegment pin, long offset, boolean keepBf16, DeviceBuffer target) {
        long bytes = t.segment().byteSize();
        long n = t.elementCount();
        long raw = rowsUpload.ensure(bytes);
        dev.copyToDevice(raw, pin, offset, bytes);
        if (t.dtype() == DType.BF16 && keepBf16) {
            swap(Ptx.SWAP01_B16, raw, target.ensure(2 * n), t.tokens(), t.heads(), t.headDim());
            return 2;
        }
        long in = raw;
        if (t.dtype() == DType.BF16) {
            in = rowsWide.ensure(4 * n);
            widen(raw, in, n);
        }
        swap(Ptx.SWAP01_B32, in, target.ensure(4 * n), t.tokens(), t.heads(), t.headDim());
        return 4;
    }

    /**
     * Lays rows out again for another GQA group, on the device: {@code buffer} holds
     * {@code rows·heads·headDim} elements of {@code elemBytes} as {@code [heads/from, rows, from·headDim]}
     * and then as {@code [heads/to, rows, to·headDim]}.
     */
    void regroup(long buffer, int elemBytes, int rows, int heads, int headDim, int from, int to) {
        String entry = elemBytes == 2 ? Ptx.SWAP01_B16 : Ptx.SWAP01_B32;
        // sized for fp32 rows whatever elemBytes, so that a pass's BF16 Q and fp32 accumulator share it
        long tmp = natural.ensure(4L * rows * heads * headDim);
        swap(entry, buffer, tmp, heads / from, rows, from * headDim);
        swap(entry, tmp, buffer, rows, heads / to, to * headDim);
    }

    /**
     * Queues the copy of fp32 rows in pass layout ({@code [heads/group, rows, group·headDim]} at
     * {@code src}) into {@code pin} at offset 0 in natural layout {@code [rows, heads, headDim]}.
     */
    void downloadRows(long src, int rows, int heads, int headDim, int group, MemorySegment pin) {
        long bytes = 4L * rows * heads * headDim;
        long tmp = natural.ensure(bytes);
        swap(Ptx.SWAP01_B32, src, tmp, heads / group, rows, group * headDim);
        dev.copyToHost(pin, 0, tmp, bytes);
    }

    /**
     * The key range {@code [cLo, cHi)} of one block on the device, through the pinned block buffer: K
     * as BF16 when {@code bf16} (else fp32), V as fp32, positions and documents.
     */
    Block uploadBlock(Tensor k, Tensor v, Positions kPositions, int[] kDocs, int cLo, int cHi, boolean bf16) {
        int keys = cHi - cLo;
        long rowBytes = k.tokenStrideBytes();
        long kvBytes = keys * rowBytes;
        long vAt = align(kvBytes);
        long metaAt = vAt + align(kvBytes);
        long metaBytes = 8L * keys;
        MemorySegment pin = pinnedBlock.ensure(metaAt + metaBytes);
        MemorySegment.copy(k.segment(), cLo * rowBytes, pin, 0, kvBytes);
        MemorySegment.copy(v.segment(), cLo * rowBytes, pin, vAt, kvBytes);
        int[] pos = kPositions.toArray();
        MemorySegment.copy(pos, cLo, pin, ValueLayout.JAVA_INT, metaAt, keys);
        MemorySegment.copy(kDocs, cLo, pin, ValueLayout.JAVA_INT, metaAt + 4L * keys, keys);
        long dk = kDev.ensure(kvBytes);
        long dv = vDev.ensure(kvBytes);
        long meta = kMeta.ensure(metaBytes);
        dev.copyToDevice(dk, pin, 0, kvBytes);
        dev.copyToDevice(dv, pin, vAt, kvBytes);
        dev.copyToDevice(meta, pin, metaAt, metaBytes);
        long n = (long) keys * k.heads() * k.headDim();
        long kGemm = dk;
        if (k.dtype() == DType.BF16 && !bf16) {
            kGemm = kWide.ensure(4 * n);
            widen(dk, kGemm, n);
        }
        long vGemm = dv;
        if (v.dtype() == DType.BF16) {
            vGemm = vWide.ensure(4 * n);
            widen(dv, vGemm, n);
        }
        return new Block(cLo, keys, kGemm, bf16 ? Cublas.R_16BF : Cublas.R_32F, bf16 ? 2 : 4, vGemm, meta);
    }

    /** Rows {@code [cLo, cHi)} of the caller's dK and dV into {@link #gradK} and {@link #gradV}. */
    void uploadGradients(Tensor dK, Tensor dV, int cLo, int cHi) {
        long rowBytes = dK.tokenStrideBytes();
        long bytes = (cHi - cLo) * rowBytes;
        long vAt = align(bytes);
        MemorySegment pin = pinnedGrad.ensure(vAt + bytes);
        MemorySegment.copy(dK.segment(), cLo * rowBytes, pin, 0, bytes);
        MemorySegment.copy(dV.segment(), cLo * rowBytes, pin, vAt, bytes);
        dev.copyToDevice(gradK.ensure(bytes), pin, 0, bytes);
        dev.copyToDevice(gradV.ensure(bytes), pin, vAt, bytes);
    }

    /** The inverse of {@link #uploadGradients}, after the queued work; ends with the stream idle. */
    void downloadGradients(Tensor dK, Tensor dV, int cLo, int cHi) {
        long rowBytes = dK.tokenStrideBytes();
        long bytes = (cHi - cLo) * rowBytes;
        long vAt = align(bytes);
        MemorySegment pin = pinnedGrad.ensure(vAt + bytes);
        dev.copyToHost(pin, 0, gradK.pointer(), bytes);
        dev.copyToHost(pin, vAt, gradV.pointer(), bytes);
        dev.synchronize();
        MemorySegment.copy(pin, 0, dK.segment(), cLo * rowBytes, bytes);
        MemorySegment.copy(pin, vAt, dV.segment(), cLo * rowBytes, bytes);
    }

    /** {@code [a, b, inner] → [b, a, inner]} on the stream. */
    void swap(String entry, long in, long out, int a, int b, int inner) {
        long n = (long) a * b * inner;
        args.reset().ptr(in).ptr(out).i32(a).i32(b).i32(inner);
        dev.launch(entry, grid(n), THREADS, args);
    }

    /** BF16 → fp32 on the stream. */
    void widen(long in, long out, long n) {
        args.reset().ptr(in).ptr(out).i64(n);
        dev.launch(Ptx.BF16_TO_F32, grid(n), THREADS, args);
    }

    private static int grid(long n) {
        return (int) Math.max(1, Math.min(65_535, (n + THREADS - 1) / THREADS));
    }

    /** {@code bytes} rounded up to the 256-byte alignment of the staging layouts. */
    static long align(long bytes) {
        return (bytes + ALIGN - 1) / ALIGN * ALIGN;
    }

    /**
     * Frees the device memory of passes left open, the kernel's buffers and pinned memory, the cuBLAS
     * handle, the stream and the module. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException first = null;
        try {
            dev.makeCurrent();
            dev.synchronize();
        } catch (RuntimeException e) {
            first = e;
        }
        for (CublasPass pass : List.copyOf(open)) {
            try {
                pass.abandon();
            } catch (RuntimeException e) {
                first = first != null ? first : e;
            }
        }
        for (AutoCloseable c : new AutoCloseable[] {rowsUpload, rowsWide, natural, kDev, vDev, kWide, vWide, kMeta,
                scores, scores2, gradK, gradV, pinnedRows, pinnedBlock, pinnedGrad, dev}) {
            try {
                c.close();
            } catch (Exception e) {
                first = first != null ? first : new IllegalStateException(name + ": close: " + e.getMessage(), e);
            }
        }
        arena.close();
        if (first != null) {
            throw first;
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
