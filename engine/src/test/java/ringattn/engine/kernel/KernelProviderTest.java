package ringattn.engine.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import ringattn.engine.device.Devices;

/**
 * The CPU kernel providers honour the forced implementation, vector width and register file (what
 * the kernel tests rely on to cover every variant on any host), and refuse impossible ones by
 * option name. What every kernel promises is tested by the contract suite
 * ({@code ringattn.engine.kernel.contract.BlockKernelContract}).
 */
class KernelProviderTest {
    @Test
    void providerHonoursImplAndWidth() {
        for (int bits : new int[] {128, 256, 512}) {
            for (int registers : bits == 512 ? new int[] {32} : new int[] {16, 32}) {
                try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1).withImpl("simd").withSimdBits(bits)
                        .withSimdRegisters(registers)).kernel()) {
                    assertEquals("panama-" + bits + "r" + registers, kernel.name());
                }
            }
        }
        try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1).withImpl("simd").withSimdBits(512)).kernel()) {
            assertEquals("panama-512r32", kernel.name(), "512-bit vectors always come with 32 registers");
        }
        try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1).withImpl("scalar")).kernel()) {
            assertEquals("scalar", kernel.name());
        }
        assertTrue(Devices.probe("simd").available(), Devices.probe("simd").reason());
        expect(IllegalArgumentException.class, "simdBits", () -> KernelOptions.defaults(1).withSimdBits(64));
        expect(IllegalArgumentException.class, "simdRegisters", () -> KernelOptions.defaults(1).withSimdRegisters(8));
        expect(IllegalArgumentException.class, "simdRegisters",
                () -> KernelOptions.defaults(1).withSimdBits(512).withSimdRegisters(16));
    }

    private static void expect(Class<? extends RuntimeException> type, String argument, Executable call) {
        RuntimeException e = assertThrows(type, call);
        assertTrue(e.getMessage() != null && e.getMessage().startsWith(argument),
                "message should name '" + argument + "': " + e.getMessage());
    }
}
