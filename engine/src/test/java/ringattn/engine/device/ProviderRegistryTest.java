package ringattn.engine.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.text.MessageFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.ResourceBundle;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.Gemm;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.ScalarKernel;

/**
 * The rules of the one kernel lookup, on providers made up for the test: which CPU kernel is
 * chosen and why, the one-line errors for unknown and unusable names, one probe per provider, one
 * log line per choice.
 */
class ProviderRegistryTest {
    private static final KernelOptions AUTO = KernelOptions.defaults(1);
    private static final String NO_MODULE = "module jdk.incubator.vector not resolved: pass --add-modules jdk.incubator.vector";

    /** A provider with a fixed probe result that counts its probes; its kernels are scalar ones. */
    private static final class Fake implements KernelProvider {
        final String name;
        final String device;
        final Availability availability;
        final Gemm gemm;
        final AtomicInteger probes = new AtomicInteger();

        Fake(String name, String device, Availability availability, Gemm gemm) {
            this.name = name;
            this.device = device;
            this.availability = availability;
            this.gemm = gemm;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public String device() {
            return device;
        }

        @Override
        public Availability probe() {
            probes.incrementAndGet();
            return availability;
        }

        @Override
        public BlockKernel create(KernelOptions options) {
            return new ScalarKernel(options);
        }

        @Override
        public Optional<Gemm> gemm(int bits, int registers) {
            return Optional.ofNullable(gemm);
        }
    }

    /** Collects the lines logged. */
    private static final class Lines implements System.Logger {
        final List<String> lines = new ArrayList<>();

        @Override
        public String getName() {
            return "test";
        }

        @Override
        public boolean isLoggable(Level level) {
            return true;
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
            lines.add(msg);
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String format, Object... params) {
            lines.add(params == null || params.length == 0 ? format : MessageFormat.format(format, params));
        }
    }

    private static Fake simd(Availability a) {
        return new Fake("simd", "cpu", a, null);
    }

    private static Fake scalar() {
        return new Fake("scalar", "cpu", Availability.yes("plain Java loops"), null);
    }

    private static ProviderRegistry registry(KernelProvider... providers) {
        return new ProviderRegistry(List.of(providers), new Lines());
    }

    private static Devices.Selection select(ProviderRegistry r, String device, KernelOptions options) {
        Devices.Selection s = r.select(device, options);
        s.kernel().close();
        return s;
    }

    /** Runs {@code body} with the system property {@code ringattn.kernel} set to {@code value}, then restores it. */
    private static <T> T withKernelProperty(String value, Supplier<T> body) {
        String before = System.getProperty(ProviderRegistry.KERNEL_PROPERTY);
        System.setProperty(ProviderRegistry.KERNEL_PROPERTY, value);
        try {
            return body.get();
        } finally {
            if (before == null) {
                System.clearProperty(ProviderRegistry.KERNEL_PROPERTY);
            } else {
                System.setProperty(ProviderRegistry.KERNEL_PROPERTY, before);
            }
        }
    }

    @Test
    void cpuTakesTheFirstUsableKernelAndSaysWhyNotTheOthers() {
        Devices.Selection s = select(registry(simd(Availability.no(NO_MODULE)), scalar()), "cpu", AUTO);
        assertEquals("cpu", s.device());
        assertEquals("scalar", s.provider());
        assertEquals("requested; plain Java loops (simd unavailable: " + NO_MODULE + ")", s.reason());

        Devices.Selection fast = select(registry(simd(Availability.yes("256-bit vectors")), scalar()), "cpu", AUTO);
        assertEquals("simd", fast.provider());
        assertEquals("requested; 256-bit vectors", fast.reason());
    }

    @Test
    void forcedScalarWinsOverAUsableVectorKernel() {
        ProviderRegistry r = registry(simd(Availability.yes("256-bit vectors")), scalar());
        Devices.Selection byOption = select(r, "cpu", AUTO.withImpl("scalar"));
        assertEquals("scalar", byOption.provider());
        assertEquals("requested; impl=scalar, plain Java loops", byOption.reason());
        Devices.Selection byProperty = withKernelProperty("scalar", () -> select(r, "cpu", AUTO));
        assertEquals("scalar", byProperty.provider());
        assertEquals("requested; ringattn.kernel=scalar, plain Java loops", byProperty.reason());
        assertEquals("simd", withKernelProperty("scalar", () -> select(r, "cpu", AUTO.withImpl("simd"))).provider(),
                "an explicit impl is not overridden by the property");
    }

