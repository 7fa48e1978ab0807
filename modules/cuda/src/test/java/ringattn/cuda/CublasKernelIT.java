package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.cuda.check.GpuChecks;
import ringattn.engine.device.Availability;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.KernelOptions;

/**
 * The GPU kernel against the fp64 reference (tolerance {@link GpuChecks#TOLERANCE}): masks by
 * global position, GQA, BF16, mixed dtypes, with the default chunking and with small chunks. Needs
 * a CUDA device; skipped with the probe's reason otherwise. Run by {@code mvn verify} (the module's
 * {@code gpu-it} Surefire execution), {@code mvn -pl modules/cuda test -Dtest='*IT'} or
 * modules/cuda/gpu-check.sh.
 */
class CublasKernelIT {
    private static CublasKernel kernel;
    private static CublasKernel small;

    @BeforeAll
    static void open() {
        Availability a = Devices.probe("cuda");
        if (!a.available()) {
            // Surefire keeps an assumption's message in its XML report only: say it where it is seen.
            System.out.println("CublasKernelIT skipped: no usable CUDA device: " + a.reason());
        }
        assumeTrue(a.available(), "no usable CUDA device: " + a.reason());
        int device = CudaKernelProvider.chooseDevice(ringattn.cuda.ffm.Cudart.deviceCountRaw()[1]);
        kernel = new CublasKernel(KernelOptions.defaults(1), device);
        small = new CublasKernel(KernelOptions.defaults(1).withTiles(64, 32), device, 48, 1 << 20);
    }

    @AfterAll
    static void close() {
        if (kernel != null) {
            kernel.close();
        }
        if (small != null) {
            small.close();
        }
    }

    static Stream<GpuChecks.Case> cases() {
        return GpuChecks.cases().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesReference(GpuChecks.Case c) {
        EmulatedKernelTest.assertPassed(GpuChecks.run(kernel, c));
    }

    @ParameterizedTest(name = "{0}, small chunks")
    @MethodSource("cases")
    void matchesReferenceInSmallChunks(GpuChecks.Case c) {
        EmulatedKernelTest.assertPassed(GpuChecks.run(small, c));
    }

    @Test
    void selectCudaGivesThisKernel() {
        Devices.Selection s = Devices.select("cuda", KernelOptions.defaults(1));
        try (var k = s.kernel()) {
            assertEquals("cuda", s.device());
            assertTrue(k instanceof CublasKernel, k.name());
        }
    }

    static Stream<GpuChecks.BackwardCase> backwardCases() {
        return GpuChecks.backwardCases().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backwardCases")
    void backwardMatchesReference(GpuChecks.BackwardCase c) {
        EmulatedKernelTest.assertPassed(GpuChecks.runBackward(kernel, c));
    }

    @ParameterizedTest(name = "{0}, small chunks")
    @MethodSource("backwardCases")
    void backwardMatchesReferenceInSmallChunks(GpuChecks.BackwardCase c) {
        EmulatedKernelTest.assertPassed(GpuChecks.runBackward(small, c));
    }
}
