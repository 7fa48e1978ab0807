package ringattn.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from fp32 logits: greedy ({@code temperature = 0}: the largest logit, the
 * lowest id on ties), or sampling from {@code softmax(logits / temperature)} restricted to the
 * {@code topK} most likely tokens (0: all) and then to the smallest set whose probability reaches
 * {@code topP} (1: all), with a seeded generator, so a seed repeats a generation exactly.
 *
 * <p>Holds its random state and scratch (sized to the vocabulary on first use); not thread-safe.
 */
public final class Sampler {
    /**
     * How to pick.
     *
     * @param temperature 0 for greedy, else &gt; 0 (logits are divided by it)
     * @param topK        keep the {@code topK} largest logits (0: no limit)
     * @param topP        keep the most likely tokens up to this cumulative probability, in (0, 1]
     * @param seed        the generator's seed
     */
    public record Options(double temperature, int topK, double topP, long seed) {
        public Options {
            if (!(temperature >= 0) || Double.isInfinite(temperature)) {
                throw new IllegalArgumentException("temperature: must be a finite number >= 0, got " + temperature);
            }
            if (topK < 0) {
                throw new IllegalArgumentException("topK: must be >= 0, got " + topK);
            }
            if (!(topP > 0 && topP <= 1)) {
                throw new IllegalArgumentException("topP: must be in (0, 1], got " + topP);
            }
        }

        /** Greedy decoding. */
        public static Options greedy() {
            return new Options(0, 0, 1, 0);
        }
    }

    private final Options options;
    private final SplittableRandom random;
    private double[] prob = new double[0];
    private Integer[] order = new Integer[0];

    public Sampler(Options options) {
        if (options == null) {
            throw new IllegalArgumentException("options: must not be null");
        }
        this.options = options;
        this.random = new SplittableRandom(options.seed());
    }

    public Options options() {
        return options;
    }

    /** The next token from {@code vocab} fp32 logits (a NaN logit is never picked unless all are NaN). */
    public int sample(MemorySegment logits, int vocab) {
        if (vocab < 1 || logits.byteSize() < 4L * vocab) {
            throw new IllegalArgumentException("logits: " + logits.byteSize() + " bytes for a vocabulary of " + vocab);
        }
        if (options.temperature() == 0) {
            return argmax(logits, vocab);
        }
        if (prob.length < vocab) {
            prob = new double[vocab];
            order = new Integer[vocab];
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            float x = logits.get(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4L);
            prob[i] = Float.isNaN(x) ? Double.NEGATIVE_INFINITY : x / options.temperature();
            max = Math.max(max, prob[i]);
        }
        if (max == Double.NEGATIVE_INFINITY) {
            return argmax(logits, vocab);
        }
        for (int i = 0; i < vocab; i++) {
            order[i] = i;
        }
        double[] p = prob;
        // Most likely first; ties by id, so the order (and the sample) does not depend on the sort.
        Arrays.sort(order, 0, vocab, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
        int keep = options.topK() == 0 ? vocab : Math.min(vocab, options.topK());
        double total = 0;
        for (int i = 0; i < keep; i++) {
            int id = order[i];
            p[id] = Math.exp(p[id] - max);
            total += p[id];
        }
        if (options.topP() < 1) {
            double cum = 0;
            for (int i = 0; i < keep; i++) {
                cum += p[order[i]] / total;
                if (cum >= options.topP()) {
                    keep = i + 1;
                    break;
                }
            }
            total = 0;
            for (int i = 0; i < keep; i++) {
                total += p[order[i]];
            }
        }
        double r = random.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            r -= p[order[i]];
            if (r < 0) {
                return order[i];
            }
        }
        return order[keep - 1];
    }

    private static int argmax(MemorySegment logits, int vocab) {
        int best = 0;
        float bestValue = Float.NEGATIVE_INFINITY;
        boolean found = false;
        for (int i = 0; i < vocab; i++) {
            float x = logits.get(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4L);
            if (!Float.isNaN(x) && (!found || x > bestValue)) {
                best = i;
                bestValue = x;
                found = true;
            }
        }
        return best;
    }
}
