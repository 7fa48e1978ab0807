package ringattn.model;

/**
 * An independent, plain fp64 forward of a Llama model over one whole sequence, written for the tests:
 * no ring, no shards, no SIMD, no tiling; every weight read element by element (bf16 widened
 * exactly) and every sum in double. Causal GQA softmax attention is computed directly. Quadratic in
 * everything: for short sequences only.
 */
final class Fp64Llama {
    private Fp64Llama() {
    }

    /** Logits {@code [S][vocab]} for {@code tokens}. */
    static double[][] logits(LlamaConfig c, WeightSource w, int[] tokens) {
        int s = tokens.length;
        int d = c.hiddenSize();
        int hd = c.headDim();
        int group = c.heads() / c.kvHeads();
        double[] invFreq = invFreq(c);
        Weight embed = w.get("model.embed_tokens.weight", c.vocabSize(), d);
        double[][] x = new double[s][d];
        for (int t = 0; t < s; t++) {
            for (int i = 0; i < d; i++) {
                x[t][i] = embed.get((long) tokens[t] * d + i);
            }
        }
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] h = norm(x, w.get(p + "input_layernorm.weight", d), c.rmsNormEps());
            double[][] q = linear(h, w.get(p + "self_attn.q_proj.weight", c.qDim(), d));
            double[][] k = linear(h, w.get(p + "self_attn.k_proj.weight", c.kvDim(), d));
            double[][] v = linear(h, w.get(p + "self_attn.v_proj.weight", c.kvDim(), d));
            for (int t = 0; t < s; t++) {
                rotate(q[t], c.heads(), hd, t, invFreq);
                rotate(k[t], c.kvHeads(), hd, t, invFreq);
            }
            double[][] att = new double[s][c.qDim()];
            double scale = 1.0 / Math.sqrt(hd);
            for (int head = 0; head < c.heads(); head++) {
                int kvh = head / group;
                for (int i = 0; i < s; i++) {
                    double[] score = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        double dot = 0;
                        for (int e = 0; e < hd; e++) {
                            dot += q[i][head * hd + e] * k[j][kvh * hd + e];
                        }
                        score[j] = dot * scale;
                        max = Math.max(max, score[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) {
                        score[j] = Math.exp(score[j] - max);
                        sum += score[j];
                    }
                    for (int j = 0; j <= i; j++) {
                        for (int e = 0; e < hd; e++) {
                            att[i][head * hd + e] += score[j] / sum * v[j][kvh * hd + e];
                        }
                    }
                }
            }
            add(x, linear(att, w.get(p + "self_attn.o_proj.weight", d, c.qDim())));
            h = norm(x, w.get(p + "post_attention_layernorm.weight", d), c.rmsNormEps());
            double[][] g = linear(h, w.get(p + "mlp.gate_proj.weight", c.intermediateSize(), d));
            double[][] u = linear(h, w.get(p + "mlp.up_proj.weight", c.intermediateSize(), d));
            for (int t = 0; t < s; t++) {
                for (int i = 0; i < g[t].length; i++) {
                    g[t][i] = g[t][i] / (1 + Math.exp(-g[t][i])) * u[t][i];
                }
            }
            add(x, linear(g, w.get(p + "mlp.down_proj.weight", d, c.intermediateSize())));
        }
        double[][] h = norm(x, w.get("model.norm.weight", d), c.rmsNormEps());
        Weight head = c.tieWordEmbeddings() && !w.contains("lm_head.weight") ? embed
                : w.get("lm_head.weight", c.vocabSize(), d);
        return linear(h, head);
    }

    /** Hugging Face's {@code _compute_llama3_parameters}, restated. */
    static double[] invFreq(LlamaConfig c) {
        int half = c.headDim() / 2;
        double[] f = new double[half];
        for (int i = 0; i < half; i++) {
            f[i] = Math.pow(c.ropeTheta(), -(2.0 * i) / c.headDim());
            LlamaConfig.RopeScaling r = c.ropeScaling();
            if (r != null) {
                double wavelen = 2 * Math.PI / f[i];
                double lowWavelen = r.originalMaxPositionEmbeddings() / r.lowFreqFactor();
                double highWavelen = r.originalMaxPositionEmbeddings() / r.highFreqFactor();
                double scaled = wavelen > lowWavelen ? f[i] / r.factor() : f[i];
                boolean medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
                if (medium) {
                    double smooth = (r.originalMaxPositionEmbeddings() / wavelen - r.lowFreqFactor())
                            / (r.highFreqFactor() - r.lowFreqFactor());
                    scaled = (1 - smooth) * scaled / r.factor() + smooth * scaled;
                }
                f[i] = scaled;
            }
        }
        return f;
    }

    private static void rotate(double[] row, int heads, int hd, int pos, double[] invFreq) {
        int half = hd / 2;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                double a = pos * invFreq[i];
                double x1 = row[h * hd + i];
                double x2 = row[h * hd + i + half];
                row[h * hd + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
                row[h * hd + i + half] = x2 * Math.cos(a) + x1 * Math.sin(a);
            }
        }
    }

    private static double[][] norm(double[][] x, Weight w, double eps) {
        double[][] out = new double[x.length][];
        for (int t = 0; t < x.length; t++) {
            double ss = 0;
            for (double v : x[t]) {
                ss += v * v;
            }
            double inv = 1 / Math.sqrt(ss / x[t].length + eps);
            out[t] = new double[x[t].length];
            for (int i = 0; i < x[t].length; i++) {
                out[t][i] = x[t][i] * inv * w.get(i);
            }
        }
        return out;
    }

    private static double[][] linear(double[][] x, Weight w) {
        int m = w.rows();
        int k = w.cols();
        double[][] y = new double[x.length][m];
        for (int t = 0; t < x.length; t++) {
            for (int o = 0; o < m; o++) {
                double s = 0;
                for (int i = 0; i < k; i++) {
                    s += x[t][i] * w.get((long) o * k + i);
                }
                y[t][o] = s;
            }
        }
        return y;
    }

    private static void add(double[][] acc, double[][] y) {
        for (int t = 0; t < acc.length; t++) {
            for (int i = 0; i < acc[t].length; i++) {
                acc[t][i] += y[t][i];
            }
        }
    }
}
