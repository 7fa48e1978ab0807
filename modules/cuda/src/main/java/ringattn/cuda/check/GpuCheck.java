package ringattn.cuda.check;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import ringattn.cuda.CublasKernel;
import ringattn.cuda.CudaKernelProvider;
import ringattn.cuda.ffm.Cublas;
import ringattn.cuda.ffm.Cudart;
import ringattn.engine.device.Availability;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The GPU check for machines without Java tooling (run by {@code modules/cuda/gpu-check.sh} on a
 * jlinked runtime): the probe, device selection, the correctness cases of {@link GpuChecks} (with
 * the default chunking and with small chunks), and a benchmark of block-attention GFLOP/s against a
 * plain cuBLAS SGEMM measured in the same run. Writes {@code gpu-check.txt} into the given folder
 * and prints it.
 *
 * <p>Usage: {@code GpuCheck [outDir] [--no-bench]}; {@code outDir} defaults to {@code $OUT} or
 * {@code gpu-check-results}. Exit status: 0 all passed, 1 a check failed, 2 skipped (no usable
 * GPU; the reason is in the file).
 */
public final class GpuCheck {
    /** Exit status when every check passed. */
    public static final int PASSED = 0;
    /** Exit status when a check failed or threw. */
    public static final int FAILED = 1;
    /** Exit status when the device is unavailable (the reason is written). */
    public static final int SKIPPED = 2;

    private GpuCheck() {
    }

    public static void main(String[] args) throws IOException {
        String out = System.getenv().getOrDefault("OUT", "gpu-check-results");
        boolean bench = true;
        for (String a : args) {
            if (a.equals("--no-bench")) {
                bench = false;
            } else {
                out = a;
            }
        }
        System.exit(run(Path.of(out), bench));
    }

    /** Runs everything, writes {@code dir/gpu-check.txt}, returns the exit status. */
    public static int run(Path dir, boolean bench) throws IOException {
        List<String> lines = new ArrayList<>();
        int status;
        try {
            status = checks(lines, bench);
        } catch (RuntimeException | Error e) {
            StringWriter sw = new StringWriter();
            e.printStackTrace(new PrintWriter(sw));
            lines.add("FAIL unexpected " + sw);
            status = FAILED;
        }
        lines.add("RESULT " + (status == PASSED ? "PASSED" : status == SKIPPED ? "SKIPPED" : "FAILED"));
        Files.createDirectories(dir);
        Files.write(dir.resolve("gpu-check.txt"), lines, StandardCharsets.UTF_8);
        lines.forEach(System.out::println);
        return status;
    }

    private static int checks(List<String> lines, boolean bench) {
        lines.add("ringattn gpu-check " + Instant.now() + " java " + Runtime.version() + " "
                + System.getProperty("os.arch"));
        Availability a = Devices.probe("cuda");
        lines.add("probe: " + (a.available() ? "available: " : "unavailable: ") + a.reason());
        KernelOptions options = KernelOptions.defaults(Math.max(1, Runtime.getRuntime().availableProcessors()));
        try (var auto = Devices.select("auto", options).kernel()) {
            lines.add("select auto: " + auto.name());
        }
        if (!a.available()) {
            lines.add("SKIPPED: no usable CUDA device: " + a.reason());
            return SKIPPED;
        }
        boolean ok = true;
        int device = CudaKernelProvider.chooseDevice(Cudart.deviceCountRaw()[1]);
        try (CublasKernel kernel = new CublasKernel(options, device);
             CublasKernel small = new CublasKernel(options.withTiles(64, 32), device, 48, 1 << 20)) {
            lines.add("kernel: " + kernel.name());
            for (GpuChecks.Case c : GpuChecks.cases()) {
                GpuChecks.Outcome o = GpuChecks.run(kernel, c);
                GpuChecks.Outcome s = GpuChecks.run(small, c);
                lines.add(o.toString());
                lines.add(s.toString().replaceFirst(": ", " [48-row chunks, 32-key tiles]: "));
                ok &= o.passed() && s.passed();
            }
            for (GpuChecks.BackwardCase c : GpuChecks.backwardCases()) {
                GpuChecks.Outcome o = GpuChecks.runBackward(kernel, c);
                GpuChecks.Outcome s = GpuChecks.runBackward(small, c);
                lines.add(o.toString());
                lines.add(s.toString().replaceFirst(": ", " [48-row chunks, 32-key tiles]: "));
                ok &= o.passed() && s.passed();
            }
            if (bench) {
                bench(kernel, lines);
            }
        }
        return ok ? PASSED : FAILED;
    }

    /**
     * Block-attention GFLOP/s (4·rows·visibleKeys·heads·headDim per call, including every transfer
     * the call makes) and a plain 4096³ SGEMM on the same device, timed with CUDA events.
     */
    static void bench(CublasKernel kernel, List<String> lines) {
        int n = 4096;
        int heads = 32;
        int kvHeads = 8;
        int d = 128;
        lines.add("bench: rows = keys = " + n + ", heads " + heads + ", kvHeads " + kvHeads + ", headDim " + d
                + "; time per forward update includes the host→pinned copy and H2D of K/V"
                + " (the state stays on the device)");
        lines.addAll(benchKernel(kernel, n, heads, kvHeads, d, 5));
        lines.add(String.format("bench cuBLAS SGEMM %d^3: %.0f GFLOP/s", n, sgemmGflops(n)));
        lines.add(cpuBench(2048, heads, kvHeads, d));
    }

