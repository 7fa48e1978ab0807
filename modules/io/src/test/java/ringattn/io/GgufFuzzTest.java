package ringattn.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded mutations of a valid GGUF file (bit flips, byte sets and extreme 32- and 64-bit values
 * written over its header, truncations, insertions, extensions): every mutant must either parse to a
 * file whose every tensor and metadata value can be read, or fail with a {@link FileFormatException}
 * naming the file; any other exception, an out-of-memory error or a hang fails the test.
 */
class GgufFuzzTest {
    private static final int MUTANTS = 5000;
    private static final Path NAME = Path.of("mutant.gguf");
    /** Values a lying count, length, dimension, type or offset might hold. */
    private static final long[] EXTREMES = {0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 31, 32, 33, 64, 0xFF, 0xFFFF, 0x7FFF_FFFFL,
            0x8000_0000L, 0xFFFF_FFFFL, 1L << 32, 1L << 40, Long.MAX_VALUE, Long.MIN_VALUE, -1L, -32L};

    @TempDir
    Path dir;

    /** Every metadata type, each tensor type the reader widens and one it only sizes, alignment 64. */
    static byte[] valid() {
        byte[] q8 = new byte[68];
        q8[0] = 0x00;
        q8[1] = 0x38; // scale 0.5
        q8[34] = 0x00;
        q8[35] = 0x34; // scale 0.25
        for (int i = 0; i < 32; i++) {
            q8[2 + i] = (byte) (3 * i - 50);
            q8[36 + i] = (byte) (i - 16);
        }
        return new GgufWriter()
                .put("general.architecture", GgufValue.string("llama"))
                .put("general.alignment", GgufValue.uint32(64))
                .put("llama.block_count", GgufValue.uint32(5))
                .put("i8", GgufValue.scalar(GgufValueType.INT8, -3))
                .put("u64", GgufValue.scalar(GgufValueType.UINT64, 1L << 40))
                .put("f64", GgufValue.scalar(GgufValueType.FLOAT64, 0.5))
                .put("eps", GgufValue.float32(1e-5f))
                .put("yes", GgufValue.scalar(GgufValueType.BOOL, true))
                .put("tokenizer.ggml.tokens", GgufValue.strings(List.of("<unk>", "<s>", "▁a", "é")))
                .put("tokenizer.ggml.scores", GgufValue.floats(0, -1, -2, -3))
                .put("tokenizer.ggml.token_type", GgufValue.integers(GgufValueType.INT32, 2, 3, 1, 1))
                .put("flags", GgufValue.integers(GgufValueType.BOOL, 0, 1))
                .tensor("f32", GgmlType.F32, new long[] {3, 2}, GgufWriter.f32(1, 2, 3, 4, 5, 6))
                .tensor("f16", GgmlType.F16, new long[] {4}, GgufWriter.bytes(new byte[] {0, 0x3C, 0, (byte) 0xC0, 0, 0x38, 1, 0}))
                .tensor("bf16", GgmlType.BF16, new long[] {2}, GgufWriter.bytes(new byte[] {(byte) 0x80, 0x3F, 0, (byte) 0xC0}))
                .tensor("q8", GgmlType.Q8_0, new long[] {32, 2}, GgufWriter.bytes(q8))
                .tensor("q4", GgmlType.Q4_0, new long[] {32}, GgufWriter.bytes(new byte[18]))
                .toBytes();
    }

    static byte[] mutate(byte[] valid, int headerEnd, SplittableRandom rnd) {
        byte[] b = valid.clone();
        int edits = 1 + rnd.nextInt(3);
        for (int e = 0; e < edits && b.length > 0; e++) {
            int header = Math.min(b.length, headerEnd);
            switch (rnd.nextInt(7)) {
                case 0 -> b[rnd.nextInt(b.length)] ^= (byte) (1 << rnd.nextInt(8));
                case 1 -> b[rnd.nextInt(header)] ^= (byte) (1 << rnd.nextInt(8));
                case 2 -> b[rnd.nextInt(header)] = (byte) rnd.nextInt(256);
                case 3 -> b = Arrays.copyOf(b, rnd.nextInt(b.length + 1));
                case 4 -> b = Arrays.copyOf(b, b.length + 1 + rnd.nextInt(256));
                case 5 -> {
                    int at = rnd.nextInt(header);
                    byte[] ins = new byte[1 + rnd.nextInt(8)];
                    rnd.nextBytes(ins);
                    byte[] out = new byte[b.length + ins.length];
                    System.arraycopy(b, 0, out, 0, at);
                    System.arraycopy(ins, 0, out, at, ins.length);
                    System.arraycopy(b, at, out, at + ins.length, b.length - at);
                    b = out;
                }
                default -> {
                    int width = rnd.nextBoolean() ? 4 : 8;
                    if (header >= width) {
                        int at = rnd.nextInt(header - width + 1);
                        long v = EXTREMES[rnd.nextInt(EXTREMES.length)];
                        for (int k = 0; k < width; k++) {
                            b[at + k] = (byte) (v >>> (8 * k));
                        }
                    }
                }
            }
        }
        return b;
    }

