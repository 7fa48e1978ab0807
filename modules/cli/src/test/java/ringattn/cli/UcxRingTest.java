package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.io.ArrayData;
import ringattn.io.ElementType;
import ringattn.io.Npy;
import ringattn.io.TensorFiles;

/**
 * The ring over UCX with P = 2, 3, 4 rank processes against the fp64 single-device reference:
 * forward O and LSE, backward dQ, dK, dV, with GQA, a sequence length no P divides, and options
 * combined. Tolerances as in {@link RunCommandTest} (2e-5 absolute for values of order 1 computed in
 * fp32 over at most 61 keys); the same bound for every P, since the ring carries fp32 state and
 * rounds once.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class UcxRingTest {
    static final double TOL = 2e-5;

    @TempDir
    Path dir;

    static Tensor random(int tokens, int heads, int headDim, long seed) {
        return RunCommandTest.random(tokens, heads, headDim, DType.F32, seed);
    }

    Path npy(String name, Tensor t) {
        Path p = dir.resolve(name);
        Npy.write(p, ArrayData.of(t));
        return p;
    }

    static double maxErr(Tensor got, double[] want) {
        double max = 0;
        for (long i = 0; i < got.elementCount(); i++) {
            max = Math.max(max, Math.abs(got.getFlat(i) - want[(int) i]));
        }
        return max;
    }

    @ParameterizedTest(name = "P={0} {1}")
    @CsvSource({"2,causal", "3,causal-window-documents", "4,window-documents"})
    void forwardAndBackwardOverUcxMatchTheReference(int ranks, String options) throws Exception {
        int s = 61; // not divisible by 2, 3 or 4
        long[] cu = {0, 1, 20, 45, 61};
        AttentionSpec spec = AttentionSpec.of(16);
        List<String> extra = new ArrayList<>();
        if (options.contains("causal")) {
            spec = spec.withCausal(true);
            extra.add("--causal");
        }
        if (options.contains("window")) {
            spec = spec.withWindow(9);
            extra.addAll(List.of("--window", "9"));
        }
        try (Tensor q = random(s, 4, 16, 1); Tensor k = random(s, 2, 16, 2); Tensor v = random(s, 2, 16, 3);
             Tensor dOut = random(s, 4, 16, 4); Arena arena = Arena.ofConfined()) {
            if (options.contains("documents")) {
                spec = spec.withDocuments(cu);
                Path cuPath = dir.resolve("cu.npy");
                Npy.write(cuPath, ArrayData.of(ElementType.I64, new long[] {cu.length}, MemorySegment.ofArray(cu)));
                extra.addAll(List.of("--cu-seqlens", cuPath.toString()));
            }
            List<String> args = new ArrayList<>(List.of("run", "--transport", "ucx", "--ranks", String.valueOf(ranks),
                    "--threads", "1", "--timeout", "60",
                    "--q", npy("q.npy", q).toString(), "--k", npy("k.npy", k).toString(), "--v", npy("v.npy", v).toString(),
                    "--dout", npy("do.npy", dOut).toString(),
                    "--out", dir.resolve("o.npy").toString(), "--lse", dir.resolve("lse.npy").toString(),
                    "--dq", dir.resolve("dq.npy").toString(), "--dk", dir.resolve("dk.npy").toString(),
                    "--dv", dir.resolve("dv.npy").toString(), "--json"));
            args.addAll(extra);
            CliRun r = CliRun.of(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.toString());
            assertTrue(r.lastLine().contains("\"ranks\": " + ranks), r.toString());
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            ReferenceAttention.Grads g = ReferenceAttention.backward(q, k, v, dOut, spec);
            assertTrue(maxErr(read(arena, "o.npy"), ref.out()) <= TOL, "O");
            var lse = TensorFiles.read(dir.resolve("lse.npy").toString(), arena);
            double lseErr = 0;
            for (int h = 0; h < 4; h++) {
                for (int i = 0; i < s; i++) {
                    float got = lse.data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, (long) h * s + i);
                    double want = ref.lse(h, i);
                    if (!(got == Float.NEGATIVE_INFINITY && want == Double.NEGATIVE_INFINITY)) {
                        lseErr = Math.max(lseErr, Math.abs(got - want));
                    }
                }
            }
            assertTrue(lseErr <= TOL, "LSE error " + lseErr);
            assertTrue(maxErr(read(arena, "dq.npy"), g.dq()) <= TOL, "dQ");
            assertTrue(maxErr(read(arena, "dk.npy"), g.dk()) <= TOL, "dK");
            assertTrue(maxErr(read(arena, "dv.npy"), g.dv()) <= TOL, "dV");
            try (var files = Files.list(dir)) {
                assertTrue(files.noneMatch(f -> f.getFileName().toString().startsWith(".")), "no temporary files");
            }
        }
    }

    Tensor read(Arena arena, String name) {
        String spec = dir.resolve(name).toString();
        return TensorFiles.read(spec, arena).toTensor(spec);
    }
}
