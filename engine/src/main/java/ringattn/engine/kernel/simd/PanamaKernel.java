package ringattn.engine.kernel.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import ringattn.engine.kernel.AbstractBlockKernel;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardState;
import ringattn.engine.kernel.ForwardState;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.kernel.TileVisibility;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The Vector API block kernel, FlashAttention-2 style, with the semantics of the scalar kernel.
 *
 * <p><b>Forward.</b> Once per pass ({@link PackedForward}, when it begins) each task's query rows
 * (a task: query head × several query tiles, {@link #forwardTaskRows}) are scaled by the softmax
 * scale times {@link SimdOps#unitsPerNat}, so that scores are in units of {@code ln 2 / L} and their
 * exp is {@code 2^(x/L)}, the reduction of the table exp without a multiply, widened from BF16 on the
 * way, and packed as B panels of W = 4·lanes queries ({@code [query / W][dim][W]}; 16 × 16 register
 * transposes at 512 bits, gathers otherwise) at the task's fixed slots; the pass also holds the
 * unnormalised output as rows per head and m (in units, an integer: the lazy path needs integer
 * references) and l per slot. Once per update ({@link #prepareForward}, parallel over chunks of
 * tokens, all heads of a token together and one tensor at a time so that each streams in order) K
 * is copied as rows ({@code [key][dim]}) and V into panels of W dimensions ({@code [dim / W][key][W]}).
 * A task then works on its slice of the pass in place: for each key tile, for each of its query tiles in turn (the K/V tile stays in L2 between
 * them), it works on the transposed score tile, queries along the lanes: {@code Sᵀ = K·Qᵀ} with the
 * register-blocked GEMM of {@link SimdOps#gemm}, the softmax step, {@code O += P·V} with the same
 * GEMM reading Pᵀ with a stride. The softmax step of a FULL tile is lazy
 * ({@link SimdOps#scoresExp}): each register block of scores is exponentiated against the row's
 * kept reference while still in L1, without a max pass, and the tile is redone with the exact
 * maximum only if a score exceeds the reference by {@link SimdOps#LAZY_LIMIT}. PARTIAL tiles are
 * masked by visible ranges ({@link MaskRanges}) inside the box around what the mask leaves and take
 * the exact two-pass step ({@link SimdOps#softmaxColumns}), which rescales the O rows whose maximum
 * moved. Tiles hidden by the mask are skipped before any memory of theirs is read.
 *
 * <p><b>Backward.</b> A task (K/V head, key chunk) packs the chunk's K and V rows and loads its
 * dK/dV rows once; then for each query head of the group it packs Q and dO of up to 2048 query rows
 * (as panels of W rows and of W dimensions, tile by tile) and loads their dQ, and for each key tile
 * (outer, so that its K/V/dK/dV rows stay in L2) and each of those query tiles works on the
 * transposed tile:
 * {@code Sᵀ = K·Qᵀ}, {@code dPᵀ = V·dOᵀ}, {@code Pᵀ = exp(Sᵀ·scale − lse)},
 * {@code dSᵀ = Pᵀ∘(dPᵀ − D)·scale}, then {@code dV += Pᵀ·dO}, {@code dK += dSᵀ·Q} and
 * {@code dQ += dS·K}. In the transposed layout LSE and D run along the vector lanes. In PARTIAL
 * tiles only the box around the visible keys × queries is computed.
 *
 * <p>Scratch is heap {@code float[]}, grown when a larger shape arrives and reused after that:
 * per worker for tiles, per kernel for the packed block (K and V, at most 8 MiB: a larger
 * block is taken in runs of whole key tiles), and per forward pass its packed
 * Q, output rows and m/l (together about twice the fp32 size of Q), handed on to the next pass when
 * one closes; nothing is allocated inside the tile loops. Every loop runs in a fixed order and the
 * exp is built from exactly rounded operations (see {@code exp} in the generated {@code Ops*} classes), so a given thread count
 * and tile sizes give the same bytes on every run, interpreted or compiled. Thread-safety as
 * {@link ringattn.engine.kernel.BlockKernel}.
 */
public final class PanamaKernel extends AbstractBlockKernel {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private final SimdOps ops;
    private final int lanes;
    private final int panel;
    /** {@link SimdOps#unitsPerNat}: the forward's scores, m and exps are in these units. */
    private final float units;
    private final Scratch[] scratch;
    /** Bound on the packed K/V block ({@link #kRows}, {@link #vRows}) in bytes. */
    private final long packedBlockBytes;

    // The packed K/V block of the current update (written by prepareForward, read by tasks).
    private float[][] kRows = new float[0][];
    private float[][] vRows = new float[0][];
    // Global positions of the current update's queries and keys, as arrays for the mask ranges.
    private int[] qPosArr = new int[0];
    private int[] kPosArr = new int[0];
    /** The arrays of the last closed forward pass, for the next one (passes run one at a time). */
    private PassArrays spare;

    /** Per-worker scratch; arrays grow, never shrink. */
    private static final class Scratch {
        float[] s;
        float[] k;
        float[] v;
        float[] dk;
        float[] dv;
        float[] qr;
        float[] qp;
        float[] dor;
        float[] dop;
        float[] st;
        float[] dpt;
        float[] dq;
        float[] kc;
        float[] lse;
        float[] delta;
        float[] row;
        float[] tmp;
        float[] sum;
        float[] qrow;
        /** Gather offsets of {@link SimdOps#toRowPanels}, one vector long. */
        final int[] index;
        /** The visible box of a PARTIAL tile ({@link #visibleBox}). */
        final int[] box = new int[4];
        int[] los;

        Scratch(int lanes) {
            index = new int[lanes];
        }
    }

    /**
     * A kernel with {@code options.threads()} workers on {@code options.simdBits()}-bit vectors (0:
     * this machine's preferred width).
     */
    public PanamaKernel(KernelOptions options) {
        this(options, PACKED_BLOCK_BYTES);
    }

    /** A kernel whose packed K/V block holds at most {@code packedBlockBytes} (tests force small runs with it). */
    PanamaKernel(KernelOptions options, long packedBlockBytes) {
        super(options, "ringattn-panama");
        if (packedBlockBytes < 1) {
            throw new IllegalArgumentException("packedBlockBytes: must be >= 1, got " + packedBlockBytes);
        }
        this.packedBlockBytes = packedBlockBytes;
        int bits = options.simdBits() == 0 ? SimdOps.preferredBits() : options.simdBits();
        this.ops = SimdOps.forShape(bits, VectorShape.registersFor(bits, options.simdRegisters()));
        this.lanes = ops.lanes();
        this.panel = 4 * lanes;
        this.units = ops.unitsPerNat();
        this.scratch = new Scratch[options.threads()];
        for (int i = 0; i < scratch.length; i++) {
            scratch[i] = new Scratch(lanes);
        }
    }

    /**
     * This machine's vector shape and the register blocking it gets, for the provider's log line:
     * {@code 256-bit vectors, 16 registers (UseAVX=2): 6 × 2 register blocks}.
     */
    public static String preferredSpecies() {
        VectorShape shape = VectorShape.machine();
        SimdOps ops = SimdOps.forShape(shape.bits(), VectorShape.registersFor(shape.bits(), 0));
        return shape.describe() + ": 6 × " + ops.blockVectors() + " register blocks";
    }

    @Override
    public String name() {
        return "panama-" + ops.bits() + "r" + ops.registers();
    }

    private static float[] grow(float[] a, long n) {
        if (n > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("block: scratch of " + n + " floats exceeds a Java array");
        }
        return a != null && a.length >= n ? a : new float[(int) n];
    }

    private static int[] growInts(int[] a, int n) {
        return a != null && a.length >= n ? a : new int[n];
    }

    private static int roundUp(int x, int m) {
        return (x + m - 1) / m * m;
    }

    @Override
    protected void addInto(MemorySegment dst, MemorySegment src, long from, long to) {
        ops.addInto(dst, src, from, to);
    }

    // ---------------------------------------------------------------- forward

    @Override
    protected Forward newForward(Tensor q, Positions qPositions, AttentionSpec spec) {
        return new PackedForward(q, qPositions, spec);
    }

    /** The per-head arrays of a forward pass; they grow, never shrink, and pass from one pass to the next. */
    private static final class PassArrays {
        float[][] qPanels = new float[0][];
        float[][] oRows = new float[0][];
        float[][] m = new float[0][];
        float[][] l = new float[0][];

        void ensure(int heads, long slots, long oFloats, int d) {
            if (qPanels.length < heads) {
                qPanels = Arrays.copyOf(qPanels, heads);
                oRows = Arrays.copyOf(oRows, heads);
                m = Arrays.copyOf(m, heads);
                l = Arrays.copyOf(l, heads);
            }
            for (int h = 0; h < heads; h++) {
                qPanels[h] = grow(qPanels[h], slots * d);
                oRows[h] = grow(oRows[h], oFloats);
                m[h] = grow(m[h], slots);
                l[h] = grow(l[h], slots);
            }
        }
    }

    private synchronized PassArrays takeArrays() {
        PassArrays a = spare != null ? spare : new PassArrays();
        spare = null;
        return a;
    }

    private synchronized void giveArrays(PassArrays a) {
        spare = a;
    }

    /**
     * A forward pass in this kernel's own layout, per query head: Q, scaled to units of
     * {@code ln 2 / L}, packed once as the B panels of every task's query tiles; the unnormalised
     * output as rows {@code [row][dpad]}; m (in units, kept at integers for the lazy softmax) and l
     * by tile slot. A task's tiles have fixed slots (task {@code t}: {@code [t·slotsPerTask, …)}), so
     * the updates work on all of it in place and nothing is loaded, converted or stored per block;
     * {@link #write} divides once.
     */
    private final class PackedForward extends Forward {
        final int dpad;
        final int slotsPerTask;
        final int[] qPos;
        final float[][] qPanels;
        final float[][] oRows;
        final float[][] m;
        final float[][] l;
        private PassArrays arrays;

        PackedForward(Tensor q, Positions qPositions, AttentionSpec spec) {
            super(q, qPositions, spec);
            int rows = q.tokens();
            int heads = q.heads();
            int d = q.headDim();
            int tr = taskRows();
            int qtile = options.queryTile();
            this.dpad = roundUp(d, lanes);
            this.slotsPerTask = ceilDiv(tr, qtile) * roundUp(Math.min(qtile, tr), panel);
            int tasks = ceilDiv(rows, tr);
            this.qPos = qPositions.toArray();
            this.arrays = takeArrays();
            arrays.ensure(heads, (long) tasks * slotsPerTask, (long) rows * dpad, d);
            this.qPanels = arrays.qPanels;
            this.oRows = arrays.oRows;
            this.m = arrays.m;
            this.l = arrays.l;
            boolean bf16 = q.dtype() == DType.BF16;
            float scale = spec.scale() * units;
            pool.run(heads * tasks, (task, worker) -> {
                int h = task / tasks;
                int r0 = (task % tasks) * tr;
                int nr = Math.min(rows, r0 + tr) - r0;
                int qtp = roundUp(Math.min(qtile, nr), panel);
                int base = (task % tasks) * slotsPerTask;
                Scratch w = scratch[worker];
                float[] qr = w.qr = grow(w.qr, (long) nr * dpad);
                for (int r = 0; r < nr; r++) {
                    ops.loadRow(q.segment(), q.offsetBytes(r0 + r, h), LE, bf16, d, scale, qr, r * dpad);
                    Arrays.fill(qr, r * dpad + d, (r + 1) * dpad, 0f);
                }
                packQueryPanels(qr, 0, nr, qtile, qtp, d, dpad, w, qPanels[h], base * d);
                Arrays.fill(oRows[h], r0 * dpad, (r0 + nr) * dpad, 0f);
                // Padding slots (past a tile's rows) hold Q = 0 and a state that is never read.
                Arrays.fill(m[h], base, base + slotsPerTask, Float.NEGATIVE_INFINITY);
                Arrays.fill(l[h], base, base + slotsPerTask, 0f);
            });
        }

        /** The slot of row {@code r} (of any head). */
        int slot(int r) {
            int tr = taskRows();
            int t = r / tr;
            int in = r - t * tr;
            int qtile = options.queryTile();
            int nr = Math.min(q().tokens(), (t + 1) * tr) - t * tr;
            int qtp = roundUp(Math.min(qtile, nr), panel);
            return t * slotsPerTask + (in / qtile) * qtp + in % qtile;
        }

        /**
         * O = acc / l in {@code out}'s dtype and LSE = m / units + ln l; empty rows: 0 and −∞. On
         * the calling thread: {@code out} and {@code lse} may be confined to it.
         */
        @Override
        protected void write(Tensor out, MemorySegment lse) {
            Tensor q = q();
            int rows = q.tokens();
            int heads = q.heads();
            int d = q.headDim();
            for (int i = 0; i < rows; i++) {
                int sl = slot(i);
                for (int h = 0; h < heads; h++) {
                    float mu = m[h][sl];
                    float sum = l[h][sl];
                    boolean empty = sum == 0f; // NaN (from a NaN or infinite score) propagates
                    float inv = empty ? 0f : 1f / sum;
                    long base = ((long) i * heads + h) * d;
                    float[] or = oRows[h];
                    for (int c = 0; c < d; c++) {
                        out.setFlat(base + c, empty ? 0f : or[i * dpad + c] * inv);
                    }
                    if (lse != null) {
                        float value = empty ? Float.NEGATIVE_INFINITY : (float) (mu / units + Math.log(sum));
                        lse.setAtIndex(ValueLayout.JAVA_FLOAT, (long) h * rows + i, value);
                    }
                }
            }
        }

        @Override
        protected void release() {
            giveArrays(arrays);
            arrays = null;
        }
    }

    /** Packs the update's K/V block; the queries were packed when the pass began. */
    @Override
    protected void prepareForward(ForwardCall call) {
        Tensor k = call.k();
        Tensor v = call.v();
        PackedForward pass = (PackedForward) call.pass();
        int n = k.tokens();
        int kvHeads = k.heads();
        int d = k.headDim();
        int dpad = roundUp(d, lanes);
        if (kRows.length < kvHeads) {
            kRows = Arrays.copyOf(kRows, kvHeads);
            vRows = Arrays.copyOf(vRows, kvHeads);
        }
        for (int g = 0; g < kvHeads; g++) {
            kRows[g] = grow(kRows[g], (long) n * dpad);
            vRows[g] = grow(vRows[g], (long) ceilDiv(dpad, panel) * n * panel);
        }
        qPosArr = pass.qPos;
        kPosArr = call.kPositions().toArray();
        // Token by token, all heads of a token together, one tensor at a time per chunk of tokens
        // (K, then V): each tensor is read as one sequential stream, which the hardware prefetches.
        int kChunks = ceilDiv(n, PACK_ROWS);
        boolean bf16K = k.dtype() == DType.BF16;
        boolean bf16V = v.dtype() == DType.BF16;
        pool.run(kChunks, (task, worker) ->
                packKeys(k, v, bf16K, bf16V, task * PACK_ROWS, Math.min(n, (task + 1) * PACK_ROWS), d, dpad));
    }

    /** Keys {@code [j0, j1)} of every K/V head: K into {@link #kRows}, then V into {@link #vRows}. */
    private void packKeys(Tensor k, Tensor v, boolean bf16K, boolean bf16V, int j0, int j1, int d, int dpad) {
        int kvHeads = k.heads();
        int n = k.tokens();
        for (int j = j0; j < j1; j++) {
            for (int g = 0; g < kvHeads; g++) {
                float[] kr = kRows[g];
                ops.loadRow(k.segment(), k.offsetBytes(j, g), LE, bf16K, d, 1f, kr, j * dpad);
                Arrays.fill(kr, j * dpad + d, (j + 1) * dpad, 0f);
            }
        }
        for (int j = j0; j < j1; j++) {
            for (int g = 0; g < kvHeads; g++) {
                loadColumnPanels(v, j, g, bf16V, d, dpad, vRows[g], n);
            }
        }
    }

    /**
     * Loads token {@code j}, head {@code g} of {@code t} (fp32, BF16 widened) straight into row
     * {@code j} of column panels {@code [dim / W][row][W]} with panel stride {@code rowsAlloc·W},
     * zero from {@code d} to {@code dpad}: {@link #toColumnPanels} without the row in between.
     */
    private void loadColumnPanels(Tensor t, int j, int g, boolean bf16, int d, int dpad, float[] dst, int rowsAlloc) {
        long at = t.offsetBytes(j, g);
        long elem = bf16 ? 2 : 4;
        for (int c = 0, q = 0; c < dpad; c += panel, q++) {
            int o = q * rowsAlloc * panel + j * panel;
            int real = Math.max(0, Math.min(panel, d - c));
            if (real > 0) {
                ops.loadRow(t.segment(), at + elem * c, LE, bf16, real, 1f, dst, o);
            }
            Arrays.fill(dst, o + real, o + Math.min(panel, dpad - c), 0f);
        }
    }

    /** Tokens per task of {@link #prepareForward} and {@link #completeForward}. */
    private static final int PACK_ROWS = 64;

    /**
     * A forward task takes several query tiles, up to {@link #FWD_TASK_ROWS} rows and {@link #FWD_TASK_FLOATS}
     * floats of Q and of O (so that they, one K tile and one V tile stay in L2), fewer when that
     * would leave under 4 tasks per worker: each packed K/V tile, read once from L3, then serves
     * all of them from L2. The rows of a task are computed tile by tile, each exactly as a task of
     * one tile would be, so the result does not depend on this choice.
     */
    @Override
    protected int forwardTaskRows(int rows, int heads, int headDim) {
        int qt = options.queryTile();
        int target = Math.min(FWD_TASK_ROWS, FWD_TASK_FLOATS / roundUp(headDim, lanes));
        int per = Math.max(1, target / qt);
        while (per > 1 && (long) heads * ceilDiv(rows, qt * per) < 4L * options.threads()) {
            per--;
        }
        return qt * per;
    }

    /**
     * Most bytes of the packed K/V block of one forward update: a larger block (a rank's own shard of
     * a long sequence) is taken in runs of whole key tiles, so the kernel's heap does not grow with
     * the shard. Runs of 1024 keys (8 MiB at 8 heads of 128) ran as fast as whole 8192-key blocks
     * (README, "Cold start and memory").
     */
    static final long PACKED_BLOCK_BYTES = 8L << 20;
    /**
     * The backward's runs are this many times longer: each run ends with a sum of the dQ partials over
     * all query rows, which short runs of a long shard would repeat hundreds of times.
     */
    static final int BACKWARD_RUN_FACTOR = 4;

    /** Keys whose packed K and V (fp32, rows padded to whole vectors) fit {@link #packedBlockBytes}. */
    @Override
    protected long maxKeysPerRun(int kvHeads, int headDim, boolean backward) {
        long perKey = 2L * kvHeads * roundUp(headDim, lanes) * Float.BYTES;
        return Math.max(1, packedBlockBytes * (backward ? BACKWARD_RUN_FACTOR : 1) / perKey);
    }

    /** Most query rows per forward task. */
    private static final int FWD_TASK_ROWS = 256;
    /** Most floats of packed Q (and of O) per forward task: 128 KiB each. */
    private static final int FWD_TASK_FLOATS = 32768;
    /** Query rows packed at a time by a backward task (bounds its scratch). */
    private static final int BWD_GROUP_ROWS = 2048;
    /** Most floats of each packed query array (Q, dO as row and column panels, dQ) of a backward task: 1 MiB. */
    private static final int BWD_GROUP_FLOATS = 2048 * 128;

    /**
     * Rows {@code [r0, r1)} of query head {@code head} (one task of the pass, its tiles at their
     * slots) against the update's K/V block, key tile by key tile, each K/V tile serving all of the
     * task's query tiles while it is in L2.
     */
    @Override
    protected void forwardTask(ForwardCall call, int head, int r0, int r1, int worker) {
        PackedForward pass = (PackedForward) call.pass();
        AttentionSpec spec = call.spec();
        int d = pass.q().headDim();
        int dpad = pass.dpad;
        int g = head / call.group();
        int n = call.k().tokens();
        int nr = r1 - r0;
        int qtile = options.queryTile();
        int tiles = ceilDiv(nr, qtile);
        // Each query tile has a slot of qtp columns (its rows, padded to whole panels) in the
        // packed Q, the score tile and the m/l arrays; the task's slots start at base.
        int qtp = roundUp(Math.min(qtile, nr), panel);
        int base = r0 / pass.taskRows() * pass.slotsPerTask;
        int bc = options.keyTile();
        Scratch w = scratch[worker];
        // Score rows one vector longer than the slot: a stride of a power of two cache lines would
        // map a column's rows onto a few L1 sets.
        int sld = qtp + lanes;
        float[] s = w.s = grow(w.s, (long) Math.min(bc, n) * sld);
        float[] alpha = w.tmp = grow(w.tmp, qtp);
        float[] sum = w.sum = grow(w.sum, qtp);
        float[] kr = kRows[g];
        float[] vr = vRows[g];
        int[] qDocs = call.qDocuments();
        int[] kDocs = call.kDocuments();
        Positions qPos = pass.qPositions();
        Positions kPos = call.kPositions();
        for (int c0 = 0; c0 < n; c0 += bc) {
            int c1 = Math.min(n, c0 + bc);
            if (classify(spec, qPos, qDocs, r0, r1, kPos, kDocs, c0, c1) == TileVisibility.HIDDEN) {
                continue;
            }
            for (int u = 0; u < tiles; u++) {
                int t0 = r0 + u * qtile;
                int t1 = Math.min(r1, t0 + qtile);
                forwardTile(spec, qPos, qDocs, kPos, kDocs, t0, t1, base + u * qtp, c0, c1, n, d, dpad, sld,
                        pass.qPanels[head], pass.oRows[head], s, pass.m[head], pass.l[head], alpha, sum, kr, vr,
                        w.box);
            }
        }
    }

    /**
     * The task's query rows {@code [r0, r0 + nr)} of {@code qr} ({@code [row][dpad]}) as B panels,
     * tile by tile, each in its slot of {@code qtp} columns: whole panels straight from {@code qr},
     * a tile's last partial panel through a zero-padded copy, panels past its rows zero.
     */
    private void packQueryPanels(float[] qr, int r0, int nr, int qtile, int qtp, int d, int dpad, Scratch w,
                                 float[] qp, int qpBase) {
        for (int u = 0, t0 = 0; t0 < nr; u++, t0 += qtile) {
            int inTile = Math.min(qtile, nr - t0);
            int full = inTile / panel * panel;
            int out = qpBase + u * qtp * d;
            ops.toRowPanels(qr, (r0 + t0) * dpad, dpad, full, d, w.index, qp, out);
            if (full < inTile) {
                float[] pad = w.qrow = grow(w.qrow, (long) panel * dpad);
                int real = inTile - full;
                System.arraycopy(qr, (r0 + t0 + full) * dpad, pad, 0, real * dpad);
                Arrays.fill(pad, real * dpad, panel * dpad, 0f);
                ops.toRowPanels(pad, 0, dpad, panel, d, w.index, qp, out + full * d);
                full += panel;
            }
            Arrays.fill(qp, out + full * d, out + qtp * d, 0f);
        }
    }

    /**
     * Query rows {@code [t0, t1)} (the same rows of the head's O, column slot {@code slot} of its
     * packed Q and state) against key tile {@code [c0, c1)}, transposed so that the queries run
     * along the lanes: {@code Sᵀ = K·Qᵀ} (keys × query columns) and the online-softmax step, lazy
     * in a FULL tile ({@link SimdOps#scoresExp}; redone exactly if a score outgrows the reference),
     * else masking, {@link SimdOps#softmaxColumns} and rescaling of the O rows whose max moved; then
     * {@code O += P·V}. In a PARTIAL tile only the box around the visible keys × query panels is
     * computed.
     */
    private void forwardTile(AttentionSpec spec, Positions qPos, int[] qDocs, Positions kPos, int[] kDocs,
                             int t0, int t1, int slot, int c0, int c1, int n, int d, int dpad, int sld,
                             float[] qp, float[] ot, float[] s, float[] m, float[] l, float[] alpha, float[] sum,
                             float[] kr, float[] vr, int[] box) {
        TileVisibility vis = classify(spec, qPos, qDocs, t0, t1, kPos, kDocs, c0, c1);
        if (vis == TileVisibility.HIDDEN) {
            return;
        }
        int nr = t1 - t0;
        int jA = 0;
        int jB = c1 - c0;
        int rA = 0;
        int rB = nr;
        boolean partial = vis == TileVisibility.PARTIAL;
        if (partial) {
            if (!visibleBox(spec, qDocs, kDocs, t0, nr, c0, c1, box)) {
                return;
            }
            jA = box[0];
            jB = box[1];
            rA = box[2];
            rB = box[3];
        }
        int nj = jB - jA;
        int colA = rA / panel * panel;
        int colE = roundUp(rB, panel);
        int colB = Math.min(nr, colE);
        int cols = colE - colA;
        if (!partial) {
            // Lazy softmax: a row keeps its reference (rows that have seen no key take the max of
            // the first keys) unless a score exceeds it by LAZY_LIMIT; then the tile is redone.
            System.arraycopy(m, slot + colA, alpha, colA, cols); // the references, if the tile is redone
            Arrays.fill(sum, 0, cols, 0f);
            if (ops.scoresExp(kr, (c0 + jA) * dpad, dpad, nj, d, qp, slot * d + colA * d, d * panel, s, colA, sld, cols,
                    m, slot + colA, sum, 0)) {
                for (int c = 0; c < cols; c++) {
                    l[slot + colA + c] += sum[c];
                }
                ops.gemm(true, s, colA, 1, sld, colB - colA, nj, vr, (c0 + jA) * panel, n * panel, ot,
                        (t0 + colA) * dpad, dpad, dpad);
                return;
            }
            System.arraycopy(alpha, colA, m, slot + colA, cols);
        }
        ops.gemm(false, kr, (c0 + jA) * dpad, dpad, 1, nj, d, qp, slot * d + colA * d, d * panel, s, colA, sld, cols);
        if (partial) {
            for (int j = 0; j < nj; j++) {
                int key = c0 + jA + j;
                long range = MaskRanges.queriesOf(spec, kPosArr[key], kDocs[key], qPosArr, qDocs, t0, t1);
                int lo = Math.min(Math.max(MaskRanges.lo(range) - t0, colA), colE);
                int hi = Math.min(Math.max(MaskRanges.hi(range) - t0, lo), colE);
                int so = j * sld;
                Arrays.fill(s, so + colA, so + lo, Float.NEGATIVE_INFINITY);
                Arrays.fill(s, so + hi, so + colE, Float.NEGATIVE_INFINITY);
            }
        }
        ops.softmaxColumns(s, colA, sld, nj, cols, m, l, slot + colA, alpha, colA);
        for (int r = colA; r < colB; r++) {
            float a = alpha[r];
            if (a != 1f) {
                ops.scale(ot, (t0 + r) * dpad, dpad, a);
            }
        }
        ops.gemm(true, s, colA, 1, sld, colB - colA, nj, vr, (c0 + jA) * panel, n * panel, ot, (t0 + colA) * dpad,
                dpad, dpad);
    }

    /**
     * In a PARTIAL tile, the box around what the mask leaves visible of query rows
     * {@code [r0, r0+nr)} × keys {@code [c0, c1)}: {@code box = {first key, end key, first row, end row}},
     * keys relative to {@code c0}, rows to {@code r0}. False when nothing is visible.
     */
    private boolean visibleBox(AttentionSpec spec, int[] qDocs, int[] kDocs, int r0, int nr, int c0, int c1,
                               int[] box) {
        int minLo = c1 - c0;
        int maxHi = 0;
        int rA = nr;
        int rB = 0;
        for (int r = 0; r < nr; r++) {
            long range = MaskRanges.keysOf(spec, qPosArr[r0 + r], qDocs[r0 + r], kPosArr, kDocs, c0, c1);
            int lo = MaskRanges.lo(range) - c0;
            int hi = MaskRanges.hi(range) - c0;
            if (lo < hi) {
                minLo = Math.min(minLo, lo);
                maxHi = Math.max(maxHi, hi);
                rA = Math.min(rA, r);
                rB = r + 1;
            }
        }
        box[0] = minLo;
        box[1] = maxHi;
        box[2] = rA;
        box[3] = rB;
        return rB > 0;
    }

    // ---------------------------------------------------------------- backward

    @Override
    protected void prepareBackward(BackwardCall call) {
        qPosArr = call.state().qPositions().toArray();
        kPosArr = call.kPositions().toArray();
    }

    @Override
    protected void backwardTask(BackwardCall call, int g, int k0, int k1, MemorySegment dQ, int worker) {
        BackwardState st = call.state();
        Tensor q = st.q();
        Tensor dO = st.dOut();
        Tensor k = call.k();
        Tensor v = call.v();
        Tensor dK = call.dK();
        Tensor dV = call.dV();
        AttentionSpec spec = call.spec();
        int rows = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        int dpad = roundUp(d, lanes);
        int group = call.group();
        float scale = spec.scale();
        int bc = options.keyTile();
        int br = options.queryTile();
        int brp = roundUp(br, panel);
        int nkc = k1 - k0;
        Scratch w = scratch[worker];
        float[] kr = w.k = grow(w.k, (long) nkc * dpad);
        float[] vr = w.v = grow(w.v, (long) nkc * dpad);
        float[] dk = w.dk = grow(w.dk, (long) nkc * dpad);
        float[] dv = w.dv = grow(w.dv, (long) nkc * dpad);
        int dPanels = ceilDiv(dpad, panel);
        int tiles = ceilDiv(rows, br);
        // Query tiles are packed in groups (BWD_GROUP_ROWS, BWD_GROUP_FLOATS), which bounds the scratch.
        int slots = Math.min(tiles, Math.max(1, Math.min(BWD_GROUP_ROWS / br, BWD_GROUP_FLOATS / (brp * dpad))));
        int colFloats = dPanels * brp * panel;
        int rowFloats = brp * d;
        float[] kc = w.kc = grow(w.kc, (long) dPanels * nkc * panel);
        float[] qc = w.qr = grow(w.qr, (long) slots * colFloats);
        float[] doc = w.dor = grow(w.dor, (long) slots * colFloats);
        float[] qp = w.qp = grow(w.qp, (long) slots * rowFloats);
        float[] dop = w.dop = grow(w.dop, (long) slots * rowFloats);
        float[] dq = w.dq = grow(w.dq, (long) slots * br * dpad);
        float[] sT = w.st = grow(w.st, (long) Math.min(bc, nkc) * brp);
        float[] dpT = w.dpt = grow(w.dpt, (long) Math.min(bc, nkc) * brp);
        float[] lseCol = w.lse = grow(w.lse, (long) slots * brp);
        float[] deltaCol = w.delta = grow(w.delta, (long) slots * brp);
        int[] seen = w.los = growInts(w.los, slots);
        boolean bf16K = k.dtype() == DType.BF16;
        boolean bf16V = v.dtype() == DType.BF16;
        boolean bf16Q = q.dtype() == DType.BF16;
        boolean bf16O = dO.dtype() == DType.BF16;
        for (int j = 0; j < nkc; j++) {
            int at = j * dpad;
            ops.loadRow(k.segment(), k.offsetBytes(k0 + j, g), LE, bf16K, d, 1f, kr, at);
            ops.loadRow(v.segment(), v.offsetBytes(k0 + j, g), LE, bf16V, d, 1f, vr, at);
            ops.loadRow(dK.segment(), dK.offsetBytes(k0 + j, g), LE, false, d, 1f, dk, at);
            ops.loadRow(dV.segment(), dV.offsetBytes(k0 + j, g), LE, false, d, 1f, dv, at);
            Arrays.fill(kr, at + d, at + dpad, 0f);
            toColumnPanels(kr, at, dpad, kc, j, nkc);
            Arrays.fill(vr, at + d, at + dpad, 0f);
            Arrays.fill(dk, at + d, at + dpad, 0f);
            Arrays.fill(dv, at + d, at + dpad, 0f);
        }
        MemorySegment lse = st.lse();
        MemorySegment delta = st.delta();
        int[] qDocs = call.qDocuments();
        int[] kDocs = call.kDocuments();
        Positions qPos = st.qPositions();
        Positions kPos = call.kPositions();
        // Per query head: Q, dO, LSE, D and dQ of every query tile that sees the chunk are packed
        // once; then key tiles run in the outer loop, so the chunk's K/V/dK/dV tile stays in L2
        // while the query tiles pass. For a given key tile the query tiles still come in
        // (head, tile) order and dQ of a tile still sums key tiles in order: same bits as query
        // tiles outside.
        for (int h = g * group; h < (g + 1) * group; h++) {
            for (int t0 = 0; t0 < tiles; t0 += slots) {
                int t1 = Math.min(tiles, t0 + slots);
                boolean any = false;
                for (int t = t0; t < t1; t++) {
                    int u = t - t0;
                    int r0 = t * br;
                    int r1 = Math.min(rows, r0 + br);
                    boolean visible = classify(spec, qPos, qDocs, r0, r1, kPos, kDocs, k0, k1) != TileVisibility.HIDDEN;
                    seen[u] = visible ? 1 : 0;
                    if (!visible) {
                        continue;
                    }
                    any = true;
                    int nr = r1 - r0;
                    int nrp = roundUp(nr, panel);
                    packQueryTile(q, bf16Q, r0, nr, nrp, h, d, dpad, brp, qc, u * colFloats, qp, u * rowFloats, w);
                    packQueryTile(dO, bf16O, r0, nr, nrp, h, d, dpad, brp, doc, u * colFloats, dop, u * rowFloats, w);
                    int lb = u * brp;
                    for (int r = 0; r < nrp; r++) {
                        float rowLse = r < nr ? lse.getAtIndex(ValueLayout.JAVA_FLOAT, (long) h * rows + r0 + r)
                                : Float.NEGATIVE_INFINITY;
                        boolean empty = rowLse == Float.NEGATIVE_INFINITY;
                        // exp(s − (+∞)) = 0: rows that see no key (and padding) contribute nothing.
                        lseCol[lb + r] = empty ? Float.POSITIVE_INFINITY : rowLse;
                        deltaCol[lb + r] = empty ? 0f : delta.getAtIndex(ValueLayout.JAVA_FLOAT, (long) h * rows + r0 + r);
                    }
                    int qb = u * br * dpad;
                    for (int r = 0; r < nr; r++) {
                        ops.loadRow(dQ, (((long) (r0 + r) * heads + h) * d) * 4, NATIVE, false, d, 1f, dq, qb + r * dpad);
                        Arrays.fill(dq, qb + r * dpad + d, qb + (r + 1) * dpad, 0f);
                    }
                }
                if (!any) {
                    continue;
                }
                for (int c0 = k0; c0 < k1; c0 += bc) {
                    int c1 = Math.min(k1, c0 + bc);
                    for (int t = t0; t < t1; t++) {
                        int u = t - t0;
                        if (seen[u] == 0) {
                            continue;
                        }
                        int r0 = t * br;
                        int r1 = Math.min(rows, r0 + br);
                        TileVisibility vis = classify(spec, qPos, qDocs, r0, r1, kPos, kDocs, c0, c1);
                        if (vis == TileVisibility.HIDDEN) {
                            continue;
                        }
                        int nr = r1 - r0;
                        int nrp = roundUp(nr, panel);
                        // Keys [jA, jB) × queries [colA, colB) of the tile are computed: all of it, or
                        // in a PARTIAL tile the box around what the mask leaves visible.
                        int jA = 0;
                        int jB = c1 - c0;
                        int pA = 0;
                        int pB = nrp / panel;
                        boolean partial = vis == TileVisibility.PARTIAL;
                        if (partial) {
                            if (!visibleBox(spec, qDocs, kDocs, r0, nr, c0, c1, w.box)) {
                                continue;
                            }
                            jA = w.box[0];
                            jB = w.box[1];
                            pA = w.box[2] / panel;
                            pB = ceilDiv(w.box[3], panel);
                        }
                        int nj = jB - jA;
                        int colA = pA * panel;
                        int colB = Math.min(nr, pB * panel);
                        int kOff = (c0 - k0 + jA) * dpad;
                        int cols = (pB - pA) * panel;
                        int rb = u * rowFloats + pA * d * panel;
                        int cb = u * colFloats + colA * panel;
                        ops.gemm(false, kr, kOff, dpad, 1, nj, d, qp, rb, d * panel, sT, colA, nrp, cols);
                        ops.gemm(false, vr, kOff, dpad, 1, nj, d, dop, rb, d * panel, dpT, colA, nrp, cols);
                        for (int j = 0; j < nj; j++) {
                            int so = j * nrp;
                            ops.backwardRow(sT, dpT, so + colA, cols, scale, lseCol, deltaCol, u * brp + colA);
                            if (partial) {
                                int key = c0 + jA + j;
                                long range = MaskRanges.queriesOf(spec, kPosArr[key], kDocs[key], qPosArr, qDocs, r0, r1);
                                int lo = Math.min(Math.max(MaskRanges.lo(range) - r0, colA), colB);
                                int hi = Math.min(Math.max(MaskRanges.hi(range) - r0, lo), colB);
                                Arrays.fill(sT, so + colA, so + lo, 0f);
                                Arrays.fill(dpT, so + colA, so + lo, 0f);
                                Arrays.fill(sT, so + hi, so + colB, 0f);
                                Arrays.fill(dpT, so + hi, so + colB, 0f);
                            }
                        }
                        int nc = colB - colA;
                        ops.gemm(true, sT, colA, nrp, 1, nj, nc, doc, cb, brp * panel, dv, kOff, dpad, dpad);
                        ops.gemm(true, dpT, colA, nrp, 1, nj, nc, qc, cb, brp * panel, dk, kOff, dpad, dpad);
                        ops.gemm(true, dpT, colA, 1, nrp, nc, nj, kc, (c0 - k0 + jA) * panel, nkc * panel, dq,
                                u * br * dpad + colA * dpad, dpad, dpad);
                    }
                }
                for (int t = t0; t < t1; t++) {
                    int u = t - t0;
                    if (seen[u] == 0) {
                        continue;
                    }
                    int r0 = t * br;
                    int nr = Math.min(rows, r0 + br) - r0;
                    int qb = u * br * dpad;
                    for (int r = 0; r < nr; r++) {
                        ops.storeRow(dq, qb + r * dpad, dQ, (((long) (r0 + r) * heads + h) * d) * 4, NATIVE, d);
                    }
                }
            }
        }
        for (int j = 0; j < nkc; j++) {
            ops.storeRow(dk, j * dpad, dK.segment(), dK.offsetBytes(k0 + j, g), LE, d);
            ops.storeRow(dv, j * dpad, dV.segment(), dV.offsetBytes(k0 + j, g), LE, d);
        }
    }

    /**
     * Packs rows {@code [r0, r0+nr)} of head {@code h} of {@code t} as column panels
     * ({@code columnsOut}, {@code [dim / W][row][W]}, panel stride {@code rowsAlloc·W}) and as row
     * panels of W rows, zero-padded to {@code nrp} rows ({@code rowPanelsOut}, {@code [row / W][dim][W]}).
     */
    private void packQueryTile(Tensor t, boolean bf16, int r0, int nr, int nrp, int h, int d, int dpad, int rowsAlloc,
                               float[] columnsOut, int columnsAt, float[] rowPanelsOut, int rowPanelsAt, Scratch w) {
        float[] row = w.row = grow(w.row, dpad);
        for (int r = 0; r < nr; r++) {
            ops.loadRow(t.segment(), t.offsetBytes(r0 + r, h), LE, bf16, d, 1f, row, 0);
            Arrays.fill(row, d, dpad, 0f);
            toColumnPanels(row, 0, dpad, columnsOut, columnsAt, r, rowsAlloc);
            int base = rowPanelsAt + (r / panel) * d * panel + r % panel;
            for (int c = 0; c < d; c++) {
                rowPanelsOut[base + c * panel] = row[c];
            }
        }
        for (int r = nr; r < nrp; r++) {
            int base = rowPanelsAt + (r / panel) * d * panel + r % panel;
            for (int c = 0; c < d; c++) {
                rowPanelsOut[base + c * panel] = 0f;
            }
        }
    }

    /**
     * Copies {@code src[at, at+dpad)} as row {@code j} of column panels {@code [dim / W][row][W]}
     * with panel stride {@code rowsAlloc·W} (the B layout of {@link SimdOps#gemm}).
     */
    private void toColumnPanels(float[] src, int at, int dpad, float[] dst, int dstAt, int j, int rowsAlloc) {
        for (int c = 0, q = 0; c < dpad; c += panel, q++) {
            System.arraycopy(src, at + c, dst, dstAt + q * rowsAlloc * panel + j * panel, Math.min(panel, dpad - c));
        }
    }

    private void toColumnPanels(float[] src, int at, int dpad, float[] dst, int j, int rowsAlloc) {
        toColumnPanels(src, at, dpad, dst, 0, j, rowsAlloc);
    }
}