    /** Reads everything a parsed file offers; accessors may refuse a value only with a FileFormatException. */
    static void readAll(Gguf g) {
        for (GgufTensor t : g.tensors().values()) {
            assertEquals(t.byteSize(), g.data(t).byteSize(), t.name());
            if (t.type().isDequantizable() && t.elementCount() <= 1 << 20) {
                assertEquals(t.elementCount(), g.floats(t).length, t.name());
            }
        }
        GgufMetadata m = g.metadata();
        for (String key : m.keys()) {
            GgufValue v = m.get(key);
            try {
                if (v.type() == GgufValueType.ARRAY) {
                    switch (v.elementType()) {
                        case STRING -> m.strings(key);
                        case FLOAT32, FLOAT64 -> m.floats(key);
                        case BOOL -> assertTrue(v.length() >= 0);
                        default -> m.ints(key);
                    }
                } else if (v.type().isInteger()) {
                    m.integer(key);
                } else if (v.type() == GgufValueType.STRING) {
                    m.string(key);
                } else if (v.type() == GgufValueType.BOOL) {
                    m.bool(key, false);
                } else {
                    m.number(key);
                }
            } catch (FileFormatException e) {
                assertTrue(e.getMessage().startsWith(g.file() + ": metadata '"), e.getMessage());
            }
        }
    }

    static int[] fuzz(byte[] valid, long seed) {
        int headerEnd = (int) Gguf.parse(NAME, MemorySegment.ofArray(valid)).dataOffset();
        SplittableRandom rnd = new SplittableRandom(seed);
        int parsed = 0;
        int rejected = 0;
        for (int i = 0; i < MUTANTS; i++) {
            byte[] m = mutate(valid, headerEnd, rnd);
            try {
                readAll(Gguf.parse(NAME, MemorySegment.ofArray(m)));
                parsed++;
            } catch (FileFormatException e) {
                assertTrue(e.getMessage().startsWith(NAME + ": "), e.getMessage());
                JsonTest.assertShortOneLine(e.getMessage());
                rejected++;
            } catch (Throwable t) {
                throw new AssertionError("mutant " + i + " (seed " + seed + ") threw " + t + ": "
                        + HexFormat.of().formatHex(m, 0, Math.min(m.length, headerEnd)), t);
            }
        }
        return new int[] {parsed, rejected};
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void mutantsParseCompletelyOrFailClearly() {
        byte[] valid = valid();
        readAll(Gguf.parse(NAME, MemorySegment.ofArray(valid)));
        for (long seed : new long[] {17, 4242}) {
            int[] r = fuzz(valid, seed);
            System.out.println("GGUF mutants (seed " + seed + "): parsed " + r[0] + ", rejected " + r[1]);
            assertTrue(r[1] > MUTANTS / 2, "most mutants are rejected: " + Arrays.toString(r));
            assertTrue(r[0] > 0, "some mutants (data-only edits) still parse: " + Arrays.toString(r));
        }
    }

    /** The mapped path (a file on disk, Gguf.read) behaves the same; the message names the file. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void mappedMutantsOnDiskBehaveTheSame() throws Exception {
        byte[] valid = valid();
        int headerEnd = (int) Gguf.parse(NAME, MemorySegment.ofArray(valid)).dataOffset();
        SplittableRandom rnd = new SplittableRandom(5);
        for (int i = 0; i < 200; i++) {
            Path f = dir.resolve("m" + i + ".gguf");
            Files.write(f, mutate(valid, headerEnd, rnd));
            try (Arena arena = Arena.ofConfined()) {
                readAll(Gguf.read(f, arena));
            } catch (FileFormatException e) {
                assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
            }
        }
    }

    /** Files that are not GGUF at all (text, an .npy, a safetensors file) are refused without echoing their bytes. */
    @Test
    void otherFormatsAreRefused() {
        List<byte[]> others = List.of(HostileFileFuzzTest.validNpy(1), HostileFileFuzzTest.validSafetensors(),
                "GGUF but not really".getBytes(StandardCharsets.US_ASCII), new byte[1 << 16]);
        for (byte[] b : others) {
            try {
                Gguf.parse(NAME, MemorySegment.ofArray(b));
                throw new AssertionError("parsed " + new String(b, 0, 16, StandardCharsets.ISO_8859_1));
            } catch (FileFormatException e) {
                JsonTest.assertShortOneLine(e.getMessage());
                assertTrue(e.getMessage().startsWith(NAME + ": "), e.getMessage());
            }
        }
    }
}
