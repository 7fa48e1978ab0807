package ringattn.engine.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Element-wise fp32 arithmetic on memory segments and arrays, for code outside the kernels (the ring
 * adds its dK/dV accumulators with it; the model's decode attention takes its softmax exp from it).
 * Runs Vector API code when module {@code jdk.incubator.vector} is
 * usable (the {@code simd} kernel provider's probe: {@link ringattn.engine.device.Devices#probe}) and
 * its class loads, else a scalar loop; the choice is made once per JVM, and no Vector API type
 * appears outside the {@code simd} package.
 * {@link #addInto} gives the same bits either way (each element is one IEEE add); {@link #expSum}
 * gives the same bits in every JIT tier of one implementation. Stateless and thread-safe.
 */
public final class ElementwiseF32 {
    private static final String SIMD_CLASS = "ringattn.engine.kernel.simd.PanamaElementwiseF32";
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
    /** {@code addInto(dst, src, from, to)} of the Vector API class, or null for the scalar loop. */
    private static final MethodHandle SIMD_ADD;
    /** {@code expSum(x, n, shift)} of the Vector API class, or null for the scalar loop. */
    private static final MethodHandle SIMD_EXP_SUM;
    private static final String IMPLEMENTATION;

    static {
        MethodHandle add = null;
        MethodHandle expSum = null;
        String implementation;
        ringattn.engine.device.Availability simd = ringattn.engine.device.Devices.probe("simd");
        if (!simd.available()) {
            implementation = "scalar (" + simd.reason() + ")";
        } else {
            try {
                Class<?> c = Class.forName(SIMD_CLASS);
                MethodHandles.Lookup lookup = MethodHandles.lookup();
                add = lookup.findStatic(c, "addInto", MethodType.methodType(void.class,
                        MemorySegment.class, MemorySegment.class, long.class, long.class));
                expSum = lookup.findStatic(c, "expSum", MethodType.methodType(float.class,
                        float[].class, int.class, float.class));
                implementation = "Vector API, " + lookup.findStatic(c, "description",
                        MethodType.methodType(String.class)).invoke();
            } catch (Throwable e) {
                add = null;
                expSum = null;
                implementation = "scalar (Vector API class failed to load: " + e + ")";
            }
        }
        SIMD_ADD = add;
        SIMD_EXP_SUM = expSum;
        IMPLEMENTATION = implementation;
    }

    private ElementwiseF32() {
    }

    /** Which code runs: {@code "Vector API, <bits>-bit vectors"} or {@code "scalar (<reason>)"}. */
    public static String implementation() {
        return IMPLEMENTATION;
    }

    /**
     * {@code dst[i] += src[i]} for every fp32 element of {@code src} (native byte order, 4-byte
     * aligned, as any fp32 tensor or transport buffer). The segments must have the same byte size,
     * a multiple of 4.
     *
     * @throws IllegalArgumentException naming the argument, for mismatched or odd sizes
     */
    public static void addInto(MemorySegment dst, MemorySegment src) {
        if (dst.byteSize() != src.byteSize()) {
            throw new IllegalArgumentException("dst: " + dst.byteSize() + " bytes, src has " + src.byteSize());
        }
        if (src.byteSize() % 4 != 0) {
            throw new IllegalArgumentException("src: " + src.byteSize() + " bytes, not a whole number of fp32 elements");
        }
        long n = src.byteSize() / 4;
        if (SIMD_ADD == null) {
            for (long i = 0; i < n; i++) {
                dst.setAtIndex(F32, i, dst.getAtIndex(F32, i) + src.getAtIndex(F32, i));
            }
            return;
        }
        try {
            SIMD_ADD.invokeExact(dst, src, 0L, n);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("addInto: " + e, e);
        }
    }

    /**
     * {@code x[i] = e^(x[i] − shift)} for {@code i ∈ [0, n)} in place, and returns their fp32 sum: a
     * softmax's numerators and denominator. With the Vector API, the block kernels' exp (exactly
     * rounded operations only, ≤ 5 ulp from {@code Math.exp} on [−16, 0]); else
     * {@code StrictMath.exp} rounded to fp32. Either way the result is a function of the inputs alone,
     * the same bits before and after JIT compilation (not so for {@code VectorOperators.EXP}, whose
     * compiled and interpreted forms differ in the last bit). −∞ gives 0, NaN stays NaN.
     *
     * @throws IllegalArgumentException naming the argument, when {@code n} is negative or exceeds {@code x.length}
     */
    public static float expSum(float[] x, int n, float shift) {
        if (n < 0 || n > x.length) {
            throw new IllegalArgumentException("n: must be in [0, " + x.length + "] (the length of x), got " + n);
        }
        if (SIMD_EXP_SUM == null) {
            float sum = 0f;
            for (int i = 0; i < n; i++) {
                x[i] = (float) StrictMath.exp(x[i] - shift);
                sum += x[i];
            }
            return sum;
        }
        try {
            return (float) SIMD_EXP_SUM.invokeExact(x, n, shift);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("expSum: " + e, e);
        }
    }
}
