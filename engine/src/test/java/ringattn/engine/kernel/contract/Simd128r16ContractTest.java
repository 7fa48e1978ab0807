package ringattn.engine.kernel.contract;

import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;

/** The {@link BlockKernel} contract for the Vector API kernel at 128 bits with 16 vector registers (SSE). */
class Simd128r16ContractTest extends BlockKernelContract {
    @Override
    protected BlockKernel create(KernelOptions options) {
        return new KernelTestSupport.Variant("simd", 128, 16).create(options);
    }

    /** fp32 accumulation ({@link Tolerance#FP32}). */
    @Override
    protected Tolerance tolerance() {
        return Tolerance.FP32;
    }
}
