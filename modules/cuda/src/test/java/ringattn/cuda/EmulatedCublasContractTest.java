package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.contract.BlockKernelContract;

/**
 * The {@link BlockKernel} contract for {@link CublasKernel} on {@link EmulatedDevice} (cuBLAS's GEMM
 * definition and the PTX kernels ported to Java, every access bounds-checked): the host logic —
 * layouts, chunking, masks, dtype paths, the state kept on the device between updates — held to the
 * same promises as the CPU kernels. Query chunks of at most 32 rows and 64 KiB of scores, so that
 * every update of the suite runs several chunks against the device-resident state. After each test
 * (whose kernels are closed by then) every device allocation must have been freed.
 */
class EmulatedCublasContractTest extends BlockKernelContract {
    private final List<EmulatedDevice> devices = new ArrayList<>();

    @Override
    protected BlockKernel create(KernelOptions options) {
        EmulatedDevice device = new EmulatedDevice();
        devices.add(device);
        return new CublasKernel(options, device, 0, 32, 64 << 10);
    }

    /**
     * fp32 accumulation ({@link Tolerance#FP32}), as the CPU kernels: the emulation computes the
     * GEMMs in fp32 (BF16 inputs widened exactly) and measured the same errors as they do.
     */
    @Override
    protected Tolerance tolerance() {
        return Tolerance.FP32;
    }

    @AfterEach
    void everyAllocationIsFreed() {
        for (EmulatedDevice device : devices) {
            assertEquals(Map.of(), device.live(), "device allocations left after the kernel closed");
        }
    }
}
