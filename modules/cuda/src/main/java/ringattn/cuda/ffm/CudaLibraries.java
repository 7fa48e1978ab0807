package ringattn.cuda.ffm;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the CUDA runtime, cuBLAS (with cuBLASLt) and the driver, once per JVM, in this order:
 * libcudart before libcublas so that cuBLAS's own dependency errors are readable.
 *
 * <p>Where it looks: cuBLAS first in {@code $RINGATTN_CUBLAS_DIR} and the system property
 * {@code ringattn.cublas.dir} (for a pip-unpacked cuBLAS); every library then by soname (the
 * dynamic loader: {@code LD_LIBRARY_PATH}, the ld cache), then under {@code $CUDA_HOME} and
 * {@code /usr/local/cuda} ({@code lib64} and {@code targets/<arch>/lib}). The driver
 * ({@code libcuda.so.1}) comes with the NVIDIA driver, not the toolkit: by soname, then the usual
 * system folders; the toolkit's {@code stubs} folder is never used. Thread-safe.
 */
public final class CudaLibraries {
    private static volatile NativeLibrary cudart;
    private static volatile NativeLibrary cublasLt;
    private static volatile NativeLibrary cublas;
    private static volatile NativeLibrary driver;

    private CudaLibraries() {
    }

    /** The CUDA runtime (libcudart). */
    public static NativeLibrary cudart() {
        NativeLibrary lib = cudart;
        if (lib == null) {
            synchronized (CudaLibraries.class) {
                if (cudart == null) {
                    cudart = NativeLibrary.find("libcudart",
                            List.of("libcudart.so.13", "libcudart.so.12", "libcudart.so"),
                            List.of(), NativeLibrary.cudaFolders(toolkitRoots()));
                }
                lib = cudart;
            }
        }
        return lib;
    }

    /** cuBLAS (libcublas), loaded after the runtime and after cuBLASLt from the same places. */
    public static NativeLibrary cublas() {
        NativeLibrary lib = cublas;
        if (lib == null) {
            synchronized (CudaLibraries.class) {
                if (cublas == null) {
                    cudart();
                    List<Path> preferred = cublasOverrides();
                    List<Path> fallback = NativeLibrary.cudaFolders(toolkitRoots());
                    cublasLt = NativeLibrary.find("libcublasLt",
                            List.of("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"), preferred, fallback);
                    cublas = NativeLibrary.find("libcublas",
                            List.of("libcublas.so.13", "libcublas.so.12", "libcublas.so"), preferred, fallback);
                }
                lib = cublas;
            }
        }
        return lib;
    }

    /** cuBLASLt (libcublasLt), the dependency of cuBLAS; found by {@link #cublas()}. */
    public static NativeLibrary cublasLt() {
        cublas();
        return cublasLt;
    }

    /** The driver (libcuda), needed by the runtime and for loading PTX. */
    public static NativeLibrary driver() {
        NativeLibrary lib = driver;
        if (lib == null) {
            synchronized (CudaLibraries.class) {
                if (driver == null) {
                    driver = NativeLibrary.find("libcuda (driver)", List.of("libcuda.so.1", "libcuda.so"), List.of(),
                            List.of(Path.of("/usr/lib/x86_64-linux-gnu"), Path.of("/usr/lib64"),
                                    Path.of("/usr/lib/aarch64-linux-gnu"), Path.of("/usr/lib/wsl/lib")));
                }
                lib = driver;
            }
        }
        return lib;
    }

    /** {@code $RINGATTN_CUBLAS_DIR}, then {@code -Dringattn.cublas.dir}, when set. */
    public static List<Path> cublasOverrides() {
        List<Path> out = new ArrayList<>();
        String env = System.getenv("RINGATTN_CUBLAS_DIR");
        if (env != null && !env.isBlank()) {
            out.add(Path.of(env));
        }
        String prop = System.getProperty("ringattn.cublas.dir");
        if (prop != null && !prop.isBlank()) {
            out.add(Path.of(prop));
        }
        return out;
    }

    /** {@code $CUDA_HOME} (when set) and {@code /usr/local/cuda}. */
    public static List<Path> toolkitRoots() {
        List<Path> roots = new ArrayList<>();
        String home = System.getenv("CUDA_HOME");
        if (home != null && !home.isBlank()) {
            roots.add(Path.of(home));
        }
        Path usual = Path.of("/usr/local/cuda");
        if (!roots.contains(usual)) {
            roots.add(usual);
        }
        return roots;
    }
}
