package ringattn.engine.kernel.simd;

import java.lang.foreign.MemorySegment;

/**
 * The Vector API side of {@link ringattn.engine.kernel.ElementwiseF32}: element-wise fp32 operations
 * with the vector primitives of {@link SimdOps} at this machine's preferred width. Loaded by name,
 * so that the kernel package needs no Vector API type. Stateless and thread-safe.
 */
public final class PanamaElementwiseF32 {
    private static final SimdOps OPS = SimdOps.forShape(SimdOps.preferredBits(),
            VectorShape.registersFor(SimdOps.preferredBits(), 0));

    private PanamaElementwiseF32() {
    }

    /** The vector width used, for the log and tests, e.g. {@code "512-bit vectors"}. */
    public static String description() {
        return OPS.bits() + "-bit vectors";
    }

    /** {@code dst[i] += src[i]} for fp32 elements {@code [from, to)} in native byte order. */
    public static void addInto(MemorySegment dst, MemorySegment src, long from, long to) {
        OPS.addInto(dst, src, from, to);
    }

    /** {@code x[i] = e^(x[i] − shift)} for {@code i < n}; returns their sum ({@link SimdOps#expSum}). */
    public static float expSum(float[] x, int n, float shift) {
        return OPS.expSum(x, n, shift);
    }
}
