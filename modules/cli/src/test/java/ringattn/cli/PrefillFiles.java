package ringattn.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import ringattn.engine.ring.ShardLayout;
import ringattn.io.ArrayData;
import ringattn.io.ElementType;
import ringattn.io.Npy;
import ringattn.model.LlamaModel;
import ringattn.model.Prefill;

/** Test helpers for {@code prefill}: token files, logits files, an in-process prefill to compare with. */
final class PrefillFiles {
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private PrefillFiles() {
    }

    /** Writes {@code tokens} as a 1-D int32 {@code .npy} file. */
    static void writeTokens(Path file, int[] tokens) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(4L * tokens.length);
            for (int i = 0; i < tokens.length; i++) {
                data.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, tokens[i]);
            }
            Npy.write(file, ArrayData.of(ElementType.I32, new long[] {tokens.length}, data));
        }
    }

    /** A float32 {@code [rows, cols]} {@code .npy} file (the {@code --out} logits) as {@code float[rows][cols]}. */
    static float[][] readLogits(Path file) {
        try (Arena arena = Arena.ofConfined()) {
            ArrayData a = Npy.read(file, arena);
            long[] shape = a.shape();
            if (a.type() != ElementType.F32 || shape.length != 2) {
                throw new AssertionError(file + ": expected float32 [rows, cols], got " + a.type() + " " + a.shapeString());
            }
            float[][] out = new float[(int) shape[0]][(int) shape[1]];
            for (int r = 0; r < out.length; r++) {
                for (int c = 0; c < out[r].length; c++) {
                    out[r][c] = a.getFloat((long) r * out[r].length + c);
                }
            }
            return out;
        }
    }

    /** The logits of an in-process prefill on {@code ranks} threads, one thread each, as {@code float[S][vocab]}. */
    static float[][] prefill(LlamaModel model, int[] tokens, int ranks, ShardLayout layout) {
        int vocab = model.config().vocabSize();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment out = arena.allocate(Math.max(4, 4L * tokens.length * vocab), 64);
            out.fill((byte) 0xFF); // NaN everywhere: a row nobody wrote fails every comparison
            List<Prefill.RankResult> r = Prefill.runLocal(model, tokens, ranks, Prefill.Options.defaults(1).withLayout(layout), out);
            if (r.size() != ranks) {
                throw new AssertionError("expected " + ranks + " rank results, got " + r.size());
            }
            float[][] l = new float[tokens.length][vocab];
            for (int t = 0; t < tokens.length; t++) {
                for (int i = 0; i < vocab; i++) {
                    l[t][i] = out.getAtIndex(F32_LE, (long) t * vocab + i);
                }
            }
            return l;
        }
    }

    /** max |a − b| over all entries; NaN when any entry is NaN; an error when the shapes differ. */
    static double maxAbsDiff(float[][] a, float[][] b) {
        if (a.length != b.length) {
            throw new AssertionError("rows " + a.length + " vs " + b.length);
        }
        double m = 0;
        for (int r = 0; r < a.length; r++) {
            if (a[r].length != b[r].length) {
                throw new AssertionError("row " + r + ": " + a[r].length + " vs " + b[r].length + " columns");
            }
            for (int c = 0; c < a[r].length; c++) {
                double d = Math.abs((double) a[r][c] - b[r][c]);
                if (Double.isNaN(d)) {
                    return Double.NaN;
                }
                m = Math.max(m, d);
            }
        }
        return m;
    }
}
