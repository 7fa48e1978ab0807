package ringattn.engine.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import ringattn.engine.tensor.Tensor;

/**
 * The portable kernel: plain Java loops, fp32 accumulation, the same tiling, masking and task split
 * as the SIMD kernel. Used when the Vector API is absent or disabled ({@code -Dringattn.kernel=scalar}).
 * Thread-safety as {@link BlockKernel}.
 */
public final class ScalarKernel extends AbstractBlockKernel {
    private final float[][] scores;
    private final float[][] rowBuf;

    public ScalarKernel(KernelOptions options) {
        super(options, "ringattn-scalar");
        this.scores = new float[options.threads()][options.keyTile()];
        this.rowBuf = new float[options.threads()][];
    }

    @Override
    public String name() {
        return "scalar";
    }

    private float[] row(int worker, int d) {
        float[] r = rowBuf[worker];
        if (r == null || r.length < 2 * d) {
            r = new float[2 * d];
            rowBuf[worker] = r;
        }
        return r;
    }

    @Override
    protected void forwardTask(ForwardCall call, int head, int r0, int r1, int worker) {
        ForwardState st = ((StateForward) call.pass()).state();
        Tensor q = st.q();
        Tensor k = call.k();
        Tensor v = call.v();
        AttentionSpec spec = call.spec();
        Positions qPos = st.qPositions();
        Positions kPos = call.kPositions();
        int rows = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        int g = head / call.group();
        int keyTile = options.keyTile();
        float scale = spec.scale();
        float[] s = scores[worker];
        float[] qRow = row(worker, d);
        MemorySegment acc = st.acc();
        MemorySegment mSeg = st.rowMax();
        MemorySegment lSeg = st.rowSum();
        for (int c0 = 0; c0 < k.tokens(); c0 += keyTile) {
            int c1 = Math.min(k.tokens(), c0 + keyTile);
            TileVisibility vis = classify(spec, qPos, call.qDocuments(), r0, r1, kPos, call.kDocuments(), c0, c1);
            if (vis == TileVisibility.HIDDEN) {
                continue;
            }
            for (int r = r0; r < r1; r++) {
                for (int c = 0; c < d; c++) {
                    qRow[c] = q.get(r, head, c) * scale;
                }
                float mx = Float.NEGATIVE_INFINITY;
                for (int j = c0; j < c1; j++) {
                    float score;
                    if (vis == TileVisibility.PARTIAL && !spec.visible(qPos.get(r), call.qDocuments()[r],
                            kPos.get(j), call.kDocuments()[j])) {
                        score = Float.NEGATIVE_INFINITY;
                    } else {
                        float dot = 0f;
                        for (int c = 0; c < d; c++) {
                            dot += qRow[c] * k.get(j, g, c);
                        }
                        score = dot;
                    }
                    s[j - c0] = score;
                    mx = Math.max(mx, score);
                }
                if (mx == Float.NEGATIVE_INFINITY) {
                    continue;
                }
                long sIdx = (long) head * rows + r;
                float mOld = mSeg.getAtIndex(ValueLayout.JAVA_FLOAT, sIdx);
                float mNew = Math.max(mOld, mx);
                float alpha = mOld == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(mOld - mNew);
                float sum = 0f;
                for (int j = 0; j < c1 - c0; j++) {
                    float p = s[j] == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(s[j] - mNew);
                    s[j] = p;
                    sum += p;
                }
                mSeg.setAtIndex(ValueLayout.JAVA_FLOAT, sIdx, mNew);
                lSeg.setAtIndex(ValueLayout.JAVA_FLOAT, sIdx, lSeg.getAtIndex(ValueLayout.JAVA_FLOAT, sIdx) * alpha + sum);
                long base = ((long) r * heads + head) * d;
                float[] o = qRow; // reuse second half as the output row
                for (int c = 0; c < d; c++) {
                    o[d + c] = acc.getAtIndex(ValueLayout.JAVA_FLOAT, base + c) * alpha;
                }
                for (int j = c0; j < c1; j++) {
                    float p = s[j - c0];
                    if (p != 0f) {
                        for (int c = 0; c < d; c++) {
                            o[d + c] += p * v.get(j, g, c);
                        }
                    }
                }
                for (int c = 0; c < d; c++) {
                    acc.setAtIndex(ValueLayout.JAVA_FLOAT, base + c, o[d + c]);
                }
            }
        }
    }

    @Override
    protected void backwardTask(BackwardCall call, int g, int k0, int k1, MemorySegment dQ, int worker) {
        BackwardState st = call.state();
        Tensor q = st.q();
        Tensor dO = st.dOut();
        Tensor k = call.k();
        Tensor v = call.v();
        Tensor dK = call.dK();
        Tensor dV = call.dV();
        AttentionSpec spec = call.spec();
        Positions qPos = st.qPositions();
        Positions kPos = call.kPositions();
        int rows = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        int group = call.group();
        float scale = spec.scale();
        int keyTile = options.keyTile();
        int queryTile = options.queryTile();
        MemorySegment lse = st.lse();
        MemorySegment delta = st.delta();
        for (int c0 = k0; c0 < k1; c0 += keyTile) {
            int c1 = Math.min(k1, c0 + keyTile);
            for (int h = g * group; h < (g + 1) * group; h++) {
                for (int r0 = 0; r0 < rows; r0 += queryTile) {
                    int r1 = Math.min(rows, r0 + queryTile);
                    TileVisibility vis = classify(spec, qPos, call.qDocuments(), r0, r1, kPos, call.kDocuments(), c0, c1);
                    if (vis == TileVisibility.HIDDEN) {
                        continue;
                    }
                    for (int r = r0; r < r1; r++) {
                        float rowLse = lse.getAtIndex(ValueLayout.JAVA_FLOAT, (long) h * rows + r);
                        if (rowLse == Float.NEGATIVE_INFINITY) {
                            continue;
                        }
                        float rowDelta = delta.getAtIndex(ValueLayout.JAVA_FLOAT, (long) h * rows + r);
                        long qBase = ((long) r * heads + h) * d;
                        for (int j = c0; j < c1; j++) {
                            if (vis == TileVisibility.PARTIAL && !spec.visible(qPos.get(r), call.qDocuments()[r],
                                    kPos.get(j), call.kDocuments()[j])) {
                                continue;
                            }
                            float dot = 0f;
                            float dp = 0f;
                            for (int c = 0; c < d; c++) {
                                dot += q.getFlat(qBase + c) * k.get(j, g, c);
                                dp += dO.getFlat(qBase + c) * v.get(j, g, c);
                            }
                            float p = (float) Math.exp(dot * scale - rowLse);
                            float ds = p * (dp - rowDelta) * scale;
                            for (int c = 0; c < d; c++) {
                                dV.set(j, g, c, dV.get(j, g, c) + p * dO.getFlat(qBase + c));
                                dK.set(j, g, c, dK.get(j, g, c) + ds * q.getFlat(qBase + c));
                                long at = qBase + c;
                                dQ.setAtIndex(ValueLayout.JAVA_FLOAT, at,
                                        dQ.getAtIndex(ValueLayout.JAVA_FLOAT, at) + ds * k.get(j, g, c));
                            }
                        }
                    }
                }
            }
        }
    }
}