    @Test
    void unknownKernelNameIsOneLineNamingTheOptionAndTheKnownKernels() {
        ProviderRegistry r = registry(simd(Availability.yes("256-bit vectors")), scalar(),
                new Fake("cuda", "cuda", Availability.yes("a GPU"), null));
        assertEquals("impl: expected auto, simd or scalar, got 'avx'", assertThrows(IllegalArgumentException.class,
                () -> r.select("cpu", AUTO.withImpl("avx"))).getMessage());
        assertEquals("ringattn.kernel: expected auto, simd or scalar, got 'fast'",
                assertThrows(IllegalArgumentException.class,
                        () -> withKernelProperty("fast", () -> r.select("cpu", AUTO))).getMessage());
    }

    @Test
    void forcedUnusableKernelIsOneLineNamingTheOptionAndTheReason() {
        ProviderRegistry r = registry(simd(Availability.no(NO_MODULE)), scalar());
        DeviceUnavailableException byOption = assertThrows(DeviceUnavailableException.class,
                () -> r.select("cpu", AUTO.withImpl("simd")));
        assertEquals("kernel simd (impl): unavailable, " + NO_MODULE, byOption.getMessage());
        DeviceUnavailableException byProperty = assertThrows(DeviceUnavailableException.class,
                () -> withKernelProperty("simd", () -> r.select("cpu", AUTO)));
        assertEquals("kernel simd (ringattn.kernel): unavailable, " + NO_MODULE, byProperty.getMessage());
    }

    @Test
    void unknownDeviceNamesTheDevicesThatExist() {
        ProviderRegistry r = registry(simd(Availability.yes("256-bit vectors")), scalar(),
                new Fake("cuda", "cuda", Availability.no("no driver"), null));
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class, () -> r.select("tpu", AUTO));
        assertEquals("device tpu: no tpu support in this build (no module providing 'tpu' on the module path); "
                + "devices here: auto, cpu, cuda", e.getMessage());
        assertEquals("device cuda: no driver",
                assertThrows(DeviceUnavailableException.class, () -> r.select("cuda", AUTO)).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> r.select(" ", AUTO)).getMessage()
                .startsWith("device: expected auto, cpu or cuda, got"));
    }

    @Test
    void autoTakesAUsableAcceleratorElseTheCpuWithTheReasons() {
        Fake cuda = new Fake("cuda", "cuda", Availability.no("cuInit returned 100; found libcudart"), null);
        Devices.Selection s = select(registry(cuda, simd(Availability.yes("256-bit vectors")), scalar()), "auto", AUTO);
        assertEquals("cpu", s.device());
        assertEquals("simd", s.provider());
        assertEquals("auto: no accelerator usable (cuda: cuInit returned 100 …); 256-bit vectors", s.reason());
        Fake gpu = new Fake("cuda", "cuda", Availability.yes("device 0 of 1"), null);
        Devices.Selection g = select(registry(simd(Availability.yes("256-bit vectors")), scalar(), gpu), "auto", AUTO);
        assertEquals("cuda", g.device());
        assertEquals("auto: device 0 of 1", g.reason());
    }

    @Test
    void eachProviderIsProbedOnceAndEachChoiceLoggedOnce() {
        Fake simd = simd(Availability.no(NO_MODULE));
        Fake scalar = scalar();
        Lines lines = new Lines();
        ProviderRegistry r = new ProviderRegistry(List.of(simd, scalar), lines);
        for (int i = 0; i < 3; i++) {
            select(r, "cpu", AUTO);
            assertFalse(r.probe("simd").available());
        }
        assertEquals(1, simd.probes.get());
        assertEquals(1, scalar.probes.get());
        assertEquals(List.of("ringattn device: cpu, kernel scalar (requested; plain Java loops (simd unavailable: "
                + NO_MODULE + "))"), lines.lines);
    }

    @Test
    void gemmComesFromTheFirstUsableCpuKernelThatHasOne() {
        Gemm fake = new Gemm() {
            @Override
            public String name() {
                return "fake-gemm";
            }

            @Override
            public int panelWidth() {
                return 4;
            }

            @Override
            public void packPanel(java.lang.foreign.MemorySegment src, long offsetBytes, long rowStrideBytes,
                                  boolean bf16, int rows, int k, float[] rowScratch, float[] panel, int panelOff) {
            }

            @Override
            public void multiply(boolean accumulate, float[] a, int aOff, int lda, int m, int k, float[] b, int bOff,
                                 int panelStride, float[] c, int cOff, int ldc, int n) {
            }
        };
        assertSame(fake, registry(new Fake("simd", "cpu", Availability.yes("256-bit"), fake), scalar()).gemm(0, 0));
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> registry(new Fake("simd", "cpu", Availability.no(NO_MODULE), fake), scalar()).gemm(0, 0));
        assertEquals("gemm: no usable CPU kernel has a matrix multiply (simd: " + NO_MODULE + ")", e.getMessage());
        ProviderRegistry r = registry(scalar());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> r.gemm(64, 0)).getMessage().startsWith("bits:"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> r.gemm(0, 8)).getMessage().startsWith("registers:"));
    }
}
