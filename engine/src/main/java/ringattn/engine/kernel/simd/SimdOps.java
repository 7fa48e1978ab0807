package ringattn.engine.kernel.simd;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;

/**
 * The vector primitives of {@link PanamaKernel} for one vector width and register file. Each
 * implementation ({@code Ops<bits>R<registers>}, generated from one template by
 * {@code engine/codegen/GenerateOps.java}) holds its species in a {@code static final} field, which is
 * what lets C2 turn the Vector API calls into machine vectors (a species held in an instance field
 * would not be constant-folded), and register-blocks its GEMM for its register file
 * ({@link #blockVectors}). No Vector API type appears in these signatures.
 *
 * <p>All operands are heap {@code float[]} scratch (packed tiles) except the row loads and stores,
 * which read and write the tensors' off-heap memory. Offsets and lengths count elements.
 * Implementations are stateless and thread-safe.
 */
abstract class SimdOps {
    /** Floats per vector. */
    abstract int lanes();

    /** Vector width in bits. */
    abstract int bits();

    /** Vector registers of the register file this class is blocked for (16 or 32). */
    abstract int registers();

    /** Vectors per register block of {@link #gemm} (its blocks are 6 rows × this many vectors). */
    abstract int blockVectors();

    /**
     * {@code C[m × n] (+)= A[m × kd] · B[kd × n]} in fp32, where {@code A[r][k] = a[aOff + r·aRs + k·aCs]}
     * (so A may be stored row- or column-major) and C is row-major with stride {@code ldc}. B is
     * packed in panels of {@link #panel()} columns: {@code B[k][j] = b[bOff + (j / W)·bPanelStride +
     * k·W + j % W]}, {@code W = panel()}; the constant stride inside a panel lets C2 remove the range
     * checks from the inner loop (README, "Design choices, measured"). {@code n} must be a
     * multiple of {@link #lanes()}. With {@code accumulate} false C is overwritten. Register-blocked:
     * 6 rows × {@link #blockVectors} vectors of accumulators (a panel is 4 vectors wide, so 1 or 2
     * blocks across it), then 4-row blocks (two of them instead of a 6-row block and 2 or 3 single
     * rows), 1-row and 1-vector tails;
     * every block runs the k loop in order with one FMA per element per k, so results depend on
     * nothing but the operands.
     */
    abstract void gemm(boolean accumulate, float[] a, int aOff, int aRs, int aCs, int m, int kd,
                       float[] b, int bOff, int bPanelStride, float[] c, int cOff, int ldc, int n);

    /**
     * The forward's score units per natural-log unit, {@code L·log2 e} with {@code L} =
     * {@link #lanes()}: Q is scaled by it (with the softmax scale), so that the exp of a score
     * {@code x} in units is {@code 2^(x/L)} and its table reduction needs no multiply
     * ({@link #scoresExp}, {@link #softmaxColumns}, {@link #expUnits}). Exact: a power of two times
     * the float nearest log2 e.
     */
    final float unitsPerNat() {
        return expConstants(lanes())[0];
    }

    /**
     * How far (natural-log units) a score may exceed its row's softmax reference in
     * {@link #scoresExp} before the tile is redone with a new maximum: probabilities stay below
     * e^16 ≈ 8.9e6, far from the fp32 range for any sum of them.
     */
    static final float LAZY_LIMIT = 16f;

    /**
     * The forward's scores and probabilities of a tile with the lazy softmax step: {@code C = A·B}
     * as {@link #gemm} (not accumulating; {@code aCs = 1}; {@code n} a multiple of {@link #panel()}),
     * and while each block of C is still in L1, {@code C = 2^((C − ref[refOff + j])/L)} for column j
     * (scores in units, {@link #unitsPerNat}) with {@code sum[sumOff + j] += Σ_rows C} (rows in
     * order). A column whose reference is −∞ (no key seen yet) takes the maximum of its first
     * block's rows, rounded to an integer, as reference (written to {@code ref}); other references
     * are kept, and must be integers (as {@link #softmaxColumns} leaves them). Returns false (C, sum
     * and new references then undefined) as soon as some {@code C − ref} exceeds {@link #LAZY_LIMIT}
     * natural units (or is a NaN whose sign bit is clear), or a reference is not an integer of
     * magnitude below 2^21 (NaN, ±∞, huge scores), and the caller redoes the tile with the exact
     * maximum. Saves the max pass and a pass over C through L2.
     */
    abstract boolean scoresExp(float[] a, int aOff, int aRs, int m, int kd, float[] b, int bOff, int bPanelStride,
                               float[] c, int cOff, int ldc, int n, float[] ref, int refOff, float[] sum, int sumOff);

