package ringattn.engine.kernel.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * The register-file probe ({@link VectorShape}): what it finds on this JVM, and the forced values it
 * accepts. The engine's second test execution runs with {@code -XX:UseAVX=2} and
 * {@code ringattn.test.useAvx=2}: there the probe must find 16 registers on x86.
 */
class VectorShapeTest {
    private static boolean x86() {
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        return arch.equals("amd64") || arch.equals("x86_64");
    }

    @Test
    void probeMatchesTheCodeTheJitEmits() {
        VectorShape shape = VectorShape.machine();
        assertEquals(SimdOps.preferredBits(), shape.bits());
        assertTrue(shape.registers() == 16 || shape.registers() == 32, shape.describe());
        if (System.getProperty(VectorShape.REGISTERS_PROPERTY) != null) {
            return; // forced from outside: nothing more to check
        }
        if (x86() && "2".equals(System.getProperty("ringattn.test.useAvx"))) {
            assertEquals(256, shape.bits(), "UseAVX=2 gives a 256-bit preferred species: " + shape.describe());
            assertEquals(16, shape.registers(), shape.describe());
            assertTrue(shape.reason().contains("UseAVX=2"), shape.describe());
        }
        if (shape.bits() == 512) {
            assertEquals(32, shape.registers(), shape.describe());
        }
    }

    @Test
    void forcedRegistersAreCheckedAndFiveTwelveBitsKeepThirtyTwo() {
        assertEquals(16, VectorShape.registersFor(256, 16));
        assertEquals(32, VectorShape.registersFor(128, 32));
        assertEquals(32, VectorShape.registersFor(512, 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VectorShape.registersFor(256, 24));
        assertTrue(e.getMessage().startsWith("simdRegisters"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SimdOps.forShape(512, 16));
        assertTrue(e.getMessage().startsWith("simdRegisters"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SimdOps.forShape(64, 16));
        assertTrue(e.getMessage().startsWith("simdBits"), e.getMessage());
    }

    @Test
    void logLineNamesWidthRegistersAndBlocking() {
        String line = PanamaKernel.preferredSpecies();
        VectorShape shape = VectorShape.machine();
        assertTrue(line.startsWith(shape.bits() + "-bit vectors, " + shape.registers() + " registers"), line);
        assertTrue(line.endsWith(shape.registers() == 16 ? "6 × 2 register blocks" : "6 × 4 register blocks"), line);
    }
}
