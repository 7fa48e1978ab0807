package ringattn.engine.kernel.contract;

import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;

/** The {@link BlockKernel} contract for the scalar kernel (plain Java, the fallback without the Vector API). */
class ScalarKernelContractTest extends BlockKernelContract {
    @Override
    protected BlockKernel create(KernelOptions options) {
        return new KernelTestSupport.Variant("scalar", 0, 0).create(options);
    }

    /** fp32 accumulation ({@link Tolerance#FP32}). */
    @Override
    protected Tolerance tolerance() {
        return Tolerance.FP32;
    }
}
