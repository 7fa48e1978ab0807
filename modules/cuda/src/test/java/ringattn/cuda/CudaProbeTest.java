package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;
import ringattn.cuda.ffm.CudaLibraries;
import ringattn.engine.device.Availability;
import ringattn.engine.device.DeviceUnavailableException;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;

/** The probe and device selection on a machine without a usable GPU (skipped where there is one). */
class CudaProbeTest {
    private static Availability probe() {
        return Devices.probe("cuda");
    }

    @Test
    void providerIsFoundThroughServiceLoader() {
        assertTrue(Devices.providers().stream().anyMatch(p -> p instanceof CudaKernelProvider),
                "providers: " + Devices.providers());
    }

    @Test
    void probeNamesTheRuntimeErrorAndTheMissingDriver() {
        Availability a = probe();
        assumeFalse(a.available(), "a CUDA device is usable here: " + a.reason());
        assumeTrue(CudaLibraries.cudart().found(), "no libcudart here: " + CudaLibraries.cudart().describe());
        System.out.println("cuda probe: " + a.reason());
        assertTrue(a.reason().contains("cudaGetDeviceCount returned 35 (cudaErrorInsufficientDriver: "),
                a.reason());
        assertTrue(a.reason().contains("libcuda (driver): not found (tried libcuda.so.1 ("), a.reason());
        assertTrue(a.reason().contains("libcudart: " + CudaLibraries.cudart().loadedAs() + " (runtime "), a.reason());
        if (CudaLibraries.cublas().found()) {
            assertTrue(a.reason().contains("libcublas: " + CudaLibraries.cublas().loadedAs()), a.reason());
        } else {
            assertTrue(a.reason().contains("libcublas: not found (tried "), a.reason());
        }
    }

    @Test
    void probeIsCachedAndStable() {
        assertEquals(probe(), probe());
        assertEquals(new CudaKernelProvider().probe().reason(), probe().reason());
    }

    @Test
    void autoFallsBackToCpuWithTheReason() {
        Availability a = probe();
        assumeFalse(a.available(), "a CUDA device is usable here: " + a.reason());
        Devices.Selection s = Devices.select("auto", KernelOptions.defaults(1));
        try (BlockKernel k = s.kernel()) {
            assertEquals("cpu", s.device());
            assertFalse(k instanceof CublasKernel);
            // the selection carries the probe's first clause (Devices logs a brief form), not all of it
            String head = a.reason().substring(0, Math.min(40, a.reason().length()));
            assertTrue(s.reason().contains("cuda: " + head), s.reason());
        }
    }

    @Test
    void explicitCudaThrowsNamingWhatIsMissing() {
        Availability a = probe();
        assumeFalse(a.available(), "a CUDA device is usable here: " + a.reason());
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> Devices.select("cuda", KernelOptions.defaults(1)));
        assertTrue(e.getMessage().startsWith("device cuda: "), e.getMessage());
        assertTrue(e.getMessage().contains(a.reason()), e.getMessage());
        if (CudaLibraries.cudart().found()) {
            assertTrue(e.getMessage().contains("libcuda"), e.getMessage());
        }
    }

    @Test
    void deviceOrdinalFromProperty() {
        String old = System.getProperty("ringattn.cuda.device");
        try {
            System.setProperty("ringattn.cuda.device", "1");
            assertEquals(1, CudaKernelProvider.chooseDevice(2));
            assertThrows(IllegalArgumentException.class, () -> CudaKernelProvider.chooseDevice(1));
        } finally {
            if (old == null) {
                System.clearProperty("ringattn.cuda.device");
            } else {
                System.setProperty("ringattn.cuda.device", old);
            }
        }
    }
}
