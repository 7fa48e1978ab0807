package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.io.ArrayData;
import ringattn.io.ElementType;
import ringattn.io.Json;
import ringattn.io.Npy;
import ringattn.io.Safetensors;
import ringattn.io.TensorFiles;

/**
 * {@code run} on small files reproduces the fp64 reference. Tolerances: with fp32 storage the ring
 * accumulates in fp32 over at most 64 keys of inputs in [−1, 1), so O, LSE and the gradients are
 * within a few ulps of values of order 1: 2e-5 absolute leaves a wide margin while still catching any
 * masking or merge error (those are of order 0.1). With float16 or bfloat16 outputs the bound is the
 * output's rounding: half an ulp of |x| ≤ 1, i.e. 2^-11 (f16) and 2^-8 (bf16), plus the fp32 error.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RunCommandTest {
    static final double TOL_F32 = 2e-5;

    @TempDir
    Path dir;

    static Tensor random(int tokens, int heads, int headDim, DType dtype, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Tensor t = Tensor.allocate(tokens, heads, headDim, dtype);
        for (long i = 0; i < t.elementCount(); i++) {
            t.setFlat(i, (float) (r.nextDouble() * 2 - 1));
        }
        return t;
    }

    Path npy(String name, Tensor t) {
        Path p = dir.resolve(name);
        Npy.write(p, ArrayData.of(t));
        return p;
    }

    static void assertClose(Tensor got, double[] want, double tol, String what) {
        double max = 0;
        for (long i = 0; i < got.elementCount(); i++) {
            max = Math.max(max, Math.abs(got.getFlat(i) - want[(int) i]));
        }
        assertTrue(max <= tol, what + ": max abs error " + max + " > " + tol);
    }

    Tensor read(Arena arena, String spec) {
        return TensorFiles.read(spec, arena).toTensor(spec);
    }

    @Test
    void forwardWithLseAndGqaMatchesTheReferenceOnThreeRanks() {
        int s = 50;
        try (Tensor q = random(s, 4, 16, DType.F32, 1); Tensor k = random(s, 2, 16, DType.F32, 2);
             Tensor v = random(s, 2, 16, DType.F32, 3); Arena arena = Arena.ofConfined()) {
            CliRun r = CliRun.of("run", "--q", npy("q.npy", q).toString(), "--k", npy("k.npy", k).toString(),
                    "--v", npy("v.npy", v).toString(), "--out", dir.resolve("o.npy").toString(),
                    "--lse", dir.resolve("lse.npy").toString(), "--ranks", "3", "--causal", "--threads", "1", "--json");
            assertEquals(0, r.code(), r.toString());
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, AttentionSpec.of(16).withCausal(true));
            assertClose(read(arena, dir.resolve("o.npy").toString()), ref.out(), TOL_F32, "O");
            ArrayData lse = TensorFiles.read(dir.resolve("lse.npy").toString(), arena);
            assertArrayEquals(new long[] {4, s}, lse.shape());
            for (int h = 0; h < 4; h++) {
                for (int i = 0; i < s; i++) {
                    assertEquals(ref.lse(h, i), lse.getFloat((long) h * s + i), TOL_F32, "lse " + h + "," + i);
                }
            }
            assertTrue(r.lastLine().startsWith("{") && r.lastLine().contains("\"ranks\": 3"), r.toString());
            Map<?, ?> j = (Map<?, ?>) Json.parse(r.lastLine());
            SummaryFields.assertMemory(j, true);
            SummaryFields.assertThroughput(j, "flops", "seconds", "gflops");
            assertEquals(4.0 * s * s * 16 * 4 / 2, SummaryFields.number(j, "flops"), "4*S^2*D*H/2 when causal");
            assertEquals(SummaryFields.number(j, "forward_seconds"), SummaryFields.number(j, "seconds"));
            assertEquals(0.0, SummaryFields.number(j, "backward_seconds"), "no --dout, no backward");
            assertEquals(0.0, SummaryFields.number(j, "backward_gflops"));
        }
    }

    @Test
    void gradientsWithDocumentsAndWindowMatchTheReference() throws Exception {
        int s = 40;
        try (Tensor q = random(s, 2, 8, DType.F32, 4); Tensor k = random(s, 2, 8, DType.F32, 5);
             Tensor v = random(s, 2, 8, DType.F32, 6); Tensor dOut = random(s, 2, 8, DType.F32, 7);
             Arena arena = Arena.ofConfined()) {
            Path cu = dir.resolve("cu.npy");
            MemorySegment cuData = MemorySegment.ofArray(ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN)
                    .putInt(0).putInt(13).putInt(29).putInt(40).array());
            Npy.write(cu, ArrayData.of(ElementType.I32, new long[] {4}, cuData));
            CliRun r = CliRun.of("run", "--q", npy("q.npy", q).toString(), "--k", npy("k.npy", k).toString(),
                    "--v", npy("v.npy", v).toString(), "--dout", npy("do.npy", dOut).toString(),
                    "--out", dir.resolve("o.npy").toString(), "--dq", dir.resolve("dq.npy").toString(),
                    "--dk", dir.resolve("dk.npy").toString(), "--dv", dir.resolve("dv.npy").toString(),
                    "--ranks", "2", "--causal", "--window", "7", "--cu-seqlens", cu.toString(), "--scale", "0.3",
                    "--threads", "1");
            assertEquals(0, r.code(), r.toString());
            AttentionSpec spec = AttentionSpec.of(8).withCausal(true).withWindow(7)
                    .withDocuments(new long[] {0, 13, 29, 40}).withScale(0.3f);
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            ReferenceAttention.Grads g = ReferenceAttention.backward(q, k, v, dOut, spec);
            assertClose(read(arena, dir.resolve("o.npy").toString()), ref.out(), TOL_F32, "O");
            assertClose(read(arena, dir.resolve("dq.npy").toString()), g.dq(), TOL_F32, "dQ");
            assertClose(read(arena, dir.resolve("dk.npy").toString()), g.dk(), TOL_F32, "dK");
            assertClose(read(arena, dir.resolve("dv.npy").toString()), g.dv(), TOL_F32, "dV");
            assertTrue(r.out().contains("backward"), r.toString());
            try (var files = Files.list(dir)) {
                assertTrue(files.noneMatch(f -> f.getFileName().toString().startsWith(".")), "no temporary files");
            }
        }
    }

    @Test
    void float16InputGivesFloat16Output() {
        int s = 24;
        try (Tensor q = random(s, 2, 8, DType.F32, 8); Tensor k = random(s, 2, 8, DType.F32, 9);
             Tensor v = random(s, 2, 8, DType.F32, 10); Arena arena = Arena.ofConfined()) {
            for (Tensor t : new Tensor[] {q, k, v}) { // store exactly representable f16 values
                for (long i = 0; i < t.elementCount(); i++) {
                    t.setFlat(i, Float.float16ToFloat(Float.floatToFloat16(t.getFlat(i))));
                }
            }
            String[] names = {"q16.npy", "k16.npy", "v16.npy"};
            Tensor[] ts = {q, k, v};
            for (int n = 0; n < 3; n++) {
                MemorySegment m = arena.allocate(ts[n].elementCount() * 2);
                for (long i = 0; i < ts[n].elementCount(); i++) {
                    m.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i, Float.floatToFloat16(ts[n].getFlat(i)));
                }
                Npy.write(dir.resolve(names[n]), ArrayData.of(ElementType.F16, new long[] {s, 2, 8}, m));
            }
            CliRun r = CliRun.of("run", "--q", dir.resolve("q16.npy").toString(), "--k", dir.resolve("k16.npy").toString(),
                    "--v", dir.resolve("v16.npy").toString(), "--out", dir.resolve("o16.npy").toString(), "--threads", "1");
            assertEquals(0, r.code(), r.toString());
            ArrayData o = TensorFiles.read(dir.resolve("o16.npy").toString(), arena);
            assertEquals(ElementType.F16, o.type());
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, AttentionSpec.of(8));
            assertClose(o.toTensor("o"), ref.out(), Math.scalb(1.0, -11) + TOL_F32, "O f16");
        }
    }

    @Test
    void bf16SafetensorsInputsWriteAllOutputsIntoOneFile() {
        int s = 30;
        try (Tensor q = random(s, 2, 8, DType.BF16, 11); Tensor k = random(s, 1, 8, DType.BF16, 12);
             Tensor v = random(s, 1, 8, DType.BF16, 13); Arena arena = Arena.ofConfined()) {
            Path in = dir.resolve("in.safetensors");
            Map<String, ArrayData> m = new LinkedHashMap<>();
            m.put("q", ArrayData.of(q));
            m.put("k", ArrayData.of(k));
            m.put("v", ArrayData.of(v));
            Safetensors.write(in, m);
            Path out = dir.resolve("out.safetensors");
            CliRun r = CliRun.of("run", "--q", in + ":q", "--k", in + ":k", "--v", in + ":v", "--out", out + ":o",
                    "--lse", out + ":lse", "--ranks", "2", "--causal", "--threads", "1");
            assertEquals(0, r.code(), r.toString());
            ArrayData o = TensorFiles.read(out + ":o", arena);
            assertEquals(ElementType.BF16, o.type());
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, AttentionSpec.of(8).withCausal(true));
            assertClose(o.toTensor("o"), ref.out(), Math.scalb(1.0, -8) + TOL_F32, "O bf16");
            assertEquals(ElementType.F32, TensorFiles.read(out + ":lse", arena).type());
        }
    }

    @Test
    void ucxRunWithGradientsMatchesTheLocalRunBitForBit() throws Exception {
        int s = 48;
        try (Tensor q = random(s, 2, 8, DType.F32, 21); Tensor k = random(s, 2, 8, DType.F32, 22);
             Tensor v = random(s, 2, 8, DType.F32, 23); Tensor dOut = random(s, 2, 8, DType.F32, 24);
             Arena arena = Arena.ofConfined()) {
            String[] common = {"--q", npy("q.npy", q).toString(), "--k", npy("k.npy", k).toString(),
                    "--v", npy("v.npy", v).toString(), "--dout", npy("do.npy", dOut).toString(), "--ranks", "2",
                    "--causal", "--threads", "1", "--timeout", "30"};
            for (String t : new String[] {"local", "ucx"}) {
                java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("run", "--transport", t));
                args.addAll(java.util.List.of(common));
                args.addAll(java.util.List.of("--out", dir.resolve(t + "-o.safetensors") + ":o",
                        "--lse", dir.resolve(t + "-o.safetensors") + ":lse", "--dq", dir.resolve(t + "-dq.npy").toString(),
                        "--dk", dir.resolve(t + "-dk.npy").toString(), "--dv", dir.resolve(t + "-dv.npy").toString(), "--json"));
                CliRun r = CliRun.of(args.toArray(String[]::new));
                assertEquals(0, r.code(), r.toString());
                assertTrue(r.lastLine().contains("\"transport\": \"" + t + "\""), r.toString());
                Map<?, ?> j = (Map<?, ?>) Json.parse(r.lastLine());
                SummaryFields.assertMemory(j, t.equals("local"));
                SummaryFields.assertThroughput(j, "flops", "forward_seconds", "gflops");
                SummaryFields.assertThroughput(j, "backward_flops", "backward_seconds", "backward_gflops");
                assertEquals(2.5 * SummaryFields.number(j, "flops"), SummaryFields.number(j, "backward_flops"),
                        "a backward counts 2.5 forwards");
            }
            for (String f : new String[] {"-o.safetensors", "-dq.npy", "-dk.npy", "-dv.npy"}) {
                assertArrayEquals(Files.readAllBytes(dir.resolve("local" + f)), Files.readAllBytes(dir.resolve("ucx" + f)),
                        f + ": the ring's summation order is fixed, so threads and processes agree exactly");
            }
            ReferenceAttention.Grads g = ReferenceAttention.backward(q, k, v, dOut, AttentionSpec.of(8).withCausal(true));
            assertClose(read(arena, dir.resolve("ucx-dk.npy").toString()), g.dk(), TOL_F32, "dK over UCX");
            try (var files = Files.list(dir)) {
                assertTrue(files.noneMatch(f -> f.getFileName().toString().startsWith(".")), "no temporary files");
            }
        }
    }
}
