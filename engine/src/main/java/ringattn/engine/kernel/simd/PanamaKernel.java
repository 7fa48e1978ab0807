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
 * <p><b>Forward.</b> Once per call ({@link #prepareForward}, parallel over K/V heads and key
 * chunks) K is packed transposed into panels of {@code W = 4·lanes} keys ({@code [key / W][dim][W]})
 * and V into panels of W dimensions ({@code [dim / W][key][W]}), fp32, BF16 widened on the way:
 * both are the B operand of {@link SimdOps#gemm}, read with a constant stride. A task
 * (query head, query tile) packs its query rows with the softmax scale folded in, loads its slice of
 * the online-softmax state, and for each key tile of {@code roundUp(keyTile, W)} keys computes
 * {@code S = Q·Kᵀ} with the register-blocked outer-product GEMM of {@link SimdOps#gemm}, masks
 * PARTIAL tiles by visible ranges ({@link MaskRanges}), updates max/sum with a vector exp,
 * rescales its output rows and adds {@code P·V} with the same GEMM. Tiles hidden by the
 * mask are skipped before any memory of theirs is read.
 *
 * <p><b>Backward.</b> A task (K/V head, key chunk) packs the chunk's K and V rows and loads its
 * dK/dV rows once; then for each query head of the group and query tile it packs Q and dO (as
 * panels of W rows and of W dimensions), loads the dQ tile, and for each key tile works on the
 * transposed tile:
 * {@code Sᵀ = K·Qᵀ}, {@code dPᵀ = V·dOᵀ}, {@code Pᵀ = exp(Sᵀ·scale − lse)},
 * {@code dSᵀ = Pᵀ∘(dPᵀ − D)·scale}, then {@code dV += Pᵀ·dO}, {@code dK += dSᵀ·Q} and
 * {@code dQ += dS·K}. In the transposed layout LSE and D run along the vector lanes. In PARTIAL
 * tiles only the box around the visible keys × queries is computed.
 *
 * <p>Scratch is per worker, heap {@code float[]}, grown when a larger shape arrives and reused
 * after that; nothing is allocated inside the tile loops. Every loop runs in a fixed order and the
 * exp is built from exactly rounded operations (see {@code Ops512.exp}), so a given thread count
 * and tile sizes give the same bytes on every run, interpreted or compiled. Thread-safety as
 * {@link ringattn.engine.kernel.BlockKernel}.
 */
public final class PanamaKernel extends AbstractBlockKernel {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private final SimdOps ops;
    private final int lanes;
    private final int panel;
    private final Scratch[] scratch;

    // The packed K/V block of the current forward call (written by prepareForward, read by tasks).
    private float[][] kPanels = new float[0][];
    private float[][] vRows = new float[0][];
    private int[] qPosArr = new int[0];
    private int[] kPosArr = new int[0];

    /** Per-worker scratch; arrays grow, never shrink. */
    private static final class Scratch {
        float[] q;
        float[] o;
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
        int[] los;
        int[] his;
    }

    /**
     * A kernel with {@code options.threads()} workers on {@code options.simdBits()}-bit vectors (0:
     * this machine's preferred width).
     */
    public PanamaKernel(KernelOptions options) {
        super(options, "ringattn-panama");
        int bits = options.simdBits() == 0 ? SimdOps.preferredBits() : options.simdBits();
        this.ops = SimdOps.forBits(bits);
        this.lanes = ops.lanes();
        this.panel = 4 * lanes;
        this.scratch = new Scratch[options.threads()];
        for (int i = 0; i < scratch.length; i++) {
            scratch[i] = new Scratch();
        }
    }

    /** The preferred species of this machine, for the provider's log line. */
    public static String preferredSpecies() {
        return "FloatVector " + SimdOps.preferredBits() + "-bit";
    }

    @Override
    public String name() {
        return "panama-" + ops.bits();
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
        int n = k.tokens();
        int kvHeads = k.heads();
        int d = k.headDim();
        int dpad = roundUp(d, lanes);
        int np = roundUp(n, panel);
        if (kPanels.length < kvHeads) {
            kPanels = Arrays.copyOf(kPanels, kvHeads);
            vRows = Arrays.copyOf(vRows, kvHeads);
        }
        for (int g = 0; g < kvHeads; g++) {
            kPanels[g] = grow(kPanels[g], (long) np * d);
            vRows[g] = grow(vRows[g], (long) ceilDiv(dpad, panel) * n * panel);
        }
        qPosArr = call.state().qPositions().toArray();
        kPosArr = call.kPositions().toArray();
        int chunk = 4 * panel;
        int chunks = ceilDiv(np, chunk);
        boolean bf16K = k.dtype() == DType.BF16;
        boolean bf16V = v.dtype() == DType.BF16;
        pool.run(kvHeads * chunks, (task, worker) -> {
            int g = task / chunks;
            int j0 = (task % chunks) * chunk;
            int j1 = Math.min(np, j0 + chunk);
            Scratch w = scratch[worker];
            w.row = grow(w.row, dpad);
            float[] row = w.row;
            float[] kp = kPanels[g];
            float[] vr = vRows[g];
            for (int j = j0; j < j1; j++) {
                int base = (j / panel) * d * panel + j % panel;
                if (j < n) {
                    ops.loadRow(k.segment(), k.offsetBytes(j, g), LE, bf16K, d, 1f, row, 0);
                    for (int c = 0; c < d; c++) {
                        kp[base + c * panel] = row[c];
                    }
                    ops.loadRow(v.segment(), v.offsetBytes(j, g), LE, bf16V, d, 1f, row, 0);
                    Arrays.fill(row, d, dpad, 0f);
                    toColumnPanels(row, dpad, vr, j, n);
                } else {
                    for (int c = 0; c < d; c++) {
                        kp[base + c * panel] = 0f;
                    }
                }
            }
        });
    }

    @Override
    protected void forwardTask(ForwardCall call, int head, int r0, int r1, int worker) {
        ForwardState st = call.state();
        Tensor q = st.q();
        AttentionSpec spec = call.spec();
        int rows = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        int dpad = roundUp(d, lanes);
        int g = head / call.group();
        int n = call.k().tokens();
        int nr = r1 - r0;
        int bc = roundUp(options.keyTile(), panel);
        Scratch w = scratch[worker];
        float[] qt = w.q = grow(w.q, (long) nr * dpad);
        float[] ot = w.o = grow(w.o, (long) nr * dpad);
        float[] s = w.s = grow(w.s, (long) nr * bc);
        float[] m = w.m = grow(w.m, nr);
        float[] l = w.l = grow(w.l, nr);
        float[] tmp = w.tmp = grow(w.tmp, lanes);
        int[] los = w.los = growInts(w.los, nr);
        int[] his = w.his = growInts(w.his, nr);
        boolean bf16 = q.dtype() == DType.BF16;
        MemorySegment acc = st.acc();
        MemorySegment rowMax = st.rowMax();
        MemorySegment rowSum = st.rowSum();
        for (int r = 0; r < nr; r++) {
            ops.loadRow(q.segment(), q.offsetBytes(r0 + r, head), LE, bf16, d, spec.scale(), qt, r * dpad);
            Arrays.fill(qt, r * dpad + d, (r + 1) * dpad, 0f);
            ops.loadRow(acc, (((long) (r0 + r) * heads + head) * d) * 4, NATIVE, false, d, 1f, ot, r * dpad);
            Arrays.fill(ot, r * dpad + d, (r + 1) * dpad, 0f);
            long sIdx = (long) head * rows + r0 + r;
            m[r] = rowMax.getAtIndex(ValueLayout.JAVA_FLOAT, sIdx);
            l[r] = rowSum.getAtIndex(ValueLayout.JAVA_FLOAT, sIdx);
        }
        float[] kp = kPanels[g];
        float[] vr = vRows[g];
        int[] qDocs = call.qDocuments();
        int[] kDocs = call.kDocuments();
        Positions qPos = st.qPositions();
        Positions kPos = call.kPositions();
        for (int c0 = 0; c0 < n; c0 += bc) {
            int c1 = Math.min(n, c0 + bc);
            TileVisibility vis = classify(spec, qPos, qDocs, r0, r1, kPos, kDocs, c0, c1);
            if (vis == TileVisibility.HIDDEN) {
                continue;
            }
            int nk = c1 - c0;
            // Keys [cA, cB) of the tile are computed: all of it, or in a PARTIAL tile the panels
            // that hold a key visible to some row (the rest is masked for every row).
            int cA = 0;
            int cB = roundUp(nk, panel);
            boolean partial = vis == TileVisibility.PARTIAL;
            if (partial) {
                int minLo = nk;
                int maxHi = 0;
                for (int r = 0; r < nr; r++) {
                    long range = MaskRanges.keysOf(spec, qPosArr[r0 + r], qDocs[r0 + r], kPosArr, kDocs, c0, c1);
                    int lo = MaskRanges.lo(range) - c0;
                    int hi = MaskRanges.hi(range) - c0;
                    los[r] = lo;
                    his[r] = hi;
                    if (lo < hi) {
                        minLo = Math.min(minLo, lo);
                        maxHi = Math.max(maxHi, hi);
                    }
                }
                if (minLo >= maxHi) {
                    continue;
                }
                cA = minLo / panel * panel;
                cB = roundUp(maxHi, panel);
            }
            int width = cB - cA;
            ops.gemm(false, qt, 0, dpad, 1, nr, d, kp, (c0 + cA) * d, d * panel, s, 0, width, width);
            for (int r = 0; r < nr; r++) {
                int so = r * width;
                if (partial) {
                    int lo = los[r] - cA;
                    int hi = his[r] - cA;
                    if (lo >= hi) {
                        Arrays.fill(s, so, so + width, 0f);
                        continue;
                    }
                    Arrays.fill(s, so, so + lo, Float.NEGATIVE_INFINITY);
                    Arrays.fill(s, so + hi, so + width, Float.NEGATIVE_INFINITY);
                } else if (nk < cB) {
                    Arrays.fill(s, so + nk, so + width, Float.NEGATIVE_INFINITY);
                }
                float mx = ops.max(s, so, width);
                if (mx == Float.NEGATIVE_INFINITY) {
                    Arrays.fill(s, so, so + width, 0f);
                    continue;
                }
                float mOld = m[r];
                float mNew = Math.max(mOld, mx);
                // exp(0) = 1 exactly, so skipping it when the max did not move changes nothing.
                float alpha = mOld == mNew ? 1f : mOld == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(mOld - mNew);
                float sum = ops.expSub(s, so, width, mNew, tmp);
                l[r] = l[r] * alpha + sum;
                m[r] = mNew;
                if (alpha != 1f) {
                    ops.scale(ot, r * dpad, dpad, alpha);
                }
            }
            ops.gemm(true, s, 0, width, 1, nr, Math.min(nk, cB) - cA, vr, (c0 + cA) * panel, n * panel, ot, 0, dpad, dpad);
        }
        for (int r = 0; r < nr; r++) {
            ops.storeRow(ot, r * dpad, acc, (((long) (r0 + r) * heads + head) * d) * 4, NATIVE, d);
            long sIdx = (long) head * rows + r0 + r;
            rowMax.setAtIndex(ValueLayout.JAVA_FLOAT, sIdx, m[r]);
            rowSum.setAtIndex(ValueLayout.JAVA_FLOAT, sIdx, l[r]);
        }
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
        float[] kc = w.kc = grow(w.kc, (long) dPanels * nkc * panel);
        float[] qc = w.qr = grow(w.qr, (long) dPanels * brp * panel);
        float[] doc = w.dor = grow(w.dor, (long) dPanels * brp * panel);
        float[] qp = w.qp = grow(w.qp, (long) brp * d);
        float[] dop = w.dop = grow(w.dop, (long) brp * d);
        float[] dq = w.dq = grow(w.dq, (long) br * dpad);
        float[] sT = w.st = grow(w.st, (long) Math.min(bc, nkc) * brp);
        float[] dpT = w.dpt = grow(w.dpt, (long) Math.min(bc, nkc) * brp);
        float[] lseCol = w.lse = grow(w.lse, brp);
        float[] deltaCol = w.delta = grow(w.delta, brp);
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
        for (int h = g * group; h < (g + 1) * group; h++) {
            for (int r0 = 0; r0 < rows; r0 += br) {
                int r1 = Math.min(rows, r0 + br);
                if (classify(spec, qPos, qDocs, r0, r1, kPos, kDocs, k0, k1) == TileVisibility.HIDDEN) {
                    continue;
                }
                int nr = r1 - r0;
                int nrp = roundUp(nr, panel);
                packQueryTile(q, bf16Q, r0, nr, nrp, h, d, dpad, brp, qc, qp, w);
                packQueryTile(dO, bf16O, r0, nr, nrp, h, d, dpad, brp, doc, dop, w);
                for (int r = 0; r < nrp; r++) {
                    float rowLse = r < nr ? lse.getAtIndex(ValueLayout.JAVA_FLOAT, (long) h * rows + r0 + r)
                            : Float.NEGATIVE_INFINITY;
                    boolean empty = rowLse == Float.NEGATIVE_INFINITY;
                    // exp(s − (+∞)) = 0: rows that see no key (and padding) contribute nothing.
                    lseCol[r] = empty ? Float.POSITIVE_INFINITY : rowLse;
                    deltaCol[r] = empty ? 0f : delta.getAtIndex(ValueLayout.JAVA_FLOAT, (long) h * rows + r0 + r);
                }
                for (int r = 0; r < nr; r++) {
                    ops.loadRow(dQ, (((long) (r0 + r) * heads + h) * d) * 4, NATIVE, false, d, 1f, dq, r * dpad);
                    Arrays.fill(dq, r * dpad + d, (r + 1) * dpad, 0f);
                }
                for (int c0 = k0; c0 < k1; c0 += bc) {
                    int c1 = Math.min(k1, c0 + bc);
                    TileVisibility vis = classify(spec, qPos, qDocs, r0, r1, kPos, kDocs, c0, c1);
                    if (vis == TileVisibility.HIDDEN) {
                        continue;
                    }
                    // Keys [jA, jB) × queries [colA, colB) of the tile are computed: all of it, or
                    // in a PARTIAL tile the box around what the mask leaves visible.
                    int jA = 0;
                    int jB = c1 - c0;
                    int pA = 0;
                    int pB = nrp / panel;
                    boolean partial = vis == TileVisibility.PARTIAL;
                    if (partial) {
                        int minLo = jB;
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
                        if (rB == 0) {
                            continue;
                        }
                        jA = minLo;
                        jB = maxHi;
                        pA = rA / panel;
                        pB = ceilDiv(rB, panel);
                    }
                    int nj = jB - jA;
                    int colA = pA * panel;
                    int colB = Math.min(nr, pB * panel);
                    int kOff = (c0 - k0 + jA) * dpad;
                    int cols = (pB - pA) * panel;
                    ops.gemm(false, kr, kOff, dpad, 1, nj, d, qp, pA * d * panel, d * panel, sT, colA, nrp, cols);
                    ops.gemm(false, vr, kOff, dpad, 1, nj, d, dop, pA * d * panel, d * panel, dpT, colA, nrp, cols);
                    for (int j = 0; j < nj; j++) {
                        int so = j * nrp;
                        ops.backwardRow(sT, dpT, so + colA, (pB - pA) * panel, scale, lseCol, deltaCol, colA);
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
                    ops.gemm(true, sT, colA, nrp, 1, nj, nc, doc, colA * panel, brp * panel, dv, kOff, dpad, dpad);
                    ops.gemm(true, dpT, colA, nrp, 1, nj, nc, qc, colA * panel, brp * panel, dk, kOff, dpad, dpad);
                    ops.gemm(true, dpT, colA, 1, nrp, nc, nj, kc, (c0 - k0 + jA) * panel, nkc * panel, dq, colA * dpad, dpad, dpad);
                }
                for (int r = 0; r < nr; r++) {
                    ops.storeRow(dq, r * dpad, dQ, (((long) (r0 + r) * heads + h) * d) * 4, NATIVE, d);
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
                               float[] columnsOut, float[] rowPanelsOut, Scratch w) {
        float[] row = w.row = grow(w.row, dpad);
        for (int r = 0; r < nr; r++) {
            ops.loadRow(t.segment(), t.offsetBytes(r0 + r, h), LE, bf16, d, 1f, row, 0);
            Arrays.fill(row, d, dpad, 0f);
            toColumnPanels(row, 0, dpad, columnsOut, r, rowsAlloc);
            int base = (r / panel) * d * panel + r % panel;
            for (int c = 0; c < d; c++) {
                rowPanelsOut[base + c * panel] = row[c];
            }
        }
        for (int r = nr; r < nrp; r++) {
            int base = (r / panel) * d * panel + r % panel;
            for (int c = 0; c < d; c++) {
                rowPanelsOut[base + c * panel] = 0f;
            }
        }
    }

    /**
     * Copies {@code src[at, at+dpad)} as row {@code j} of column panels {@code [dim / W][row][W]}
     * with panel stride {@code rowsAlloc·W} (the B layout of {@link SimdOps#gemm}).
     */
    private void toColumnPanels(float[] src, int at, int dpad, float[] dst, int j, int rowsAlloc) {
        for (int c = 0, q = 0; c < dpad; c += panel, q++) {
            System.arraycopy(src, at + c, dst, q * rowsAlloc * panel + j * panel, Math.min(panel, dpad - c));
        }
    }

    private void toColumnPanels(float[] src, int dpad, float[] dst, int j, int rowsAlloc) {
        toColumnPanels(src, 0, dpad, dst, j, rowsAlloc);
    }
}
