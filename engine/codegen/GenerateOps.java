import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Generates the per-shape Vector API classes of {@code ringattn.engine.kernel.simd} ({@code Ops512R32},
 * {@code Ops256R16}, …) from {@code Ops.java.template}: the species width and the register blocking
 * are template parameters; the register-blocked micro-kernels are written out here, one method per
 * block shape, with every accumulator a named local (an array of vectors would not stay in
 * registers).
 *
 * <p>Run from the repository root or from {@code engine/}: {@code java engine/codegen/GenerateOps.java}
 * writes the classes; {@code --check} writes nothing and exits 1 naming every class that differs
 * from what it would write ({@code GeneratedOpsTest} runs that).
 */
public final class GenerateOps {
    /**
     * One generated class: vector width in bits, vector registers of the register file it is for,
     * vectors per register block (NR; rows per block are always 6), and why this blocking (goes into
     * the class javadoc).
     */
    record Shape(int bits, int registers, int nr, String why) {
        String className() {
            return "Ops" + bits + "R" + registers;
        }
    }

    static final List<Shape> SHAPES = List.of(
            new Shape(512, 32, 4, "AVX-512: the 6 × 4 block fits in 29 of 32 registers."),
            new Shape(256, 32, 4, "AVX-512 hardware at 256 bits (AVX-512VL, 32 registers): 6 × 4 fits."),
            new Shape(256, 16, 2, "AVX2 (16 registers): 6 × 4 would spill accumulators at every k step;\n"
                    + " * 6 × 2 fits in 15 (BLIS's Haswell shape) and measured fastest (README, \"Every CPU\")."),
            new Shape(128, 32, 4, "NEON (aarch64, 32 registers), or AVX-512 hardware at 128 bits: 6 × 4 fits."),
            new Shape(128, 16, 2, "SSE, or AVX2 at 128 bits (16 registers): 6 × 2, as at 256 bits."));

