package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ringattn.cuda.check.GpuCheck;
import ringattn.engine.device.Devices;

/** The entry point of gpu-check.sh on a machine without a GPU: writes the reason and says SKIPPED. */
class GpuCheckTest {
    @Test
    void skipsCleanlyWithTheReason(@TempDir Path dir) throws Exception {
        assumeFalse(Devices.probe("cuda").available(), "a GPU is usable here: run gpu-check.sh instead");
        int status = GpuCheck.run(dir, true);
        assertEquals(GpuCheck.SKIPPED, status);
        String text = Files.readString(dir.resolve("gpu-check.txt"));
        assertTrue(text.contains("probe: unavailable: " + Devices.probe("cuda").reason()), text);
        assertTrue(text.contains("SKIPPED: no usable CUDA device: "), text);
        assertTrue(text.contains("select auto: "), text);
        assertTrue(text.endsWith("RESULT SKIPPED\n"), text);
    }

    @Test
    void benchmarkLoopRunsOnTheEmulatedKernel() {
        try (CublasKernel kernel = new CublasKernel(ringattn.engine.kernel.KernelOptions.defaults(1),
                new EmulatedDevice(), 0, 1024, 1 << 20)) {
            var lines = GpuCheck.benchKernel(kernel, 32, 2, 1, 16, 1);
            assertEquals(4, lines.size(), lines.toString());
            assertTrue(lines.get(3).matches("bench cublas emulated BF16 causal: .* ms/call, .* GFLOP/s .*"), lines.get(3));
        }
        String cpu = GpuCheck.cpuBench(64, 2, 1, 16);
        assertTrue(cpu.startsWith("bench CPU kernel "), cpu);
    }
}
