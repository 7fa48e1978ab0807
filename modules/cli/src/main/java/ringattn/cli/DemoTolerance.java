package ringattn.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import ringattn.engine.tensor.DType;

/**
 * The demo's verdict on its own result: it fails when the largest error of O ({@code max_abs_err})
 * or of LSE against the fp64 reference exceeds the tolerance, or is NaN. {@code demo} and {@code
 * worker demo} print their table or JSON first, then one {@code error:} line from
 * {@link #failure(DemoSummary)}, and exit {@link ExitCode#FAILURE}. Immutable.
 *
 * @param bound     the largest absolute error allowed, on O and on LSE
 * @param defaulted true when {@code bound} is the storage type's default (not {@code --tolerance})
 * @param dtype     the storage type the default was chosen for
 */
record DemoTolerance(double bound, boolean defaulted, DType dtype) {
    /**
     * Default for F32 storage. The demo's inputs lie in [−1, 1), so |O| &lt; 1 (a convex combination of
     * V rows) and |LSE| is about log S; measured errors are about 1e-7 on O and 7e-7 on LSE for every
     * configuration of the tests and README (S from 128 to 16384, D from 16 to 128, windows, GQA).
     * 1e-4 leaves two to three orders of magnitude for longer sequences and another summation order
     * (a GPU's), and still fails on a GEMM in TF32 (about 1e-3) or a mask or merge defect (about 0.1).
     */
    static final double F32 = 1e-4;
    /**
     * Default for BF16 storage: O is rounded to BF16 once, on store; with |O| &lt; 1 that alone is up to
     * half an ulp below 1, 2^-9 ≈ 1.95e-3 (measured 1.95e-3), to which the fp32 error (about 1e-7)
     * adds. 4e-3 is one BF16 ulp below 1: twice the rounding bound. LSE stays fp32 (about 7e-7).
     */
    static final double BF16 = 4e-3;

    /** The option, shared by {@code demo} and {@code worker demo}. */
    static Option option() {
        return Option.value("tolerance", "X", "fail (exit 1, after printing the result) when max_abs_err or max |dLSE| "
                + "exceeds X or is NaN (default 1e-4 for f32, 4e-3 for bf16: a few hundred times the measured fp32 error, "
                + "twice BF16's rounding of O)");
    }

    /** The default for {@code dtype}. */
    static double defaultFor(DType dtype) {
        return dtype == DType.BF16 ? BF16 : F32;
    }

    /** {@code --tolerance} (finite, at least 0), else the default for {@code dtype}. */
    static DemoTolerance from(Options o, DType dtype) {
        if (!o.has("tolerance")) {
            return new DemoTolerance(defaultFor(dtype), true, dtype);
        }
        double t = o.doubleValue("tolerance", 0);
        if (t < 0) {
            throw new UsageException("--tolerance", "must be >= 0, got " + o.string("tolerance", ""));
        }
        return new DemoTolerance(t, false, dtype);
    }

    /**
     * The message of the {@code error:} line when {@code summary} is outside the tolerance (naming each
     * error that is, and the tolerance), else null.
     */
    String failure(DemoSummary summary) {
        List<String> bad = new ArrayList<>();
        describe("max_abs_err", summary.maxAbsErr(), bad);
        describe("max |dLSE|", summary.maxAbsErrLse(), bad);
        if (bad.isEmpty()) {
            return null;
        }
        return String.format(Locale.ROOT, "demo: result outside the tolerance %.2e (%s): %s", bound,
                defaulted ? "the " + dtype.name().toLowerCase(Locale.ROOT) + " default; --tolerance to change"
                        : "--tolerance", String.join(", ", bad));
    }

    private void describe(String what, double err, List<String> bad) {
        if (Double.isNaN(err) || err > bound) {
            bad.add(String.format(Locale.ROOT, "%s %.2e", what, err));
        }
    }
}
