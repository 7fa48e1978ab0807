package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.lang.foreign.FunctionDescriptor;
import org.junit.jupiter.api.Test;
import ringattn.cuda.ffm.Cublas;
import ringattn.cuda.ffm.CudaDriver;
import ringattn.cuda.ffm.CudaException;
import ringattn.cuda.ffm.CudaLibraries;
import ringattn.cuda.ffm.Cudart;
import ringattn.cuda.ffm.NativeLibrary;

/**
 * The hand-written bindings against the real libraries wherever they load here: libcudart (the
 * toolkit), libcublas (from $RINGATTN_CUBLAS_DIR or modules/cuda/native/, skipped otherwise), the
 * driver (never here: its names are checked against cuda.h instead).
 */
class BindingsTest {
    private static void assertAllPresent(NativeLibrary lib, Map<String, FunctionDescriptor> symbols) {
        SymbolLookup lookup = lib.require();
        TreeSet<String> missing = new TreeSet<>();
        for (String name : symbols.keySet()) {
            if (lookup.find(name).isEmpty()) {
                missing.add(name);
            }
        }
        assertTrue(missing.isEmpty(), lib.name() + " (" + lib.loadedAs() + ") lacks " + missing);
    }

    @Test
    void cudartSymbolsExistAndCallsWork() {
        NativeLibrary cudart = CudaLibraries.cudart();
        assumeTrue(cudart.found(), cudart.describe());
        assertAllPresent(cudart, Cudart.Symbols.ALL);
        assertTrue(Cudart.runtimeVersion() >= 12000, "runtime " + Cudart.runtimeVersion());
        int[] count = Cudart.deviceCountRaw();
        assertTrue(count[0] == 0 || count[0] == Cudart.ERROR_INSUFFICIENT_DRIVER || count[0] == Cudart.ERROR_NO_DEVICE,
                "cudaGetDeviceCount status " + count[0]);
        assertEquals("cudaErrorInsufficientDriver", Cudart.errorName(Cudart.ERROR_INSUFFICIENT_DRIVER));
    }

    @Test
    void cudartStatusBecomesExceptionWithTheLibrarysMessage() {
        assumeTrue(CudaLibraries.cudart().found(), CudaLibraries.cudart().describe());
        CudaException e = assertThrows(CudaException.class, () -> Cudart.check(35, "cudaGetDeviceCount"));
        assertEquals(35, e.status());
        assertTrue(e.getMessage().startsWith("cudaGetDeviceCount returned 35 (cudaErrorInsufficientDriver: "),
                e.getMessage());
        assertFalse(e.getMessage().endsWith(": ?)"), e.getMessage());
    }

    @Test
    void cudartCallsWithoutDriverFailWithTheRuntimesMessage() {
        assumeTrue(CudaLibraries.cudart().found(), CudaLibraries.cudart().describe());
        assumeFalse(Cudart.deviceCountRaw()[0] == 0, "a driver is present");
        CudaException e = assertThrows(CudaException.class, () -> Cudart.malloc(1024));
        assertTrue(e.getMessage().contains("cudaMalloc(1024 bytes) returned 35 (cudaErrorInsufficientDriver"),
                e.getMessage());
    }

    @Test
    void cublasSymbolsExistAndVersionReads() {
        NativeLibrary cublas = CudaLibraries.cublas();
        assumeTrue(cublas.found(), "no libcublas here (unpack it into modules/cuda/native/ or set RINGATTN_CUBLAS_DIR): "
                + cublas.describe());
        assertTrue(CudaLibraries.cublasLt().found(), CudaLibraries.cublasLt().describe());
        assertAllPresent(cublas, Cublas.Symbols.ALL);
        assertTrue(Cublas.version().matches("\\d+\\.\\d+\\.\\d+"), Cublas.version());
        assertEquals("CUBLAS_STATUS_NOT_INITIALIZED", Cublas.statusName(1));
    }

    @Test
    void cublasCreateWithoutDriverFailsWithTheLibrarysMessage() {
        assumeTrue(CudaLibraries.cublas().found(), CudaLibraries.cublas().describe());
        assumeFalse(Cudart.deviceCountRaw()[0] == 0, "a driver is present");
        CudaException e = assertThrows(CudaException.class, Cublas::create);
        assertTrue(e.getMessage().startsWith("cublasCreate_v2 returned 1 (CUBLAS_STATUS_NOT_INITIALIZED: "),
                e.getMessage());
    }

    /** The math-mode binding reaches the library: a null handle is refused with cuBLAS's own status. */
    @Test
    void cublasSetMathModeIsBoundAndReachesTheLibrary() {
        assumeTrue(CudaLibraries.cublas().found(), CudaLibraries.cublas().describe());
        CudaException e = assertThrows(CudaException.class, () -> Cublas.setMathMode(0L, Cublas.DEFAULT_MATH));
        assertTrue(e.getMessage().startsWith("cublasSetMathMode(0) returned "), e.getMessage());
        assertThrows(CudaException.class, () -> Cublas.mathMode(0L));
    }

    @Test
    void driverSymbolsAgainstTheLibraryOrTheHeader() throws IOException {
        NativeLibrary driver = CudaLibraries.driver();
        if (driver.found()) {
            assertAllPresent(driver, CudaDriver.Symbols.ALL);
            return;
        }
        Path header = CudaLibraries.toolkitRoots().stream().map(r -> r.resolve("include/cuda.h"))
                .filter(Files::exists).findFirst().orElse(null);
        assumeTrue(header != null, "neither libcuda nor cuda.h here: " + driver.describe());
        String text = Files.readString(header);
        TreeSet<String> bad = new TreeSet<>();
        for (String name : CudaDriver.Symbols.ALL.keySet()) {
            boolean declared = text.contains("CUresult CUDAAPI " + name + "(");
            // a #define that renames the C name to a versioned symbol (cuCtxCreate -> cuCtxCreate_v4);
            // the per-thread-stream (_ptsz) macros apply only with CUDA_API_PER_THREAD_DEFAULT_STREAM
            boolean renamed = text.matches("(?s).*#define\\s+" + name + "\\s+" + name + "_v\\d.*");
            if (!declared || renamed) {
                bad.add(name + (declared ? " (renamed by #define)" : " (not declared)"));
            }
        }
        assertTrue(bad.isEmpty(), header + ": " + bad);
    }

    @Test
    void missingLibraryRecordsEveryAttemptWithTheLoadersReason(@org.junit.jupiter.api.io.TempDir Path dir)
            throws IOException {
        Files.writeString(dir.resolve("libnotreal.so.1"), "not an ELF file");
        NativeLibrary lib = NativeLibrary.find("libnotreal", List.of("libnotreal.so.1"), List.of(dir),
                List.of(dir.resolve("absent")));
        assertFalse(lib.found());
        String text = lib.describe();
        assertTrue(text.startsWith("libnotreal: not found (tried "), text);
        assertTrue(text.contains(dir.resolve("libnotreal.so.1") + " ("), text); // dlerror's reason, e.g. invalid ELF header
        assertTrue(text.contains("libnotreal.so.1 (libnotreal.so.1: cannot open shared object file"), text);
        assertTrue(text.contains(dir.resolve("absent") + "/ (no such folder)"), text);
        assertThrows(IllegalStateException.class, lib::require);
    }
}
