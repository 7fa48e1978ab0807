package ringattn.model.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The decode attention against a plain fp64 softmax attention written here, and across JIT tiers. */
class DecodeAttentionTest {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    /**
     * Random Q, K, V (N(0, 1), K scaled ×3 for peaked softmaxes), GQA groups, key counts that are not
     * a multiple of the vector length and a capacity above them: O within 2e-6 and LSE within 2e-5
     * of fp64 (fp32 sums of up to 1000 terms of size ≤ 1); an empty shard gives O = 0, LSE = −∞.
     */
    @ParameterizedTest
    @CsvSource({"8, 4, 8, 1000", "4, 4, 64, 37", "6, 2, 24, 1", "8, 1, 128, 300", "2, 1, 8, 0"})
    void matchesFp64(int heads, int kvHeads, int d, int n) {
        int cap = n + 13;
        Random r = new Random(heads * 31L + n);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment q = arena.allocate(4L * heads * d, 64);
            MemorySegment kt = arena.allocate(Math.max(4, 4L * kvHeads * d * cap), 64);
            MemorySegment vt = arena.allocate(Math.max(4, 4L * kvHeads * d * cap), 64);
            MemorySegment out = arena.allocate(4L * heads * d, 64);
            MemorySegment lse = arena.allocate(4L * heads, 64);
            DecodeAttentionBits.fillRandom(r, q, (long) heads * d, kt, vt, (long) kvHeads * d * cap);
            float scale = (float) (1 / Math.sqrt(d));
            DecodeAttention.attend(q, heads, kvHeads, d, scale, kt, vt, cap, n, 0, heads, new float[Math.max(1, n)], out, lse);
            int group = heads / kvHeads;
            for (int h = 0; h < heads; h++) {
                int g = h / group;
                double[] s = new double[n];
                double m = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    for (int c = 0; c < d; c++) {
                        s[j] += (double) q.getAtIndex(F32, (long) h * d + c) * scale
                                * kt.getAtIndex(F32, ((long) g * d + c) * cap + j);
                    }
                    m = Math.max(m, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    sum += Math.exp(s[j] - m);
                }
                double wantLse = n == 0 ? Double.NEGATIVE_INFINITY : m + Math.log(sum);
                float gotLse = lse.getAtIndex(F32, h);
                if (n == 0) {
                    assertEquals(Float.NEGATIVE_INFINITY, gotLse);
                } else {
                    assertTrue(Math.abs(gotLse - wantLse) <= 2e-5, "head " + h + ": LSE " + gotLse + " vs " + wantLse);
                }
                for (int c = 0; c < d; c++) {
                    double o = 0;
                    for (int j = 0; j < n; j++) {
                        o += Math.exp(s[j] - m) / sum * vt.getAtIndex(F32, ((long) g * d + c) * cap + j);
                    }
                    float got = out.getAtIndex(F32, (long) h * d + c);
                    assertTrue(Math.abs(got - o) <= 2e-6, "head " + h + " dim " + c + ": " + got + " vs " + o);
                }
            }
        }
    }

    /**
     * The same bits interpreted ({@code -Xint}, a JVM of its own) and compiled (this JVM, after 3000
     * calls): every rank of a decode must combine partial states that do not depend on how far its
     * JIT has got (with {@code VectorOperators.EXP} about 3% of the exps differed in the last bit).
     */
    @Test
    void sameBitsInterpretedAndCompiled() throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xint", "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"));
        String cp = System.getProperty("java.class.path", "");
        String mp = System.getProperty("jdk.module.path", "");
        command.addAll(List.of("-cp", mp.isEmpty() ? cp : cp + java.io.File.pathSeparator + mp,
                DecodeAttentionBits.class.getName()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        byte[] output = p.getInputStream().readAllBytes(); // bounded: one line and the JVM's warnings
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError("timed out: " + command);
        }
        String text = new String(output, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), command + "\n" + text);
        String interpreted = text.lines().filter(l -> l.matches("[0-9a-f]+")).findFirst()
                .orElseThrow(() -> new AssertionError("no result line:\n" + text));
        for (int i = 0; i < 3000; i++) {
            DecodeAttentionBits.compute();
        }
        String compiled = DecodeAttentionBits.compute();
        assertEquals(interpreted.length(), compiled.length());
        int differ = 0;
        for (int i = 0; i < compiled.length(); i += 8) {
            differ += compiled.regionMatches(i, interpreted, i, 8) ? 0 : 1;
        }
        assertEquals(0, differ, "floats that differ between -Xint and compiled code, of " + compiled.length() / 8);
    }
}