    /**
     * Times {@code iters} forward calls (after two warm-up calls) of one block of {@code n} query
     * rows and {@code n} keys, F32 and BF16, unmasked and causal; one line each.
     */
    public static List<String> benchKernel(ringattn.engine.kernel.BlockKernel kernel, int n, int heads, int kvHeads,
                                           int d, int iters) {
        List<String> lines = new ArrayList<>();
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
            for (boolean causal : new boolean[] {false, true}) {
                AttentionSpec spec = AttentionSpec.of(d).withCausal(causal);
                try (Tensor q = fill(1, n, heads, d, dtype);
                     Tensor k = fill(2, n, kvHeads, d, dtype);
                     Tensor v = fill(3, n, kvHeads, d, dtype);
                     ForwardPass state = kernel.beginForward(q, Positions.range(0, n), spec)) {
                    Positions kPos = Positions.range(0, n);
                    for (int i = 0; i < 2; i++) {
                        state.update(k, v, kPos);
                    }
                    long t0 = System.nanoTime();
                    for (int i = 0; i < iters; i++) {
                        state.update(k, v, kPos);
                    }
                    double sec = (System.nanoTime() - t0) / 1e9 / iters;
                    double pairs = causal ? (double) n * (n + 1) / 2 : (double) n * n;
                    double flops = 4.0 * pairs * heads * d;
                    lines.add(String.format("bench %s %s %s: %.2f ms/call, %.0f GFLOP/s (visible pairs only)",
                            kernel.name(), dtype, causal ? "causal" : "unmasked", sec * 1e3, flops / sec / 1e9));
                }
            }
        }
        return lines;
    }

    /** The CPU kernel on a smaller F32 unmasked block, for scale (one warm-up call, two timed). */
    public static String cpuBench(int n, int heads, int kvHeads, int d) {
        int threads = Runtime.getRuntime().availableProcessors();
        AttentionSpec spec = AttentionSpec.of(d);
        try (var cpu = Devices.select("cpu", KernelOptions.defaults(threads)).kernel();
             Tensor q = fill(1, n, heads, d, DType.F32);
             Tensor k = fill(2, n, kvHeads, d, DType.F32);
             Tensor v = fill(3, n, kvHeads, d, DType.F32);
             ForwardPass state = cpu.beginForward(q, Positions.range(0, n), spec)) {
            Positions kPos = Positions.range(0, n);
            state.update(k, v, kPos);
            long t0 = System.nanoTime();
            for (int i = 0; i < 2; i++) {
                state.update(k, v, kPos);
            }
            double sec = (System.nanoTime() - t0) / 1e9 / 2;
            return String.format("bench CPU kernel %s (%d threads) F32 unmasked, rows = keys = %d: %.2f ms/call,"
                    + " %.0f GFLOP/s", cpu.name(), threads, n, sec * 1e3, 4.0 * n * n * heads * d / sec / 1e9);
        }
    }

    private static double sgemmGflops(int n) {
        long bytes = (long) n * n * 4;
        long a = Cudart.malloc(bytes);
        long b = Cudart.malloc(bytes);
        long c = Cudart.malloc(bytes);
        long handle = Cublas.create();
        long start = Cudart.eventCreate();
        long end = Cudart.eventCreate();
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Cublas.setMathMode(handle, Cublas.DEFAULT_MATH); // fp32 SGEMM, as the kernel's GEMMs (no TF32)
            var scalars = arena.allocate(8, 4);
            scalars.set(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, 1f);
            scalars.set(java.lang.foreign.ValueLayout.JAVA_FLOAT, 4, 0f);
            Cudart.memsetAsync(a, 0, bytes, 0);
            Cudart.memsetAsync(b, 0, bytes, 0);
            for (int i = 0; i < 2; i++) {
                Cublas.sgemm(handle, Cublas.OP_N, Cublas.OP_N, n, n, n, scalars, a, n, b, n, c, n);
            }
            int iters = 10;
            Cudart.eventRecord(start, 0);
            for (int i = 0; i < iters; i++) {
                Cublas.sgemm(handle, Cublas.OP_N, Cublas.OP_N, n, n, n, scalars, a, n, b, n, c, n);
            }
            Cudart.eventRecord(end, 0);
            Cudart.eventSynchronize(end);
            double ms = Cudart.eventElapsedMillis(start, end) / iters;
            return 2.0 * n * n * n / (ms / 1e3) / 1e9;
        } finally {
            Cudart.eventDestroy(start);
            Cudart.eventDestroy(end);
            Cublas.destroy(handle);
            Cudart.free(a);
            Cudart.free(b);
            Cudart.free(c);
        }
    }

    private static Tensor fill(long seed, int tokens, int heads, int headDim, DType dtype) {
        Tensor t = Tensor.allocate(tokens, heads, headDim, dtype);
        long x = seed * 0x9E3779B97F4A7C15L;
        for (long i = 0; i < t.elementCount(); i++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
            t.setFlat(i, ((x >>> 40) / (float) (1 << 24)) * 2f - 1f);
        }
        return t;
    }
}
