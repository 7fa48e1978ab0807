package ringattn.engine.kernel.contract;

import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;

/** The {@link BlockKernel} contract for the Vector API kernel at 256 bits with 32 vector registers (AVX-512VL and the like). */
class Simd256r32ContractTest extends BlockKernelContract {
    @Override
    protected BlockKernel create(KernelOptions options) {
        return new KernelTestSupport.Variant("simd", 256, 32).create(options);
    }

    /** fp32 accumulation ({@link Tolerance#FP32}). */
    @Override
    protected Tolerance tolerance() {
        return Tolerance.FP32;
    }
}
