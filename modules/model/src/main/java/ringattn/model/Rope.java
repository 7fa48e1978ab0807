package ringattn.model;

import java.lang.foreign.MemorySegment;
import ringattn.engine.kernel.Positions;
import ringattn.model.linalg.RowOps;

/**
 * Rotary position embedding as in Hugging Face Llama ({@code rotate_half}: element {@code i} pairs
 * with {@code i + headDim/2}), at GLOBAL token positions. Inverse frequencies
 * {@code θ^(−2i/headDim)}, with Llama-3 scaling when configured: wavelengths longer than
 * {@code original/lowFreqFactor} are divided by {@code factor}, shorter than
 * {@code original/highFreqFactor} kept, and those in between interpolated. Angles are computed in
 * double precision and rounded to float once (Hugging Face multiplies in fp32; the two agree to
 * about 1e-7·position radians). Immutable, thread-safe.
 */
public final class Rope {
    private final int headDim;
    private final double[] invFreq;

    public Rope(int headDim, double theta, LlamaConfig.RopeScaling scaling) {
        if (headDim < 2 || headDim % 2 != 0) {
            throw new IllegalArgumentException("headDim: must be even and >= 2, got " + headDim);
        }
        this.headDim = headDim;
        this.invFreq = inverseFrequencies(headDim, theta, scaling);
    }

    public static Rope of(LlamaConfig config) {
        return new Rope(config.headDim(), config.ropeTheta(), config.ropeScaling());
    }

    /** {@code headDim/2} inverse frequencies (radians per position), Llama-3 scaled when {@code scaling != null}. */
    public static double[] inverseFrequencies(int headDim, double theta, LlamaConfig.RopeScaling scaling) {
        int half = headDim / 2;
        double[] f = new double[half];
        for (int i = 0; i < half; i++) {
            f[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
        }
        if (scaling != null) {
            double old = scaling.originalMaxPositionEmbeddings();
            double lowWavelen = old / scaling.lowFreqFactor();
            double highWavelen = old / scaling.highFreqFactor();
            for (int i = 0; i < half; i++) {
                double wavelen = 2 * Math.PI / f[i];
                if (wavelen > lowWavelen) {
                    f[i] = f[i] / scaling.factor();
                } else if (wavelen >= highWavelen) {
                    double smooth = (old / wavelen - scaling.lowFreqFactor())
                            / (scaling.highFreqFactor() - scaling.lowFreqFactor());
                    f[i] = (1 - smooth) * f[i] / scaling.factor() + smooth * f[i];
                }
            }
        }
        return f;
    }

    public int headDim() {
        return headDim;
    }

    /** A copy of the inverse frequencies. */
    public double[] inverseFrequencies() {
        return invFreq.clone();
    }

    /** cos and sin of every (position, frequency) pair: {@code [positions.size(), headDim/2]} each. */
    public record Table(int tokens, int half, float[] cos, float[] sin) {
    }

    /** The table for these global positions (one per row of the shard). */
    public Table table(Positions positions) {
        int half = headDim / 2;
        int n = positions.size();
        float[] cos = new float[n * half];
        float[] sin = new float[n * half];
        for (int t = 0; t < n; t++) {
            double p = positions.get(t);
            for (int i = 0; i < half; i++) {
                double a = p * invFreq[i];
                cos[t * half + i] = (float) Math.cos(a);
                sin[t * half + i] = (float) Math.sin(a);
            }
        }
        return new Table(n, half, cos, sin);
    }

    /**
     * Rotates, in place, rows {@code [0, table.tokens())} of {@code x}, an fp32
     * {@code [tokens, heads, headDim]} array: row {@code t} by the angles of table row {@code t}.
     */
    public void apply(MemorySegment x, int heads, Table table) {
        int half = table.half();
        if (half * 2 != headDim) {
            throw new IllegalArgumentException("table: half " + half + " does not match headDim " + headDim);
        }
        for (int t = 0; t < table.tokens(); t++) {
            for (int h = 0; h < heads; h++) {
                RowOps.rotateHalf(x, 4 * (((long) t * heads + h) * headDim), half, table.cos(), table.sin(), t * half);
            }
        }
    }
}
