package ringattn.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import ringattn.engine.ring.ShardLayout;
import ringattn.model.linalg.Layouts;

/** Test helpers: run a prefill and collect its logits as {@code float[S][vocab]}. */
final class Logits {
    private Logits() {
    }

    static float[][] prefill(LlamaModel model, int[] tokens, int ranks, ShardLayout layout) {
        int vocab = model.config().vocabSize();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment out = arena.allocate(Math.max(4, 4L * tokens.length * vocab), 64);
            out.fill((byte) 0xFF); // NaN everywhere: a row nobody wrote fails every comparison
            List<Prefill.RankResult> r = Prefill.runLocal(model, tokens, ranks,
                    Prefill.Options.defaults(1).withLayout(layout), out);
            if (r.size() != ranks) {
                throw new AssertionError("expected " + ranks + " rank results, got " + r.size());
            }
            float[][] l = new float[tokens.length][vocab];
            for (int t = 0; t < tokens.length; t++) {
                for (int i = 0; i < vocab; i++) {
                    l[t][i] = out.getAtIndex(Layouts.F32_LE, (long) t * vocab + i);
                }
            }
            return l;
        }
    }

    /** max |a − b| over all entries; NaN when any entry is NaN. */
    static double maxAbsDiff(float[][] a, float[][] b) {
        double m = 0;
        for (int t = 0; t < a.length; t++) {
            for (int i = 0; i < a[t].length; i++) {
                double d = Math.abs((double) a[t][i] - b[t][i]);
                if (Double.isNaN(d)) {
                    return Double.NaN;
                }
                m = Math.max(m, d);
            }
        }
        return m;
    }

    static double maxAbsDiff(float[][] a, double[][] b) {
        double m = 0;
        for (int t = 0; t < a.length; t++) {
            for (int i = 0; i < a[t].length; i++) {
                double d = Math.abs(a[t][i] - b[t][i]);
                if (Double.isNaN(d)) {
                    return Double.NaN;
                }
                m = Math.max(m, d);
            }
        }
        return m;
    }

    static double maxAbs(double[][] a) {
        double m = 0;
        for (double[] r : a) {
            for (double v : r) {
                m = Math.max(m, Math.abs(v));
            }
        }
        return m;
    }
}
