package ringattn.engine.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import ringattn.engine.kernel.KernelOptions;

/** Without an accelerator module on the path (the engine's own tests), auto falls back and cuda fails cleanly. */
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
}
