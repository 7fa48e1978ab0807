package ringattn.engine.kernel;

/**
 * How a kernel runs: worker threads, query tile and key tile sizes (rows), and which
 * implementation. Immutable.
 *
 * @param threads    worker threads inside one call (≥ 1)
 * @param queryTile  query rows per task (≥ 1)
 * @param keyTile    key rows per inner tile (≥ 1)
 * @param impl       {@code auto} or the name of a CPU kernel provider ({@code simd}, {@code scalar}),
 *                   checked when the kernel is selected ({@link ringattn.engine.device.Devices#select});
 *                   {@code auto} honours the system property {@code ringattn.kernel}
 * @param simdBits   0 for the preferred species, else 128, 256 or 512 (also set by the system
 *                   property {@code ringattn.simd.bits})
 * @param simdRegisters 0 for this machine's vector register file (probed once), else 16 (AVX2,
 *                   SSE) or 32 (AVX-512, NEON): picks the register blocking of the Vector API
 *                   kernels (also set by the system property {@code ringattn.simd.registers})
 */
public record KernelOptions(int threads, int queryTile, int keyTile, String impl, int simdBits, int simdRegisters) {
    public KernelOptions {
        if (threads < 1) {
            throw new IllegalArgumentException("threads: must be >= 1, got " + threads);
        }
        if (queryTile < 1) {
            throw new IllegalArgumentException("queryTile: must be >= 1, got " + queryTile);
        }
        if (keyTile < 1) {
            throw new IllegalArgumentException("keyTile: must be >= 1, got " + keyTile);
        }
        if (impl == null || impl.isBlank()) {
            throw new IllegalArgumentException("impl: expected auto or a CPU kernel's name (simd, scalar), got '" + impl + "'");
        }
        if (simdBits != 0 && simdBits != 128 && simdBits != 256 && simdBits != 512) {
            throw new IllegalArgumentException("simdBits: expected 0, 128, 256 or 512, got " + simdBits);
        }
        if (simdRegisters != 0 && simdRegisters != 16 && simdRegisters != 32) {
            throw new IllegalArgumentException("simdRegisters: expected 0, 16 or 32, got " + simdRegisters);
        }
        if (simdBits == 512 && simdRegisters == 16) {
            throw new IllegalArgumentException("simdRegisters: 512-bit vectors come with 32 registers, got 16");
        }
    }

    /** Options with the machine's register file (simdRegisters 0). */
    public KernelOptions(int threads, int queryTile, int keyTile, String impl, int simdBits) {
        this(threads, queryTile, keyTile, impl, simdBits, 0);
    }

    /**
     * Defaults: the given threads, 128-row query tiles, 256-row key tiles, automatic choice (README,
     * "Design choices, measured", says why 128 rows).
     */
    public static KernelOptions defaults(int threads) {
        return new KernelOptions(threads, 128, 256, "auto", 0, 0);
    }

    public KernelOptions withImpl(String newImpl) {
        return new KernelOptions(threads, queryTile, keyTile, newImpl, simdBits, simdRegisters);
    }

    public KernelOptions withSimdBits(int bits) {
        return new KernelOptions(threads, queryTile, keyTile, impl, bits, simdRegisters);
    }

    public KernelOptions withTiles(int newQueryTile, int newKeyTile) {
        return new KernelOptions(threads, newQueryTile, newKeyTile, impl, simdBits, simdRegisters);
    }

    public KernelOptions withThreads(int newThreads) {
        return new KernelOptions(newThreads, queryTile, keyTile, impl, simdBits, simdRegisters);
    }

    /** These options with the register blocking for {@code registers} (0: this machine's, 16 or 32). */
    public KernelOptions withSimdRegisters(int registers) {
        return new KernelOptions(threads, queryTile, keyTile, impl, simdBits, registers);
    }
}