    public static void main(String[] args) throws IOException {
        boolean check = false;
        Path root = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--check" -> check = true;
                case "--root" -> root = Path.of(args[++i]);
                default -> {
                    System.err.println("error: unknown argument '" + args[i] + "' (expected --check, --root DIR)");
                    System.exit(2);
                }
            }
        }
        if (root == null) {
            root = Files.isDirectory(Path.of("codegen")) ? Path.of(".") : Path.of("engine");
        }
        Path template = root.resolve("codegen/Ops.java.template");
        Path outDir = root.resolve("src/main/java/ringattn/engine/kernel/simd");
        if (!Files.isRegularFile(template) || !Files.isDirectory(outDir)) {
            System.err.println("error: --root: no engine/codegen/Ops.java.template under " + root.toAbsolutePath()
                    + " (run from the repository root or engine/, or pass --root ENGINE_DIR)");
            System.exit(2);
        }
        String text = Files.readString(template, StandardCharsets.UTF_8);
        List<String> stale = new ArrayList<>();
        for (Shape s : SHAPES) {
            String out = generate(text, s);
            Path file = outDir.resolve(s.className() + ".java");
            String now = Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : null;
            if (!out.equals(now)) {
                stale.add(file.toString());
                if (!check) {
                    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
                    Files.writeString(tmp, out, StandardCharsets.UTF_8);
                    Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                            java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                }
            }
        }
        if (check && !stale.isEmpty()) {
            System.err.println("stale generated classes (rerun java engine/codegen/GenerateOps.java): " + stale);
            System.exit(1);
        }
        System.out.println((check ? "up to date: " : "written: ") + (check ? SHAPES.size() : stale.size()) + " classes");
    }

    static String generate(String template, Shape s) {
        int lanes = s.bits() / 32;
        int live = 6 * s.nr() + s.nr() + 1;
        String out = template
                .replace("$MICRO_KERNELS$\n", microKernels(s.nr()))
                .replace("$CLASS$", s.className())
                .replace("$HALF_BITS$", Integer.toString(s.bits() / 2))
                .replace("$BITS$", Integer.toString(s.bits()))
                .replace("$LANES$", Integer.toString(lanes))
                .replace("$REGISTERS$", Integer.toString(s.registers()))
                .replace("$BLOCK_REGISTERS$", Integer.toString(live))
                .replace("$ACCUMULATORS$", Integer.toString(6 * s.nr()))
                .replace("$NR$", Integer.toString(s.nr()))
                .replace("$WHY$", s.why());
        if (out.contains("$")) {
            int at = out.indexOf('$');
            throw new IllegalStateException("template: unknown placeholder near '"
                    + out.substring(at, Math.min(out.length(), at + 30)) + "'");
        }
        return out;
    }

    /** The five register blocks: 6, 4 and 1 rows × NR vectors, and 4 and 1 rows × 1 vector (panel edges). */
    static String microKernels(int nr) {
        StringBuilder sb = new StringBuilder();
        block(sb, "block6", 6, nr, "6 rows × " + nr + " vectors: the main register block");
        block(sb, "block4", 4, nr, "4 rows × " + nr + " vectors: rows left over by the 6-row blocks");
        block(sb, "block1", 1, nr, "1 row × " + nr + " vectors: the last rows");
        block(sb, "column4", 4, 1, "4 rows × 1 vector: a partial panel's columns");
        block(sb, "column1", 1, 1, "1 row × 1 vector: a partial panel's last rows");
        return sb.toString();
    }

    /** How a micro-kernel indexes A: the layout decides which strides are compile-time constants. */
    enum ALayout {
        /** {@code aCs = 1}: each row of A contiguous (the forward's K·Qᵀ, the backward's K·Qᵀ and V·dOᵀ). */
        ROWS("Rows", "A's rows contiguous (aCs = 1)"),
        /** {@code aRs = 1}: A column-major, the rows of one k adjacent (the forward's P·V). */
        COLUMNS("Columns", "A column-major (aRs = 1)"),
        /** Any strides. */
        ANY("Any", "any strides");

        final String suffix;
        final String doc;

        ALayout(String suffix, String doc) {
            this.suffix = suffix;
            this.doc = doc;
        }
    }

    /**
     * One micro-kernel, as a dispatcher on A's layout and three variants:
     * {@code C[rows × vecs·L] (+)= A[rows × kd] · B[kd × vecs·L]} with
     * {@code A[r][k] = a[ao + r·aRs + k·aCs]}, {@code B[k][j] = b[bo + k·W + j]},
     * {@code C[r][j] = c[co + r·ldc + j]}; one FMA per element per k, in k order. In the variants a
     * stride of 1 is a constant, so that C2 can take the range checks of A's loads out of the k
     * loop (ROWS: {@code a[a_r + k]}) or merge them ({@code COLUMNS}: {@code a[ak + r]}), and no
     * multiply by a variable stride is left in it: the k loop is then the B loads, the broadcasts and
     * the FMAs, which is what keeps the FMA pipes fed.
     */
    static void block(StringBuilder sb, String name, int rows, int vecs, String doc) {
        sb.append("    /** ").append(doc).append(" (generated): dispatches on A's layout. */\n");
        sb.append("    private static void ").append(name).append("(boolean accumulate, float[] a, int ao, int aRs, int aCs, int kd,\n");
        sb.append("            float[] b, int bo, float[] c, int co, int ldc) {\n");
        sb.append("        if (aCs == 1) {\n");
        sb.append("            ").append(name).append("Rows(accumulate, a, ao, aRs, kd, b, bo, c, co, ldc);\n");
        sb.append("        } else if (aRs == 1) {\n");
        sb.append("            ").append(name).append("Columns(accumulate, a, ao, aCs, kd, b, bo, c, co, ldc);\n");
        sb.append("        } else {\n");
        sb.append("            ").append(name).append("Any(accumulate, a, ao, aRs, aCs, kd, b, bo, c, co, ldc);\n");
        sb.append("        }\n");
        sb.append("    }\n\n");
        for (ALayout layout : ALayout.values()) {
            variant(sb, name, rows, vecs, layout);
        }
    }

    private static void variant(StringBuilder sb, String name, int rows, int vecs, ALayout layout) {
        sb.append("    /** {@link #").append(name).append("} for ").append(layout.doc).append(" (generated). */\n");
        sb.append("    private static void ").append(name).append(layout.suffix).append("(boolean accumulate, float[] a, int ao, ")
                .append(switch (layout) {
                    case ROWS -> "int aRs, ";
                    case COLUMNS -> "int aCs, ";
                    case ANY -> "int aRs, int aCs, ";
                }).append("int kd,\n");
        sb.append("            float[] b, int bo, float[] c, int co, int ldc) {\n");
        List<String> acc = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            for (int v = 0; v < vecs; v++) {
                acc.add("c" + r + v);
            }
        }
        sb.append("        FloatVector ").append(String.join(", ", acc)).append(";\n");
        for (int r = 0; r < rows; r++) {
            sb.append("        int co").append(r).append(" = ").append(r == 0 ? "co" : "co" + (r - 1) + " + ldc").append(";\n");
        }
        sb.append("        if (accumulate) {\n");
        for (int r = 0; r < rows; r++) {
            for (int v = 0; v < vecs; v++) {
                sb.append("            c").append(r).append(v).append(" = FloatVector.fromArray(F, c, co").append(r)
                        .append(offset(v)).append(");\n");
            }
        }
        sb.append("        } else {\n");
        sb.append("            FloatVector z = FloatVector.zero(F);\n");
        for (int r = 0; r < rows; r++) {
            sb.append("           ");
            for (int v = 0; v < vecs; v++) {
                sb.append(" c").append(r).append(v).append(" = z;");
            }
            sb.append("\n");
        }
        sb.append("        }\n");
        if (layout != ALayout.COLUMNS) {
            for (int r = 0; r < rows; r++) {
                sb.append("        int a").append(r).append(" = ").append(r == 0 ? "ao" : "a" + (r - 1) + " + aRs").append(";\n");
            }
        }
        switch (layout) {
            case ROWS -> sb.append("        for (int k = 0; k < kd; k++) {\n");
            case COLUMNS -> sb.append("        for (int k = 0, ak = ao; k < kd; k++, ak += aCs) {\n");
            case ANY -> sb.append("        for (int k = 0, ak = 0; k < kd; k++, ak += aCs) {\n");
        }
        sb.append("            int bk = bo + k * W;\n");
        for (int v = 0; v < vecs; v++) {
            sb.append("            FloatVector b").append(v).append(" = FloatVector.fromArray(F, b, bk").append(offset(v)).append(");\n");
        }
        for (int r = 0; r < rows; r++) {
            String index = switch (layout) {
                case ROWS -> "a" + r + " + k";
                case COLUMNS -> r == 0 ? "ak" : "ak + " + r;
                case ANY -> "a" + r + " + ak";
            };
            sb.append("            ").append(r == 0 ? "FloatVector x" : "x").append(" = FloatVector.broadcast(F, a[").append(index).append("]);\n");
            for (int v = 0; v < vecs; v++) {
                sb.append("            c").append(r).append(v).append(" = x.fma(b").append(v).append(", c").append(r).append(v).append(");\n");
            }
        }
        sb.append("        }\n");
        for (int r = 0; r < rows; r++) {
            for (int v = 0; v < vecs; v++) {
                sb.append("        c").append(r).append(v).append(".intoArray(c, co").append(r).append(offset(v)).append(");\n");
            }
        }
        sb.append("    }\n\n");
    }

    private static String offset(int v) {
        return v == 0 ? "" : v == 1 ? " + L" : " + " + v + " * L";
    }
}
