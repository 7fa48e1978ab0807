package ringattn.model;

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
import ringattn.model.linalg.Layouts;

/** Test helpers: run a prefill and collect its logits as {@code float[S][vocab]}; logits and token files. */
final class Logits {
    private Logits() {
    }

    /** A prefill with the automatic kernels (the Vector API ones). */
    static float[][] prefill(LlamaModel model, int[] tokens, int ranks, ShardLayout layout) {
        return prefill(model, tokens, ranks, layout, 0);
    }

    /** A prefill with {@code simdBits} as {@link Prefill.Options#simdBits}: 0 automatic, −1 scalar, or a width. */
    static float[][] prefill(LlamaModel model, int[] tokens, int ranks, ShardLayout layout, int simdBits) {
        int vocab = model.config().vocabSize();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment out = arena.allocate(Math.max(4, 4L * tokens.length * vocab), 64);
            out.fill((byte) 0xFF); // NaN everywhere: a row nobody wrote fails every comparison
            List<Prefill.RankResult> r = Prefill.runLocal(model, tokens, ranks,
                    Prefill.Options.defaults(1).withLayout(layout).withSimdBits(simdBits), out);
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

    /** A float32 {@code [rows, cols]} {@code .npy} file (the {@code --out} logits) as {@code float[rows][cols]}. */
    static float[][] read(Path file) {
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

    /**
     * A little-endian float64 {@code [rows, cols]} {@code .npy} file (NumPy's reference logits; the
     * project's reader has no float64) as {@code double[rows][cols]}.
     */
    static double[][] readF64(Path file) {
        try {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(java.nio.file.Files.readAllBytes(file))
                    .order(ByteOrder.LITTLE_ENDIAN);
            int version = b.get(6);
            int headerLength = version == 1 ? Short.toUnsignedInt(b.getShort(8)) : b.getInt(8);
            int start = (version == 1 ? 10 : 12) + headerLength;
            String header = new String(b.array(), start - headerLength, headerLength, java.nio.charset.StandardCharsets.US_ASCII);
            java.util.regex.Matcher shape = java.util.regex.Pattern.compile("'shape': \\((\\d+), (\\d+)\\)").matcher(header);
            if (!header.contains("'descr': '<f8'") || !header.contains("'fortran_order': False") || !shape.find()) {
                throw new AssertionError(file + ": expected little-endian float64 [rows, cols] in C order, got " + header);
            }
            double[][] out = new double[Integer.parseInt(shape.group(1))][Integer.parseInt(shape.group(2))];
            b.position(start);
            for (double[] row : out) {
                b.asDoubleBuffer().get(row);
                b.position(b.position() + 8 * row.length);
            }
            return out;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A 1-D integer {@code .npy} file as {@code int[]}. */
    static int[] readTokens(Path file) {
        try (Arena arena = Arena.ofConfined()) {
            ArrayData a = Npy.read(file, arena);
            int[] out = new int[(int) a.elementCount()];
            for (int i = 0; i < out.length; i++) {
                out[i] = Math.toIntExact(a.getLong(i));
            }
            return out;
        }
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
