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
 * <p><b>Forward.</b> Once per call ({@link #prepareForward}, parallel over chunks of tokens, all
 * heads of a token together and one tensor at a time so that each streams in order) K is copied as
 * rows ({@code [key][dim]}), V into panels of {@code W = 4·lanes} dimensions
 * ({@code [dim / W][key][W]}), Q (scaled by the softmax scale times {@link SimdOps#unitsPerNat},
 * so that scores are in units of {@code ln 2 / L} and their exp is {@code 2^(x/L)}, the reduction of
 * the table exp without a multiply) as rows per head, and the accumulator rows that already
 * hold a sum as rows per head, fp32, BF16 widened on the way; after the tasks
 * ({@link #completeForward}) the accumulator rows are stored back token by token. A task (query
 * head, several query tiles: {@link #forwardTaskRows}) turns its query rows into B panels of W
 * queries ({@code [query / W][dim][W]}; 16 × 16 register transposes at 512 bits, gathers
 * otherwise), loads its slice of the online-softmax state (m converted to units and rounded to an
 * integer, l and O rescaled to match: the lazy path needs integer references) and works on its
 * accumulator rows in place;
 * then for each key tile, for each of its query tiles in turn (the K/V tile stays in L2 between
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
 * per worker for tiles, per kernel for the packed block (K and V, and in the forward Q and the
 * accumulator: together about twice the fp32 size of Q and of K/V); nothing is allocated inside
 * the tile loops. Every loop runs in a fixed order and the
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

    // The packed K/V block of the current forward call (written by prepareForward, read by tasks).
    private float[][] kRows = new float[0][];
    private float[][] vRows = new float[0][];
    // Q (scaled) and the output accumulator of the current forward call, per query head as rows
    // [row][dpad] (written by prepareForward, used in place by tasks, O stored by completeForward).
    private float[][] qRows = new float[0][];
    private float[][] oRows = new float[0][];
    private int[] qPosArr = new int[0];
    private int[] kPosArr = new int[0];

    /** Per-worker scratch; arrays grow, never shrink. */
    private static final class Scratch {
        float[] q;
        float[] s;
        float[] m;
        float[] l;
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
        float[] snap;
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
        super(options, "ringattn-panama");
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
    protected void prepareForward(ForwardCall call) {
        Tensor k = call.k();
        Tensor v = call.v();
        ForwardState st = ((StateForward) call.pass()).state();
        Tensor q = st.q();
        int n = k.tokens();
        int rows = q.tokens();
        int kvHeads = k.heads();
        int heads = q.heads();
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
        if (qRows.length < heads) {
            qRows = Arrays.copyOf(qRows, heads);
            oRows = Arrays.copyOf(oRows, heads);
        }
        for (int h = 0; h < heads; h++) {
            qRows[h] = grow(qRows[h], (long) rows * dpad);
            oRows[h] = grow(oRows[h], (long) rows * dpad);
        }
        qPosArr = st.qPositions().toArray();
        kPosArr = call.kPositions().toArray();
        // Token by token, all heads of a token together, one tensor at a time per chunk of tokens
        // (K, then V; Q, then the accumulator): each tensor is read as one sequential stream, which
        // the hardware prefetches. Head by head, the strided rows ran at under half the memory
        // bandwidth, and two tensors token by token at 0.55 of it; tasks copying their own query
        // and accumulator rows (one head: rows a head apart) cost 1-2% more of the forward.
        int kChunks = ceilDiv(n, PACK_ROWS);
        int qChunks = ceilDiv(rows, PACK_ROWS);
        boolean bf16K = k.dtype() == DType.BF16;
        boolean bf16V = v.dtype() == DType.BF16;
        pool.run(kChunks + qChunks, (task, worker) -> {
            if (task < kChunks) {
                packKeys(k, v, bf16K, bf16V, task * PACK_ROWS, Math.min(n, (task + 1) * PACK_ROWS), d, dpad);
            } else {
                int i0 = (task - kChunks) * PACK_ROWS;
                packQueries(call, i0, Math.min(rows, i0 + PACK_ROWS), d, dpad);
            }
        });
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
     * Query rows {@code [i0, i1)} of every head: Q, scaled, into {@link #qRows}; then the
     * accumulator of the rows that have seen a key into {@link #oRows}. A row that has not is zeroed
     * by its task, which reads it next: zeroed here, it had left the cache by then (−0.5 to −0.8%
     * of the forward at S = 1024, D = 64, one thread).
     */
    private void packQueries(ForwardCall call, int i0, int i1, int d, int dpad) {
        ForwardState st = ((StateForward) call.pass()).state();
        Tensor q = st.q();
        int heads = q.heads();
        int rows = q.tokens();
        boolean bf16 = q.dtype() == DType.BF16;
        float scale = call.spec().scale() * units;
        for (int i = i0; i < i1; i++) {
            for (int h = 0; h < heads; h++) {
                float[] qr = qRows[h];
                ops.loadRow(q.segment(), q.offsetBytes(i, h), LE, bf16, d, scale, qr, i * dpad);
                Arrays.fill(qr, i * dpad + d, (i + 1) * dpad, 0f);
            }
        }
        MemorySegment acc = st.acc();
        MemorySegment rowMax = st.rowMax();
        for (int i = i0; i < i1; i++) {
            for (int h = 0; h < heads; h++) {
                if (rowMax.getAtIndex(ValueLayout.JAVA_FLOAT, (long) h * rows + i) != Float.NEGATIVE_INFINITY) {
                    float[] or = oRows[h];
                    ops.loadRow(acc, (((long) i * heads + h) * d) * 4, NATIVE, false, d, 1f, or, i * dpad);
                    Arrays.fill(or, i * dpad + d, (i + 1) * dpad, 0f);
                }
            }
        }
    }

    /** Stores {@link #oRows} into the state's accumulator, token by token (one sequential stream). */
    @Override
    protected void completeForward(ForwardCall call) {
        ForwardState st = ((StateForward) call.pass()).state();
        Tensor q = st.q();
        int rows = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        int dpad = roundUp(d, lanes);
        MemorySegment acc = st.acc();
        pool.run(ceilDiv(rows, PACK_ROWS), (task, worker) -> {
            int i1 = Math.min(rows, (task + 1) * PACK_ROWS);
            for (int i = task * PACK_ROWS; i < i1; i++) {
                for (int h = 0; h < heads; h++) {
                    ops.storeRow(oRows[h], i * dpad, acc, (((long) i * heads + h) * d) * 4, NATIVE, d);
                }
            }
        });
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

    /** Most query rows per forward task. */
    private static final int FWD_TASK_ROWS = 256;
    /** Most floats of packed Q (and of O) per forward task: 128 KiB each. */
    private static final int FWD_TASK_FLOATS = 32768;
    /** Query rows packed at a time by a backward task (bounds its scratch). */
    private static final int BWD_GROUP_ROWS = 2048;
    /** Most floats of each packed query array (Q, dO as row and column panels, dQ) of a backward task: 1 MiB. */
    private static final int BWD_GROUP_FLOATS = 2048 * 128;

    @Override
    protected void forwardTask(ForwardCall call, int head, int r0, int r1, int worker) {
        ForwardState st = ((StateForward) call.pass()).state();
        Tensor q = st.q();
        AttentionSpec spec = call.spec();
        int rows = q.tokens();
        int d = q.headDim();
        int dpad = roundUp(d, lanes);
        int g = head / call.group();
        int n = call.k().tokens();
        int nr = r1 - r0;
        int qtile = options.queryTile();
        int tiles = ceilDiv(nr, qtile);
        // Each query tile has a slot of qtp columns (its rows, padded to whole panels) in the
        // packed Q, the score tile and the m/l arrays.
        int qtp = roundUp(Math.min(qtile, nr), panel);
        int bc = options.keyTile();
        Scratch w = scratch[worker];
        float[] ot = oRows[head];
        // Score rows one vector longer than the slot: a stride of a power of two cache lines would
        // map a column's rows onto a few L1 sets.
        int sld = qtp + lanes;
        float[] s = w.s = grow(w.s, (long) Math.min(bc, n) * sld);
        float[] m = w.m = grow(w.m, (long) tiles * qtp);
        float[] l = w.l = grow(w.l, (long) tiles * qtp);
        float[] alpha = w.tmp = grow(w.tmp, qtp);
        float[] sum = w.sum = grow(w.sum, qtp);
        MemorySegment rowMax = st.rowMax();
        MemorySegment rowSum = st.rowSum();
        // Padding columns (past a tile's rows) hold Q = 0 and a state that is never stored.
        Arrays.fill(m, 0, tiles * qtp, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, tiles * qtp, 0f);
        loadState(st, head, r0, nr, qtile, qtp, dpad, m, l, ot, w);
        float[] qp = w.q = grow(w.q, (long) tiles * qtp * d);
        packQueryPanels(qRows[head], r0, nr, qtile, qtp, d, dpad, w, qp);
        float[] kr = kRows[g];
        float[] vr = vRows[g];
        int[] qDocs = call.qDocuments();
        int[] kDocs = call.kDocuments();
        Positions qPos = st.qPositions();
        Positions kPos = call.kPositions();
        for (int c0 = 0; c0 < n; c0 += bc) {
            int c1 = Math.min(n, c0 + bc);
            if (classify(spec, qPos, qDocs, r0, r1, kPos, kDocs, c0, c1) == TileVisibility.HIDDEN) {
                continue;
            }
            for (int u = 0; u < tiles; u++) {
                int t0 = r0 + u * qtile;
                int t1 = Math.min(r1, t0 + qtile);
                forwardTile(spec, qPos, qDocs, kPos, kDocs, t0, t1, u * qtp, c0, c1, n, d, dpad, sld,
                        qp, ot, s, m, l, alpha, sum, kr, vr, w.box);
            }
        }
        for (int r = 0; r < nr; r++) {
            int slot = (r / qtile) * qtp + r % qtile;
            long sIdx = (long) head * rows + r0 + r;
            rowMax.setAtIndex(ValueLayout.JAVA_FLOAT, sIdx, m[slot] / units);
            rowSum.setAtIndex(ValueLayout.JAVA_FLOAT, sIdx, l[slot]);
        }
    }

    /**
     * The task's slice of the online-softmax state, m converted to units and rounded to an integer
     * (the lazy path's references must be integers): a row that has seen keys has its l and O
     * rescaled by {@code 2^((m·units − mInt)/L)}, the exponent computed with one rounding
     * ({@link Math#fma}); a row that has not gets O = 0 (its accumulator was not loaded).
     */
    private void loadState(ForwardState st, int head, int r0, int nr, int qtile, int qtp, int dpad, float[] m,
                           float[] l, float[] ot, Scratch w) {
        int rows = st.q().tokens();
        MemorySegment rowMax = st.rowMax();
        MemorySegment rowSum = st.rowSum();
        int padded = roundUp(nr, lanes);
        float[] snap = w.snap = grow(w.snap, padded);
        for (int r = 0; r < nr; r++) {
            int slot = (r / qtile) * qtp + r % qtile;
            long sIdx = (long) head * rows + r0 + r;
            float rm = rowMax.getAtIndex(ValueLayout.JAVA_FLOAT, sIdx);
            l[slot] = rowSum.getAtIndex(ValueLayout.JAVA_FLOAT, sIdx);
            float mu = rm * units;
            float mi = (mu + SimdOps.ROUNDING_MAGIC) - SimdOps.ROUNDING_MAGIC; // an integer near mu; ±∞ and NaN unchanged
            m[slot] = mi;
            snap[r] = Float.isFinite(mi) ? Math.fma(rm, units, -mi) : 0f;
            if (rm == Float.NEGATIVE_INFINITY) { // no key seen yet: the accumulator is 0 (not loaded)
                Arrays.fill(ot, (r0 + r) * dpad, (r0 + r + 1) * dpad, 0f);
            }
        }
        Arrays.fill(snap, nr, padded, 0f);
        ops.expUnits(snap, 0, padded);
        for (int r = 0; r < nr; r++) {
            float a = snap[r];
            if (a != 1f) {
                int slot = (r / qtile) * qtp + r % qtile;
                l[slot] *= a;
                ops.scale(ot, (r0 + r) * dpad, dpad, a);
            }
        }
    }

    /**
     * The task's query rows {@code [r0, r0 + nr)} of {@code qr} ({@code [row][dpad]}) as B panels,
     * tile by tile, each in its slot of {@code qtp} columns: whole panels straight from {@code qr},
     * a tile's last partial panel through a zero-padded copy, panels past its rows zero.
     */
    private void packQueryPanels(float[] qr, int r0, int nr, int qtile, int qtp, int d, int dpad, Scratch w,
                                 float[] qp) {
        for (int u = 0, t0 = 0; t0 < nr; u++, t0 += qtile) {
            int inTile = Math.min(qtile, nr - t0);
            int full = inTile / panel * panel;
            int out = u * qtp * d;
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