    /**
     * Transposes {@code rows} rows ({@code src[srcOff + r·ld + k]}, {@code k < d}; {@code rows} a
     * multiple of {@link #panel()}) into B panels of W rows: {@code dst[dstOff + (r / W)·d·W + k·W + r % W]}.
     * At 16 lanes whole 16-column blocks by register transposes ({@link Transpose16}), other columns
     * and widths by gathers of one column per vector ({@code index}: scratch of {@link #lanes()} ints).
     */
    abstract void toRowPanels(float[] src, int srcOff, int ld, int rows, int d, int[] index, float[] dst, int dstOff);

    /** Columns of a B panel of {@link #gemm}: 4 vectors. */
    final int panel() {
        return 4 * lanes();
    }

    /**
     * The forward's online-softmax step on a transposed score tile {@code S[j][c] = s[off + j·ldc + c]}
     * (key rows {@code j ∈ [0, rows)}, query columns {@code c ∈ [0, cols)}, {@code cols} a multiple
     * of {@link #panel()}), all queries at once along the lanes, scores and m in units
     * ({@link #unitsPerNat}). Per column, with the state at {@code m[st + c]}, {@code l[st + c]}:
     * {@code mNew = max(m, max_j S[j][c])} rounded to an integer (so that {@link #scoresExp} can
     * take it as its reference; NaN propagates), {@code μ = mNew} or 0 where {@code mNew = −∞};
     * writes {@code P = 2^((S − μ)/L)} over S, {@code alpha[al + c] = 2^((m − μ)/L)} (exactly 1
     * where an integer m did not move, 0 where m was −∞), {@code l = l·alpha + Σ_j P} (rows summed
     * in order) and {@code m = mNew}.
     */
    abstract void softmaxColumns(float[] s, int off, int ldc, int rows, int cols, float[] m, float[] l, int st,
                                 float[] alpha, int al);

    /** {@code x[off, off+n) = e^x} with the kernels' exp, {@code n} a multiple of {@link #lanes()}. */
    abstract void exp(float[] x, int off, int n);

    /**
     * {@code x[off, off+n) = 2^(x/L)}, the forward's exp on units ({@link #unitsPerNat}), {@code n}
     * a multiple of {@link #lanes()}: 0 below −87.3 natural units (−∞ included), +∞ above 88.3,
     * {@code 2^0 = 1} exactly, NaN stays NaN.
     */
    abstract void expUnits(float[] x, int off, int n);

    /** {@code x[off, off+n) *= f}, {@code n} a multiple of {@link #lanes()}. */
    abstract void scale(float[] x, int off, int n, float f);

    /**
     * The backward's element step on one row of a transposed score tile: with
     * {@code p = exp(s·scale − lse[r])} and {@code ds = p·(dp − delta[r])·scale}, writes p into
     * {@code s} and ds into {@code dp}, at {@code s[off + i]} with {@code r = col + i} for
     * {@code i ∈ [0, n)} ({@code n} a multiple of lanes).
     */
    abstract void backwardRow(float[] s, float[] dp, int off, int n, float scale, float[] lse, float[] delta, int col);

    /**
     * Reads {@code d} elements at byte offset {@code byteOff} of {@code seg} (fp32, or bf16 when
     * {@code bf16}) in byte order {@code order}, multiplies by {@code scale} and writes them to
     * {@code dst[dstOff, dstOff+d)}.
     */
    abstract void loadRow(MemorySegment seg, long byteOff, ByteOrder order, boolean bf16, int d, float scale,
                          float[] dst, int dstOff);

    /** Writes {@code src[srcOff, srcOff+d)} as fp32 in byte order {@code order} at byte offset {@code byteOff}. */
    abstract void storeRow(float[] src, int srcOff, MemorySegment seg, long byteOff, ByteOrder order, int d);

