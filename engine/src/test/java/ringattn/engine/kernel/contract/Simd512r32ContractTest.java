package ringattn.engine.kernel.contract;

import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;

/** The {@link BlockKernel} contract for the Vector API kernel at 512 bits with 32 vector registers (AVX-512). */
class Simd512r32ContractTest extends BlockKernelContract {
    @Override
    protected BlockKernel create(KernelOptions options) {
        return new KernelTestSupport.Variant("simd", 512, 32).create(options);
    }

    /** fp32 accumulation ({@link Tolerance#FP32}). */
    @Override
    protected Tolerance tolerance() {
        return Tolerance.FP32;
    }
}
