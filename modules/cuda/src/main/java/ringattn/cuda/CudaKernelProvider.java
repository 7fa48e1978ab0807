package ringattn.cuda;

import java.util.ArrayList;
import java.util.List;
import ringattn.cuda.ffm.Cublas;
import ringattn.cuda.ffm.CudaDriver;
import ringattn.cuda.ffm.CudaLibraries;
import ringattn.cuda.ffm.Cudart;
import ringattn.cuda.ffm.NativeLibrary;
import ringattn.engine.device.Availability;
import ringattn.engine.device.KernelProvider;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;

/**
 * The {@code cuda} device: {@link CublasKernel}. The probe loads libcudart, asks it for the
 * runtime version and the device count, then loads cuBLAS and the driver and calls {@code cuInit};
 * it is usable when all three libraries load, the driver initialises, there is at least one device,
 * and a trial context with a cuBLAS handle and the PTX module (JIT-compiled by the driver) starts. Otherwise the reason names the failing call with the library's
 * own message, and each library found (with its path) or missing (with every path tried).
 *
 * <p>The device ordinal: system property {@code ringattn.cuda.device}, else the node-local rank
 * ({@code LOCAL_RANK}, {@code SLURM_LOCALID}, {@code OMPI_COMM_WORLD_LOCAL_RANK}) modulo the device
 * count, else 0. Thread-safe.
 */
public final class CudaKernelProvider implements KernelProvider {
    private volatile int deviceCount;

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public String device() {
        return "cuda";
    }

    @Override
    public Availability probe() {
        List<String> problems = new ArrayList<>();
        List<String> found = new ArrayList<>();
        NativeLibrary cudart = CudaLibraries.cudart();
        if (!cudart.found()) {
            return Availability.no(cudart.describe() + "; libcublas and the driver not tried (they need libcudart)");
        }
        int runtime = Cudart.runtimeVersion();
        int[] count = Cudart.deviceCountRaw();
        found.add("libcudart: " + cudart.loadedAs() + " (runtime " + version(runtime) + ")");
        if (count[0] != 0) {
            problems.add("cudaGetDeviceCount returned " + count[0] + " (" + Cudart.errorName(count[0]) + ": "
                    + Cudart.errorString(count[0]) + ")");
        } else if (count[1] < 1) {
            problems.add("no CUDA device (cudaGetDeviceCount returned 0 devices)");
        }
        NativeLibrary cublas = CudaLibraries.cublas();
        if (cublas.found()) {
            found.add("libcublas: " + cublas.loadedAs() + " (" + Cublas.version() + ")");
        } else {
            problems.add(CudaLibraries.cublasLt().found() ? cublas.describe()
                    : cublas.describe() + "; " + CudaLibraries.cublasLt().describe());
        }
        NativeLibrary driver = CudaLibraries.driver();
        String deviceText = null;
        if (driver.found()) {
            int rc = CudaDriver.initRaw();
            if (rc != 0) {
                problems.add("cuInit returned " + rc + " (" + CudaDriver.describe(rc) + ")");
            } else {
                found.add("libcuda: " + driver.loadedAs() + " (driver " + version(CudaDriver.driverVersion()) + ")");
                if (problems.isEmpty()) {
                    int device = chooseDevice(count[1]);
                    deviceText = "device " + device + " of " + count[1] + ": " + CudaDriver.deviceName(device)
                            + " (sm_" + Cudart.deviceAttribute(Cudart.ATTR_CC_MAJOR, device)
                            + Cudart.deviceAttribute(Cudart.ATTR_CC_MINOR, device) + ", "
                            + Cudart.deviceAttribute(Cudart.ATTR_SM_COUNT, device) + " SMs)";
                }
            }
        } else {
            problems.add(driver.describe());
        }
        List<String> missingEntries = Ptx.missingEntries(Ptx.text());
        if (!missingEntries.isEmpty()) {
            problems.add("PTX resource lacks entries " + missingEntries);
        }
        if (!problems.isEmpty()) {
            return Availability.no(String.join("; ", problems) + "; found " + String.join(", ", found));
        }
        // A trial run of what a kernel needs (context, stream, cuBLAS handle, PTX JIT), so that
        // auto never picks a device whose kernel then fails to start.
        int device = chooseDevice(count[1]);
        try (CudaDeviceOps trial = new CudaDeviceOps(device)) {
            found.add("PTX loaded on " + trial.describe());
        } catch (RuntimeException e) {
            return Availability.no(deviceText + ": " + e.getMessage() + "; found " + String.join(", ", found));
        }
        deviceCount = count[1];
        return Availability.yes(deviceText + "; " + String.join(", ", found)
                + "; forward and backward through cuBLAS");
    }

    @Override
    public BlockKernel create(KernelOptions options) {
        int count = deviceCount;
        if (count == 0) {
            count = Math.max(1, Cudart.deviceCountRaw()[1]);
        }
        return new CublasKernel(options, chooseDevice(count));
    }

    /** The device ordinal for this process among {@code count} devices (see the class comment). */
    public static int chooseDevice(int count) {
        String prop = System.getProperty("ringattn.cuda.device");
        if (prop != null && !prop.isBlank()) {
            int d = Integer.parseInt(prop.trim());
            if (d < 0 || d >= count) {
                throw new IllegalArgumentException("ringattn.cuda.device: " + d + " outside [0, " + count + ")");
            }
            return d;
        }
        for (String env : new String[] {"LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK"}) {
            String v = System.getenv(env);
            if (v != null && v.matches("\\d+")) {
                return Integer.parseInt(v) % Math.max(1, count);
            }
        }
        return 0;
    }

    private static String version(int v) {
        return v / 1000 + "." + (v % 1000) / 10;
    }
}
