package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.cuda.check.GpuChecks;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * CublasKernel's host logic without a GPU: the same cases as the GPU check, run on
 * {@link EmulatedDevice} (cuBLAS's GEMM definition, the PTX kernels ported to Java, every access
 * bounds-checked), against the fp64 reference. This checks layouts, strides, chunking, masks, dtype
 * paths and the state kept on the device; it cannot check the CUDA code itself (see CublasKernelIT).
 */
class EmulatedKernelTest {
    /**
     * Runs {@code check} on a new kernel ({@code options}, query chunks of at most
     * {@code maxQueryChunk} rows, {@code scoreBytes} of scores) over a fresh emulated device; asserts
     * that it passed and that every device allocation was freed.
     */
    static void passes(KernelOptions options, int maxQueryChunk, long scoreBytes,
                       Function<CublasKernel, GpuChecks.Outcome> check) {
        EmulatedDevice dev = new EmulatedDevice();
        try (CublasKernel kernel = new CublasKernel(options, dev, 0, maxQueryChunk, scoreBytes)) {
            assertPassed(check.apply(kernel));
        }
        assertEquals(java.util.Map.of(), dev.live(), "leaked allocations");
    }

    /** Prints a check's outcome (the numbers are worth seeing in the report) and asserts that it passed. */
    static void assertPassed(GpuChecks.Outcome o) {
        System.out.println(o);
        assertTrue(o.passed(), o.toString());
    }

    static Stream<GpuChecks.Case> cases() {
        return GpuChecks.cases().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesReference(GpuChecks.Case c) {
        passes(KernelOptions.defaults(1), 1024, 256L << 20, kernel -> GpuChecks.run(kernel, c));
    }

    @ParameterizedTest(name = "{0}, small chunks")
    @MethodSource("cases")
    void matchesReferenceInSmallChunks(GpuChecks.Case c) {
        passes(KernelOptions.defaults(1).withTiles(64, 32), 48, 1 << 20, kernel -> GpuChecks.run(kernel, c));
    }

    @Test
    void oneKernelServesSeveralStatesAndDtypes() {
        EmulatedDevice dev = new EmulatedDevice();
        try (CublasKernel kernel = new CublasKernel(KernelOptions.defaults(1), dev, 0, 64, 1 << 20)) {
            for (GpuChecks.Case c : GpuChecks.cases()) {
                assertPassed(GpuChecks.run(kernel, c));
            }
        }
        assertEquals(java.util.Map.of(), dev.live(), "leaked allocations");
    }

    @Test
    void hiddenBlockDoesNotTouchTheDevice() {
        EmulatedDevice dev = new EmulatedDevice();
        try (CublasKernel kernel = new CublasKernel(KernelOptions.defaults(1), dev, 0, 1024, 1 << 20);
             Tensor q = GpuChecks.normal(1, 16, 2, 8, DType.F32);
             Tensor k = GpuChecks.normal(2, 16, 2, 8, DType.F32);
             Tensor out = Tensor.allocate(16, 2, 8, DType.F32);
             java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined();
             ForwardPass pass = kernel.beginForward(q, Positions.range(0, 16), AttentionSpec.of(8).withCausal(true))) {
            int work = dev.launches + dev.gemms; // begin put Q and the state on the device
            long bytes = dev.bytesToDevice + dev.bytesToHost;
            pass.update(k, k, Positions.range(16, 16));
            assertEquals(work, dev.launches + dev.gemms, "launches and GEMMs of a hidden block");
            assertEquals(bytes, dev.bytesToDevice + dev.bytesToHost, "bytes copied for a hidden block");
            java.lang.foreign.MemorySegment lse = arena.allocate(4L * 32);
            pass.finish(out, lse);
            assertEquals(Float.NEGATIVE_INFINITY, lse.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0));
        }
    }

    static Stream<GpuChecks.BackwardCase> backwardCases() {
        return GpuChecks.backwardCases().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backwardCases")
    void backwardMatchesReference(GpuChecks.BackwardCase c) {
        passes(KernelOptions.defaults(1), 1024, 256L << 20, kernel -> GpuChecks.runBackward(kernel, c));
    }

    @ParameterizedTest(name = "{0}, small chunks")
    @MethodSource("backwardCases")
    void backwardMatchesReferenceInSmallChunks(GpuChecks.BackwardCase c) {
        passes(KernelOptions.defaults(1).withTiles(64, 32), 48, 1 << 20, kernel -> GpuChecks.runBackward(kernel, c));
    }

    @Test
    void closedKernelRefuses() {
        CublasKernel kernel = new CublasKernel(KernelOptions.defaults(1), new EmulatedDevice(), 0, 1024, 1 << 20);
        kernel.close();
        kernel.close();
        assertThrows(IllegalStateException.class, () -> kernel.beginForward(null, null, null));
        assertThrows(IllegalStateException.class, () -> kernel.beginBackward(null, null, null, null, null, null));
        assertEquals(1, kernel.threads());
        assertTrue(kernel.name().contains("emulated"), kernel.name());
    }
}
