package ringattn.engine.kernel.contract;

import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;

/** The {@link BlockKernel} contract for the Vector API kernel at 128 bits with 32 vector registers (NEON). */
class Simd128r32ContractTest extends BlockKernelContract {
    @Override
    protected BlockKernel create(KernelOptions options) {
        return new KernelTestSupport.Variant("simd", 128, 32).create(options);
    }

    /** fp32 accumulation ({@link Tolerance#FP32}). */
    @Override
    protected Tolerance tolerance() {
        return Tolerance.FP32;
    }
}
