package ringattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** The sampler against exact softmax probabilities computed here in fp64. */
class SamplerTest {
    private static MemorySegment logits(float... x) {
        MemorySegment s = MemorySegment.ofArray(new byte[4 * x.length]);
        for (int i = 0; i < x.length; i++) {
            s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * i, x[i]);
        }
        return s;
    }

    @Test
    void greedyTakesTheLargestAndTheLowestIdOnTies() {
        Sampler g = new Sampler(Sampler.Options.greedy());
        assertEquals(2, g.sample(logits(1, 2, 5, 5, -1), 5));
        assertEquals(1, g.sample(logits(Float.NaN, 3, Float.NaN), 3), "NaN is never the largest");
        assertEquals(0, g.sample(logits(Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY), 2));
    }

    /**
     * 200 000 draws at temperature 0.7 from 5 logits: each token's frequency within 0.005 of
     * softmax(logits / 0.7) (the binomial standard deviation is at most 0.0011); top-k 2 draws only
     * the two most likely, in proportion to their renormalised probabilities; top-p keeps the
     * smallest set reaching p.
     */
    @Test
    void frequenciesFollowTheRestrictedSoftmax() {
        float[] x = {1f, 2.5f, 0.3f, 2f, -1f};
        double t = 0.7;
        double[] p = softmax(x, t);
        assertFrequencies(new Sampler(new Sampler.Options(t, 0, 1, 7)), x, p);
        double[] top2 = new double[5];
        double z = p[1] + p[3];
        top2[1] = p[1] / z;
        top2[3] = p[3] / z;
        assertFrequencies(new Sampler(new Sampler.Options(t, 2, 1, 8)), x, top2);
        // Sorted: 1 (p≈0.56), 3 (≈0.27), 0 (≈0.07)…: p = 0.8 keeps {1, 3} (0.83 ≥ 0.8).
        assertFrequencies(new Sampler(new Sampler.Options(t, 0, 0.8, 9)), x, top2);
    }

    private static double[] softmax(float[] x, double t) {
        double[] p = new double[x.length];
        double sum = 0;
        for (int i = 0; i < x.length; i++) {
            p[i] = Math.exp(x[i] / t);
            sum += p[i];
        }
        for (int i = 0; i < x.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    private static void assertFrequencies(Sampler s, float[] x, double[] want) {
        int n = 200_000;
        int[] hits = new int[x.length];
        MemorySegment l = logits(x);
        for (int i = 0; i < n; i++) {
            hits[s.sample(l, x.length)]++;
        }
        for (int i = 0; i < x.length; i++) {
            double f = hits[i] / (double) n;
            assertTrue(Math.abs(f - want[i]) <= 0.005, "token " + i + ": frequency " + f + ", probability " + want[i]);
        }
    }

    @Test
    void sameSeedSameDraws() {
        float[] x = {0.1f, 0.2f, 0.3f, 0.4f};
        Sampler a = new Sampler(new Sampler.Options(1, 0, 1, 42));
        Sampler b = new Sampler(new Sampler.Options(1, 0, 1, 42));
        for (int i = 0; i < 100; i++) {
            assertEquals(a.sample(logits(x), 4), b.sample(logits(x), 4));
        }
    }

    @Test
    void badOptionsNameTheArgument() {
        for (Runnable r : new Runnable[] {
            () -> new Sampler.Options(-0.1, 0, 1, 0), () -> new Sampler.Options(Double.NaN, 0, 1, 0),
            () -> new Sampler.Options(1, -1, 1, 0), () -> new Sampler.Options(1, 0, 0, 0),
            () -> new Sampler.Options(1, 0, 1.5, 0)}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
            assertTrue(e.getMessage().matches("^(temperature|topK|topP): .*"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new Sampler(Sampler.Options.greedy()).sample(logits(1f), 2));
    }
}
