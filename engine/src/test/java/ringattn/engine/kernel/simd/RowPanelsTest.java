package ringattn.engine.kernel.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link SimdOps#toRowPanels} (register transposes of 16 × 16 blocks at 512 bits, gathers for the
 * columns past the last whole block and at the other widths) against a plain index loop. A copy:
 * exact equality.
 */
class RowPanelsTest {
    @ParameterizedTest
    @CsvSource({"512,64,16", "512,128,64", "512,64,33", "512,192,80", "512,64,7", "256,64,64", "256,96,33",
            "128,32,80", "128,48,5"})
    void matchesThePlainTransposition(int bits, int rows, int d) {
        SimdOps ops = SimdOps.forShape(bits, 32);
        int w = ops.panel();
        int rowsPadded = (rows + w - 1) / w * w;
        int ld = d + 3; // a row stride that is not the width
        int srcOff = 5;
        int dstOff = 7;
        float[] src = new float[srcOff + rowsPadded * ld];
        Random random = new Random(rows * 31L + d);
        for (int i = 0; i < src.length; i++) {
            src[i] = random.nextFloat();
        }
        float[] expected = new float[dstOff + rowsPadded * d];
        for (int r = 0; r < rowsPadded; r++) {
            for (int k = 0; k < d; k++) {
                expected[dstOff + (r / w) * d * w + k * w + r % w] = src[srcOff + r * ld + k];
            }
        }
        float[] actual = new float[expected.length];
        ops.toRowPanels(src, srcOff, ld, rowsPadded, d, new int[ops.lanes()], actual, dstOff);
        assertArrayEquals(expected, actual);
    }
}
