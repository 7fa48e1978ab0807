package ringattn.engine.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import ringattn.engine.device.Devices;
import ringattn.engine.tensor.DType;

/**
 * The public {@link Gemm} port ({@link Devices#gemm}) as another module uses it: a weight
 * {@code [out, in]} in a memory segment (fp32 or bf16) packed panel by panel, {@code y = x · wᵀ}
 * against a plain fp64 product (tolerance {@code 4·(k+1)·2^−24·Σ|x w|}, fp32 FMA chains of k
 * terms), for every width × register file; and bad arguments named in one line.
 */
class GemmPortTest {
    @ParameterizedTest(name = "{0}-bit {1} registers, bf16 {2}")
    @CsvSource({"512,32,false", "256,32,false", "256,16,false", "256,16,true", "128,32,true", "128,16,false"})
    void packedWeightsTimesActivationsMatchFp64(int bits, int registers, boolean bf16) {
        Gemm gemm = Devices.gemm(bits, registers);
        assertEquals("panama-" + bits + "r" + registers, gemm.name());
        int w = gemm.panelWidth();
        assertEquals(4 * bits / 32, w);
        int n = 13;
        int k = 37;
        int out = w + 5; // two panels, the second partial
        Random r = new Random(bits + registers);
        ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfShort s16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        try (Arena arena = Arena.ofConfined()) {
            int esize = bf16 ? 2 : 4;
            MemorySegment weight = arena.allocate((long) out * k * esize + 3).asSlice(3); // unaligned on purpose
            double[][] wv = new double[out][k];
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < k; i++) {
                    float v = (float) r.nextGaussian();
                    if (bf16) {
                        short b = DType.floatToBf16(v);
                        weight.setAtIndex(s16, (long) o * k + i, b);
                        wv[o][i] = DType.bf16ToFloat(b);
                    } else {
                        weight.setAtIndex(f32, (long) o * k + i, v);
                        wv[o][i] = v;
                    }
                }
            }
            float[] x = new float[n * k];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            int panels = 2;
            float[] b = new float[panels * k * w];
            float[] scratch = new float[w * k];
            for (int p = 0; p < panels; p++) {
                int rows = Math.min(w, out - p * w);
                gemm.packPanel(weight, (long) p * w * k * esize, (long) k * esize, bf16, rows, k, scratch, b, p * k * w);
            }
            float[] c = new float[n * panels * w];
            gemm.multiply(false, x, 0, k, n, k, b, 0, k * w, c, 0, panels * w, panels * w);
            for (int t = 0; t < n; t++) {
                for (int o = 0; o < panels * w; o++) {
                    double want = 0;
                    double mag = 0;
                    for (int i = 0; i < k; i++) {
                        double term = o < out ? x[t * k + i] * wv[o][i] : 0;
                        want += term;
                        mag += Math.abs(term);
                    }
                    double tol = 4.0 * (k + 1) * 0x1p-24 * mag;
                    float got = c[t * panels * w + o];
                    assertTrue(Math.abs(got - want) <= tol, "y[" + t + "][" + o + "] = " + got + ", fp64 " + want);
                }
            }
        }
    }

    @org.junit.jupiter.api.Test
    void badArgumentsAreNamed() {
        expect("bits", () -> Devices.gemm(64, 0));
        expect("registers", () -> Devices.gemm(256, 8));
        Gemm gemm = Devices.gemm(256, 16);
        int w = gemm.panelWidth();
        float[] panel = new float[w * 4];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(4L * w * 4);
            expect("rows", () -> gemm.packPanel(src, 0, 16, false, w + 1, 4, new float[w * 4], panel, 0));
            expect("rowScratch", () -> gemm.packPanel(src, 0, 16, false, w, 4, new float[3], panel, 0));
            expect("src", () -> gemm.packPanel(src, 8, 16, false, w, 4, new float[w * 4], panel, 0));
        }
        expect("n", () -> gemm.multiply(false, new float[16], 0, 4, 4, 4, panel, 0, 4 * w, new float[64], 0, 8, 8));
        expect("a", () -> gemm.multiply(false, new float[15], 0, 4, 4, 4, panel, 0, 4 * w, new float[4 * w], 0, w, w));
        expect("c", () -> gemm.multiply(false, new float[16], 0, 4, 4, 4, panel, 0, 4 * w, new float[w], 0, w, w));
    }

    private static void expect(String argument, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().startsWith(argument), "message should name '" + argument + "': " + e.getMessage());
    }
}
