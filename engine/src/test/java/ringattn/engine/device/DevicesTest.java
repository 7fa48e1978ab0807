package ringattn.engine.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import ringattn.engine.kernel.KernelOptions;

/**
 * The JVM's providers as the engine's own tests see them (the Vector API present, no accelerator
 * module): the CPU kernels are providers, auto falls back to the CPU, cuda fails cleanly.
 */
class DevicesTest {
    @Test
    void cpuIsAlwaysThere() {
        Devices.Selection s = Devices.select("cpu", KernelOptions.defaults(1));
        try (var k = s.kernel()) {
            assertEquals("cpu", s.device());
            assertEquals(1, k.threads());
        }
    }

    @Test
    void autoFallsBackToCpuWithAReason() {
        Devices.Selection s = Devices.select("auto", KernelOptions.defaults(1));
        try (var k = s.kernel()) {
            assertEquals("cpu", s.device());
            assertTrue(k.name().startsWith("panama") || k.name().equals("scalar"), k.name());
            assertTrue(s.reason().startsWith("auto: no accelerator usable"), s.reason());
        }
    }

    @Test
    void explicitCudaWithoutSupportSaysWhatIsMissing() {
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> Devices.select("cuda", KernelOptions.defaults(1)));
        assertTrue(e.getMessage().startsWith("device cuda: "), e.getMessage());
    }

    @Test
    void blankDeviceIsRefused() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Devices.select(" ", KernelOptions.defaults(1)))
                .getMessage().startsWith("device:"));
    }

    @Test
    void theCpuKernelsAreProvidersVectorApiFirst() {
        assertEquals(List.of("simd", "scalar"), Devices.providers().stream().map(KernelProvider::name).toList());
        assertEquals(List.of(), Devices.accelerators());
        assertTrue(Devices.probe("simd").available(), Devices.probe("simd").reason());
        Devices.Selection s = Devices.select("cpu", KernelOptions.defaults(1));
        try (var k = s.kernel()) {
            assertEquals("simd", s.provider());
            assertTrue(k.name().startsWith("panama-"), k.name());
            assertTrue(s.reason().equals("requested; " + Devices.probe("simd").reason()), s.reason());
        }
    }

    @Test
    void scalarCanBeForced() {
        Devices.Selection s = Devices.select("cpu", KernelOptions.defaults(1).withImpl("scalar"));
        try (var k = s.kernel()) {
            assertEquals("scalar", s.provider());
            assertEquals("scalar", k.name());
        }
    }

    @Test
    void unknownCpuKernelNamesTheOptionAndTheProviders() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Devices.select("cpu", KernelOptions.defaults(1).withImpl("avx512")));
        assertEquals("impl: expected auto, simd or scalar, got 'avx512'", e.getMessage());
    }
}