    /** {@code dst[i] += src[i]} for fp32 elements {@code [from, to)} (native order). */
    abstract void addInto(MemorySegment dst, MemorySegment src, long from, long to);

    /**
     * {@code x[i] = e^(x[i] − shift)} for {@code i ∈ [0, n)} with {@link #exp}'s function (any
     * {@code n}: the last partial vector is masked), and returns their sum, accumulated lane by lane
     * and then over the lanes in order: the same bits in every JIT tier.
     */
    abstract float expSum(float[] x, int n, float shift);

    /**
     * Degree of the exp's polynomial for {@code 2^(f/L)}, {@code |f| ≤ ½}, with a table of
     * {@code lanes} entries: its truncation error stays ≤ 1e−8 relative.
     */
    static int expDegree(int lanes) {
        return lanes >= 16 ? 3 : lanes == 8 ? 4 : 5;
    }

    /**
     * {@code 1.5·2^23}: {@code (x + it) − it} rounds x to an integer (for {@code |x| < 2^22}), and
     * {@code x + it} holds that integer in its low mantissa bits.
     */
    static final float ROUNDING_MAGIC = 12582912.0f;

    /**
     * The exp's constants for {@code lanes}-entry tables: {@code lanes·log2 e} (exact: a power of two
     * times the float log2 e), {@code 1.5·2^23} (adding it rounds to an integer, which then sits in
     * the low mantissa bits), the Taylor coefficients {@code (ln 2 / lanes)^i / i!} for i = 5 … 0
     * (0 above {@link #expDegree}). The kernels read them from this array so that C2 keeps them in
     * registers across a loop instead of reloading each at every use (it rematerializes true
     * constants).
     */
    static float[] expConstants(int lanes) {
        float[] k = new float[8];
        k[0] = 1.44269504088896341f * lanes;
        k[1] = ROUNDING_MAGIC;
        double c = 1;
        double step = 0.6931471805599453 / lanes; // ln 2 / lanes
        for (int i = 0; i <= 5; i++) {
            k[7 - i] = i <= expDegree(lanes) ? (float) c : 0f;
            c = c * step / (i + 1);
        }
        return k;
    }

    /**
     * The exp's table for {@code lanes = 2^b} lanes: {@code bits(2^(j/lanes)) − j·2^(23 − b)},
     * j = 0 … lanes−1. Adding {@code k·2^(23 − b)} to entry {@code k mod lanes} gives
     * {@code bits(2^(j/lanes)) + ⌊k/lanes⌋·2^23}: the entry with its exponent raised by
     * {@code ⌊k/lanes⌋}.
     */
    static int[] expTable(int lanes) {
        int b = Integer.numberOfTrailingZeros(lanes);
        int[] t = new int[lanes];
        for (int j = 0; j < lanes; j++) {
            t[j] = Float.floatToRawIntBits((float) StrictMath.pow(2.0, (double) j / lanes)) - (j << (23 - b));
        }
        return t;
    }

    /** Bits of {@code FloatVector.SPECIES_PREFERRED} on this machine (at least 128). */
    static int preferredBits() {
        return Math.max(128, FloatVector.SPECIES_PREFERRED.vectorBitSize());
    }

    /**
     * The implementation for {@code bits} (128, 256 or 512) and {@code registers} (16 or 32) vector
     * registers; 512 bits implies 32.
     */
    static SimdOps forShape(int bits, int registers) {
        if (registers != 16 && registers != 32) {
            throw new IllegalArgumentException("simdRegisters: expected 16 or 32, got " + registers);
        }
        return switch (bits) {
            case 512 -> {
                if (registers != 32) {
                    throw new IllegalArgumentException("simdRegisters: 512-bit vectors come with 32 registers, got " + registers);
                }
                yield new Ops512R32();
            }
            case 256 -> registers == 32 ? new Ops256R32() : new Ops256R16();
            case 128 -> registers == 32 ? new Ops128R32() : new Ops128R16();
            default -> throw new IllegalArgumentException("simdBits: expected 128, 256 or 512, got " + bits);
        };
    }
}
