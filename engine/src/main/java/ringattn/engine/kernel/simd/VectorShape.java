package ringattn.engine.kernel.simd;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.Optional;

/**
 * The vector width and register file that C2 compiles the Vector API to on this machine, found once
 * per JVM: the register blocking of the kernels depends on both, and the Vector API tells only the
 * width ({@code FloatVector.SPECIES_PREFERRED}). Registers:
 * <ul>
 *   <li>the system property {@code ringattn.simd.registers} (16 or 32) when set;</li>
 *   <li>aarch64: 32 (NEON and SVE);</li>
 *   <li>x86 with a 512-bit preferred species: 32 (C2 emits AVX-512 code);</li>
 *   <li>x86 otherwise: HotSpot's {@code UseAVX} (read through {@code HotSpotDiagnosticMXBean} when
 *       module {@code jdk.management} is present, else from {@code -XX:UseAVX=} on the command line):
 *       3 means AVX-512 encodings and 32 registers (a CPU with AVX-512 run with
 *       {@code -XX:MaxVectorSize=32}), below 3 means AVX2 or older and 16;</li>
 *   <li>anything else: 16, the blocking that spills nowhere.</li>
 * </ul>
 * Immutable and thread-safe.
 *
 * @param bits      the preferred vector width in bits (at least 128)
 * @param registers vector registers (16 or 32)
 * @param reason    where {@code registers} came from, for the log line
 */
record VectorShape(int bits, int registers, String reason) {
    /** The system property that forces the register file (16 or 32). */
    static final String REGISTERS_PROPERTY = "ringattn.simd.registers";

    private static final class Holder {
        static final VectorShape MACHINE = probe();
    }

    /** This machine's shape (probed once). */
    static VectorShape machine() {
        return Holder.MACHINE;
    }

    /**
     * The registers for a kernel of {@code bits}-bit vectors: {@code forced} when not 0 (16 or 32),
     * else the property, else this machine's; 512-bit vectors always come with 32.
     */
    static int registersFor(int bits, int forced) {
        if (forced != 0) {
            return checkRegisters(forced, "simdRegisters");
        }
        return bits == 512 ? 32 : machine().registers();
    }

    private static int checkRegisters(int registers, String what) {
        if (registers != 16 && registers != 32) {
            throw new IllegalArgumentException(what + ": expected 16 or 32, got " + registers);
        }
        return registers;
    }

    private static VectorShape probe() {
        int bits = SimdOps.preferredBits();
        String forced = System.getProperty(REGISTERS_PROPERTY);
        if (forced != null) {
            int r;
            try {
                r = Integer.parseInt(forced.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(REGISTERS_PROPERTY + ": expected 16 or 32, got '" + forced + "'");
            }
            return new VectorShape(bits, checkRegisters(r, REGISTERS_PROPERTY), "-D" + REGISTERS_PROPERTY + "=" + r);
        }
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (arch.equals("aarch64") || arch.equals("arm64")) {
            return new VectorShape(bits, 32, "aarch64");
        }
        boolean x86 = arch.equals("amd64") || arch.equals("x86_64");
        if (x86 && bits >= 512) {
            return new VectorShape(bits, 32, "AVX-512 code");
        }
        if (x86) {
            Optional<Integer> useAvx = useAvx();
            if (useAvx.isPresent()) {
                int avx = useAvx.get();
                return new VectorShape(bits, avx >= 3 ? 32 : 16, "UseAVX=" + avx);
            }
        }
        return new VectorShape(bits, 16, "register file unknown on " + arch + ", assumed 16");
    }

    /** HotSpot's {@code UseAVX} in force, when it can be read. */
    private static Optional<Integer> useAvx() {
        if (ModuleLayer.boot().findModule("jdk.management").isPresent()
                && ModuleLayer.boot().findModule("java.management").isPresent()) {
            try {
                var bean = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
                return Optional.of(Integer.parseInt(bean.getVMOption("UseAVX").getValue()));
            } catch (RuntimeException | LinkageError e) {
                // fall through to the command line
            }
        }
        for (String arg : ProcessHandle.current().info().arguments().orElse(new String[0])) {
            if (arg.startsWith("-XX:UseAVX=")) {
                try {
                    return Optional.of(Integer.parseInt(arg.substring("-XX:UseAVX=".length())));
                } catch (NumberFormatException e) {
                    return Optional.empty();
                }
            }
        }
        return Optional.empty();
    }

    /** One line for the log: {@code 256-bit vectors, 16 registers (UseAVX=2)}. */
    String describe() {
        return bits + "-bit vectors, " + registers + " registers (" + reason + ")";
    }
}
