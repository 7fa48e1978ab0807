package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
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
import ringattn.io.Safetensors;
import ringattn.io.TensorFiles;

/**
 * The ring over UCX with P = 2, 3, 4 rank processes against the fp64 single-device reference:
 * forward O and LSE, backward dQ, dK, dV, with GQA, a sequence length no P divides, fewer tokens than
 * ranks, options combined, and BF16 inputs and outputs. Tolerances as in {@link RunCommandTest} (2e-5 absolute for values of order 1 computed in
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

    /**
     * S = 61 is divisible by none of 2, 3, 4. S = 3 on 4 ranks (S &lt; P: a rank holds no token and
     * still passes blocks on) with a one-token document and a window, causal and not.
     */
    @ParameterizedTest(name = "P={0} S={1} {2}")
    @CsvSource({"2,61,causal", "3,61,causal-window-documents", "4,61,window-documents", "4,3,causal-window-documents",
            "4,3,window-documents"})
    void forwardAndBackwardOverUcxMatchTheReference(int ranks, int s, String options) throws Exception {
        long[] cu = s == 61 ? new long[] {0, 1, 20, 45, 61} : new long[] {0, 1, s};
        AttentionSpec spec = AttentionSpec.of(16);
        List<String> extra = new ArrayList<>();
        if (options.contains("causal")) {
            spec = spec.withCausal(true);
            extra.add("--causal");
        }
        if (options.contains("window")) {
            int window = s == 61 ? 9 : 2;
            spec = spec.withWindow(window);
            extra.addAll(List.of("--window", Integer.toString(window)));
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

    /**
     * BF16 inputs over UCX (3 ranks, GQA, causal window, S = 29 not divisible by 3): O, dQ, dK, dV come
     * back in BF16, each within one BF16 ulp of the fp64 reference rounded to BF16 (errors within fp32
     * noise, 2e-5 of the largest magnitude, exempt); LSE (fp32) within 2e-5. The backward forms
     * D = rowsum(dO∘O) from the BF16 O the forward stored, as FlashAttention does; the gradients'
     * reference takes that O too, through {@link ReferenceAttention} alone: with Δ = rowsum(dO∘(O_bf16 −
     * O)), dQ moves by −scale·Δ·(attention with K as values) and dK by −scale·(dV of upstream Δ·Q); dV
     * does not move.
     */
    @Test
    void bf16ForwardAndBackwardOverUcxMatchTheReference() throws Exception {
        int s = 29;
        int heads = 4;
        int d = 16;
        AttentionSpec spec = AttentionSpec.of(d).withCausal(true).withWindow(7);
        try (Tensor q = RunCommandTest.random(s, heads, d, DType.BF16, 31);
             Tensor k = RunCommandTest.random(s, 2, d, DType.BF16, 32);
             Tensor v = RunCommandTest.random(s, 2, d, DType.BF16, 33);
             Tensor dOut = RunCommandTest.random(s, heads, d, DType.BF16, 34); Arena arena = Arena.ofConfined()) {
            Path in = dir.resolve("in.safetensors");
            Map<String, ArrayData> inputs = new LinkedHashMap<>();
            inputs.put("q", ArrayData.of(q));
            inputs.put("k", ArrayData.of(k));
            inputs.put("v", ArrayData.of(v));
            inputs.put("do", ArrayData.of(dOut));
            Safetensors.write(in, inputs);
            Path out = dir.resolve("out.safetensors");
            CliRun r = CliRun.of("run", "--transport", "ucx", "--ranks", "3", "--threads", "1", "--timeout", "60",
                    "--q", in + ":q", "--k", in + ":k", "--v", in + ":v", "--dout", in + ":do", "--causal", "--window", "7",
                    "--out", out + ":o", "--lse", out + ":lse", "--dq", out + ":dq", "--dk", out + ":dk", "--dv", out + ":dv",
                    "--json");
            assertEquals(0, r.code(), r.toString());
            assertTrue(r.lastLine().contains("\"transport\": \"ucx\""), r.toString());
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            Tensor o = read(arena, out + ":o");
            Bf16Ulps.assertWithinOneUlp("O", o, ref.out(), TOL);
            var lse = TensorFiles.read(out + ":lse", arena);
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < s; i++) {
                    assertEquals(ref.lse(h, i), lse.getFloat((long) h * s + i), TOL, "LSE " + h + "," + i);
                }
            }
            ReferenceAttention.Grads g = gradientsGivenStoredOutput(q, k, v, dOut, o, ref, spec);
            Bf16Ulps.assertWithinOneUlp("dQ", read(arena, out + ":dq"), g.dq(), TOL * Bf16Ulps.maxAbs(g.dq()));
            Bf16Ulps.assertWithinOneUlp("dK", read(arena, out + ":dk"), g.dk(), TOL * Bf16Ulps.maxAbs(g.dk()));
            Bf16Ulps.assertWithinOneUlp("dV", read(arena, out + ":dv"), g.dv(), TOL * Bf16Ulps.maxAbs(g.dv()));
        }
    }

    /**
     * The fp64 gradients when D = rowsum(dO∘O) is formed from the stored output {@code o} instead of
     * the exact {@code ref.out()}; from {@link ReferenceAttention} alone (see the test above).
     */
    static ReferenceAttention.Grads gradientsGivenStoredOutput(Tensor q, Tensor k, Tensor v, Tensor dOut, Tensor o,
                                                               ReferenceAttention.Result ref, AttentionSpec spec) {
        int s = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        double scale = spec.scale();
        ReferenceAttention.Grads exact = ReferenceAttention.backward(q, k, v, dOut, spec);
        double[] kAsValues = ReferenceAttention.forward(q, k, k, spec).out();
        double[] dq = exact.dq().clone();
        try (Tensor deltaQ = Tensor.allocate(s, heads, d, DType.F32)) {
            for (int i = 0; i < s; i++) {
                for (int h = 0; h < heads; h++) {
                    int base = (i * heads + h) * d;
                    double delta = 0;
                    for (int c = 0; c < d; c++) {
                        delta += dOut.getFlat(base + c) * ((double) o.getFlat(base + c) - ref.out()[base + c]);
                    }
                    for (int c = 0; c < d; c++) {
                        dq[base + c] -= scale * delta * kAsValues[base + c];
                        deltaQ.setFlat(base + c, (float) (delta * q.getFlat(base + c)));
                    }
                }
            }
            double[] pTimesDeltaQ = ReferenceAttention.backward(q, k, v, deltaQ, spec).dv();
            double[] dk = exact.dk().clone();
            for (int i = 0; i < dk.length; i++) {
                dk[i] -= scale * pTimesDeltaQ[i];
            }
            return new ReferenceAttention.Grads(dq, dk, exact.dv());
        }
    }

    Tensor read(Arena arena, String name) {
        String spec = dir.resolve(name).toString();
        return TensorFiles.read(spec, arena).toTensor(spec);
    }
}
