package ringattn.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** GGUF files: every metadata type, the tensor table and alignment, dequantization, and hostile headers. */
class GgufTest {
    static final Path NAME = Path.of("x.gguf");

    @TempDir
    Path dir;

    static Gguf parse(byte[] b) {
        return Gguf.parse(NAME, MemorySegment.ofArray(b));
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void readsEveryMetadataType(int version) {
        GgufWriter w = new GgufWriter(version)
                .put("u8", GgufValue.scalar(GgufValueType.UINT8, 255))
                .put("i8", GgufValue.scalar(GgufValueType.INT8, -128))
                .put("u16", GgufValue.scalar(GgufValueType.UINT16, 65535))
                .put("i16", GgufValue.scalar(GgufValueType.INT16, -32768))
                .put("u32", GgufValue.uint32(4_000_000_000L))
                .put("i32", GgufValue.scalar(GgufValueType.INT32, Integer.MIN_VALUE))
                .put("u64", GgufValue.scalar(GgufValueType.UINT64, -1L)) // 2^64 - 1
                .put("i64", GgufValue.scalar(GgufValueType.INT64, Long.MIN_VALUE))
                .put("f32", GgufValue.float32(1.5f))
                .put("f64", GgufValue.scalar(GgufValueType.FLOAT64, -2.25e300))
                .put("yes", GgufValue.scalar(GgufValueType.BOOL, true))
                .put("name", GgufValue.string("stories ✓ \uD83D\uDE00"))
                .put("tokens", GgufValue.strings(List.of("<unk>", "", "▁the", "\uD83D\uDE00")))
                .put("scores", GgufValue.floats(0f, -1.5f, 3e-8f))
                .put("scores64", GgufValue.doubles(0.25, -7))
                .put("types", GgufValue.integers(GgufValueType.INT32, 1, -2, 3))
                .put("small", GgufValue.integers(GgufValueType.UINT8, 0, 255))
                .put("big", GgufValue.integers(GgufValueType.UINT32, 1, 4_000_000_000L))
                .put("flags", GgufValue.integers(GgufValueType.BOOL, 1, 0));
        Gguf g = parse(w.toBytes());
        assertEquals(version, g.version());
        GgufMetadata m = g.metadata();
        assertEquals(19, m.size());
        assertEquals(List.of("u8", "i8", "u16"), List.copyOf(m.keys()).subList(0, 3), "file order");
        assertEquals(255, m.integer("u8"));
        assertEquals(-128, m.integer("i8"));
        assertEquals(65535, m.integer("u16"));
        assertEquals(-32768, m.integer("i16"));
        assertEquals(4_000_000_000L, m.integer("u32"));
        assertEquals(Integer.MIN_VALUE, m.integer("i32"));
        assertEquals(Long.MIN_VALUE, m.integer("i64"));
        assertEquals(GgufValueType.UINT64, m.get("u64").type());
        assertEquals(-1L, m.get("u64").scalar(), "uint64 bits kept");
        rejects("metadata 'u64': 18446744073709551615 is too large", () -> m.integer("u64"));
        assertEquals(1.5, m.number("f32"));
        assertEquals(-2.25e300, m.number("f64"));
        assertEquals(255.0, m.number("u8"));
        assertTrue(m.bool("yes", false));
        assertTrue(m.bool("absent", true));
        assertEquals("stories ✓ \uD83D\uDE00", m.string("name"));
        assertEquals(List.of("<unk>", "", "▁the", "\uD83D\uDE00"), m.strings("tokens"));
        assertArrayEquals(new float[] {0f, -1.5f, 3e-8f}, m.floats("scores"));
        assertArrayEquals(new float[] {0.25f, -7f}, m.floats("scores64"));
        assertArrayEquals(new int[] {1, -2, 3}, m.ints("types"));
        assertArrayEquals(new int[] {0, 255}, m.ints("small"));
        assertEquals("array of 2 bool", m.get("flags").describe());
        assertEquals(7, m.integer("missing", 7));
        assertEquals("d", m.string("missing", "d"));

        rejects("metadata 'big': element 1 (4000000000) does not fit an int", () -> m.ints("big"));
        rejects("metadata 'name': expected an integer, got string", () -> m.integer("name"));
        rejects("metadata 'u8': expected a string, got uint8", () -> m.string("u8"));
        rejects("metadata 'tokens': expected an array of floats, got array of 4 string", () -> m.floats("tokens"));
        rejects("metadata 'scores': expected an array of strings", () -> m.strings("scores"));
        rejects("metadata 'scores': expected an array of integers", () -> m.ints("scores"));
        rejects("metadata 'f32': expected an array, got float32", () -> m.ints("f32"));
        rejects("metadata 'name': expected a bool", () -> m.bool("name", true));
        rejects("metadata 'nope': missing", () -> m.number("nope"));
    }

    /**
     * Tensors are packed at multiples of the alignment (32 by default, general.alignment when set);
     * dims are ggml's (fastest first), shape the reverse; data is a view of the file at the right place.
     */
    @ParameterizedTest
    @ValueSource(ints = {0, 64})
    void tensorTableAndAlignment(int alignment) {
        GgufWriter w = new GgufWriter();
        if (alignment > 0) {
            w.put("general.alignment", GgufValue.uint32(alignment));
        }
        float[] a = {1, 2, 3, 4, 5, 6};
        w.tensor("a", GgmlType.F32, new long[] {3, 2}, GgufWriter.f32(a));
        w.tensor("b", GgmlType.F32, new long[] {1}, GgufWriter.f32(-9));
        w.tensor("c", GgmlType.F32, new long[] {2, 1, 1, 1}, GgufWriter.f32(7, 8));
        byte[] bytes = w.toBytes();
        Gguf g = parse(bytes);
        long align = alignment > 0 ? alignment : 32;
        assertEquals(align, g.alignment());
        assertEquals(0, g.dataOffset() % align);
        assertEquals(List.of("a", "b", "c"), List.copyOf(g.tensors().keySet()));
        GgufTensor ta = g.tensor("a");
        assertArrayEquals(new long[] {3, 2}, ta.dims());
        assertArrayEquals(new long[] {2, 3}, ta.shape());
        assertEquals(3, ta.rowLength());
        assertEquals(2, ta.rows());
        assertEquals(24, ta.byteSize());
        assertEquals(0, ta.offset());
        assertEquals(align, g.tensor("b").offset());
        assertEquals(2 * align, g.tensor("c").offset());
        assertArrayEquals(a, g.floats(ta));
        assertArrayEquals(new float[] {7, 8}, g.floats(g.tensor("c")));
        assertEquals(-9f, MemorySegment.ofArray(bytes).get(ArrayData.F32_LE, g.dataOffset() + align), "b's bytes where its offset says");
        assertEquals(-9f, g.data(g.tensor("b")).get(ArrayData.F32_LE, 0));
        rejects("no tensor named 'd'", () -> g.tensor("d"));
    }

    static byte[] f16(int... bits) {
        byte[] b = new byte[2 * bits.length];
        for (int i = 0; i < bits.length; i++) {
            b[2 * i] = (byte) bits[i];
            b[2 * i + 1] = (byte) (bits[i] >> 8);
        }
        return b;
    }

    /**
     * Hand-encoded F16, BF16 and Q8_0 tensors widen to known values: F16 1.5, −2, 65504 (largest),
     * 2⁻²⁴ (smallest subnormal), +∞; BF16 the same bit patterns' meanings; Q8_0 two blocks (one per
     * row) with scales 0.5 and 0.25 and int8 quants −128…127; a row range reads only its rows.
     */
    @Test
    void dequantizesF16Bf16AndQ8_0ToKnownValues() throws Exception {
        byte[] q8 = new byte[68];
        byte[] s1 = f16(0x3800); // 0.5
        byte[] s2 = f16(0x3400); // 0.25
        System.arraycopy(s1, 0, q8, 0, 2);
        System.arraycopy(s2, 0, q8, 34, 2);
        byte[] first = {-128, -1, 0, 1, 127};
        System.arraycopy(first, 0, q8, 2, first.length);
        for (int i = 0; i < 32; i++) {
            q8[36 + i] = (byte) (i - 16);
        }
        GgufWriter w = new GgufWriter()
                .tensor("half", GgmlType.F16, new long[] {5}, GgufWriter.bytes(f16(0x3E00, 0xC000, 0x7BFF, 0x0001, 0x7C00)))
                .tensor("brain", GgmlType.BF16, new long[] {2, 2}, GgufWriter.bytes(f16(0x3FC0, 0xC000, 0x7F80, 0x0001)))
                .tensor("q8", GgmlType.Q8_0, new long[] {32, 2}, GgufWriter.bytes(q8))
                .tensor("q4", GgmlType.Q4_0, new long[] {32}, GgufWriter.bytes(new byte[18]));
        Path f = dir.resolve("types.gguf");
        w.write(f);
        try (Arena arena = Arena.ofConfined()) {
            Gguf g = Gguf.read(f, arena);
            assertArrayEquals(new float[] {1.5f, -2f, 65504f, 0x1p-24f, Float.POSITIVE_INFINITY}, g.floats(g.tensor("half")));
            assertArrayEquals(new float[] {1.5f, -2f, Float.POSITIVE_INFINITY, Float.intBitsToFloat(0x10000)},
                    g.floats(g.tensor("brain")));
            float[] q = g.floats(g.tensor("q8"));
            assertArrayEquals(new float[] {-64f, -0.5f, 0f, 0.5f, 63.5f, 0f}, java.util.Arrays.copyOf(q, 6));
            for (int i = 0; i < 32; i++) {
                assertEquals((i - 16) * 0.25f, q[32 + i], "second block, element " + i);
            }
            MemorySegment row = arena.allocate(4 * 32);
            g.dequantizeRows(g.tensor("q8"), 1, 1, row, 0);
            assertEquals(-4f, row.getAtIndex(ArrayData.F32_LE, 0));
            assertEquals(3.75f, row.getAtIndex(ArrayData.F32_LE, 31));
            assertEquals(34, g.data(g.tensor("q8")).byteSize() / 2, "Q8_0: 34 bytes a block");
            assertEquals(18, g.tensor("q4").byteSize());
            rejects("tensor 'q4': ggml type Q4_0 cannot be read (supported: F32, F16, BF16, Q8_0)", () -> g.floats(g.tensor("q4")));
            assertThrows(IndexOutOfBoundsException.class, () -> g.dequantizeRows(g.tensor("q8"), 1, 2, row, 0));
        }
    }

    /** The real stories260K GGUF beside the checkout (see its README), when there. */
    static final Path STORIES = Path.of("../../../shared/models/stories260K/stories260K.gguf");

    @Test
    void readsTheRealStories260K() {
        assumeTrue(Files.isRegularFile(STORIES), "no shared model at " + STORIES.toAbsolutePath().normalize());
        try (Arena arena = Arena.ofConfined()) {
            Gguf g = Gguf.read(STORIES, arena);
            assertEquals(3, g.version());
            assertEquals(19, g.metadata().size());
            assertEquals(48, g.tensors().size());
            assertEquals("llama", g.metadata().string("general.architecture"));
            assertEquals(5, g.metadata().integer("llama.block_count"));
            assertEquals(512, g.metadata().strings("tokenizer.ggml.tokens").size());
            assertEquals("<s>", g.metadata().strings("tokenizer.ggml.tokens").get(1));
            GgufTensor embed = g.tensor("token_embd.weight");
            assertEquals(GgmlType.F32, embed.type());
            assertArrayEquals(new long[] {512, 64}, embed.shape());
            assertArrayEquals(new long[] {64, 32}, g.tensor("blk.0.attn_k.weight").dims());
            assertEquals(Files.size(STORIES), g.dataOffset() + g.tensor("blk.4.ffn_norm.weight").offset() + 256);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    static void rejects(String expected, Runnable r) {
        FileFormatException e = assertThrows(FileFormatException.class, r::run);
        assertTrue(e.getMessage().startsWith(NAME + ": ") || e.getMessage().contains(".gguf: "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        JsonTest.assertShortOneLine(e.getMessage());
    }

    static void rejects(String expected, byte[] file) {
        rejects(expected, () -> parse(file));
    }

    static final long ABSURD = 0x8000_0000_0000_0010L;

    /** Header fields that lie, one at a time: each a one-line FileFormatException saying what is wrong. */
    @Test
    void rejectsHostileHeaders() {
        rejects("not a GGUF file", new byte[0]);
        rejects("not a GGUF file", new byte[] {'G', 'G', 'U'});
        rejects("not a GGUF file", "root:x:0:0:root:/root:/bin/bash\n".getBytes());
        rejects("GGUF version 1 is not supported (2 and 3 are)", RawGguf.header(1, 0, 0).done());
        rejects("GGUF version 4 is not supported", RawGguf.header(4, 0, 0).done());
        rejects("big-endian GGUF is not supported", RawGguf.header(0x0300_0000L, 0, 0).done());
        rejects("truncated: the version needs 4 bytes at offset 4", new byte[] {'G', 'G', 'U', 'F', 3});
        rejects("the tensor count 18446744073709551615 cannot fit", RawGguf.header(3, -1, 0).done());
        rejects("the tensor count 1099511627776 cannot fit", RawGguf.header(3, 1L << 40, 0).zeros(64).done());
        rejects("the metadata count 9223372036854775824 cannot fit", RawGguf.header(3, 0, ABSURD).done());
        rejects("the metadata count 5 cannot fit in the 56 bytes left", RawGguf.header(3, 0, 5).zeros(56).done());

        rejects("truncated: metadata key #0 claims 9223372036854775824 bytes",
                RawGguf.header(3, 0, 1).u64(ABSURD).zeros(16).done());
        rejects("metadata key #0: 70000 bytes is over the 65536-byte limit",
                RawGguf.header(3, 0, 1).u64(70_000).zeros(70_010).done());
        rejects("metadata key #0: not valid UTF-8",
                RawGguf.header(3, 0, 1).u64(2).bytes(new byte[] {(byte) 0xC3, 0x28}).u32(4).u32(1).done());
        rejects("metadata key #0 is empty", RawGguf.header(3, 0, 1).str("").u32(4).u32(1).done());
        rejects("metadata 'a' appears twice", RawGguf.header(3, 0, 2).kvU32("a", 1).kvU32("a", 2).done());
        rejects("metadata 'a': unknown value type 13", RawGguf.header(3, 0, 1).str("a").u32(13).u32(0).done());
        rejects("metadata 'a': arrays of arrays are not supported",
                RawGguf.header(3, 0, 1).str("a").u32(9).u32(9).u64(0).done());
        rejects("metadata 'a': unknown array element type 99",
                RawGguf.header(3, 0, 1).str("a").u32(9).u32(99).u64(0).done());
        rejects("metadata 'a': 9223372036854775824 elements cannot fit",
                RawGguf.header(3, 0, 1).str("a").u32(9).u32(4).u64(ABSURD).done());
        rejects("metadata 'a': 3 elements cannot fit in the 8 bytes left",
                RawGguf.header(3, 0, 1).str("a").u32(9).u32(4).u64(3).zeros(8).done());
        rejects("metadata 'a': bool byte 2 is neither 0 nor 1", RawGguf.header(3, 0, 1).str("a").u32(7).u8(2).done());
        rejects("metadata 'a'[1]: bool byte 7 is neither 0 nor 1",
                RawGguf.header(3, 0, 1).str("a").u32(9).u32(7).u64(2).u8(1).u8(7).done());
        rejects("metadata 'a'[1]: not valid UTF-8", RawGguf.header(3, 0, 1).str("a").u32(9).u32(8).u64(2).str("ok")
                .u64(1).u8(0xFF).done());
        rejects("truncated: metadata 'a' needs 8 bytes", RawGguf.header(3, 0, 1).str("a").u32(12).u32(0).done());
        rejects("metadata 'general.alignment': expected a uint32, got uint64",
                RawGguf.header(3, 0, 1).str("general.alignment").u32(10).u64(32).done());
        rejects("metadata 'general.alignment': 48 is not a power of two",
                RawGguf.header(3, 0, 1).kvU32("general.alignment", 48).done());
        rejects("metadata 'general.alignment': 0 is not a power of two",
                RawGguf.header(3, 0, 1).kvU32("general.alignment", 0).done());
    }

    /** One F32 tensor info (name, dims, type, offset) followed by {@code data} bytes of data, aligned to 32. */
    static byte[] oneTensor(String name, long type, long offset, int data, long... dims) {
        RawGguf r = RawGguf.header(3, 1, 0).tensor(name, type, offset, dims);
        return r.pad(32).zeros(data).done();
    }

    @Test
    void rejectsHostileTensorTables() {
        rejects("tensor 'w': 5 dimensions (1 to 4 are allowed)", oneTensor("w", 0, 0, 64, 1, 1, 1, 1, 1));
        rejects("tensor 'w': 0 dimensions", oneTensor("w", 0, 0, 64));
        rejects("tensor 'w': dimension 1 (9223372036854775824) is absurdly large", oneTensor("w", 0, 0, 64, 2, ABSURD));
        rejects("tensor 'w': shape [1099511627776, 1099511627776] overflows", oneTensor("w", 0, 0, 64, 1L << 40, 1L << 40));
        rejects("tensor 'w': unknown ggml type 4", oneTensor("w", 4, 0, 64, 2));
        rejects("tensor 'w': first dimension 20 is not a multiple of the Q8_0 block size 32", oneTensor("w", 8, 0, 64, 20));
        rejects("tensor 'w': offset 4 is not a multiple of the alignment 32", oneTensor("w", 0, 4, 64, 2));
        rejects("tensor 'w': offset 9223372036854775824 is absurdly large", oneTensor("w", 0, ABSURD, 64, 2));
        rejects("tensor 'w': bytes [0, +256) lie outside the 64-byte data section", oneTensor("w", 0, 0, 64, 8, 8));
        rejects("tensor 'w': bytes [64, +4) lie outside the 64-byte data section", oneTensor("w", 0, 64, 64, 1));
        rejects("tensor #0 has an empty name", oneTensor("", 0, 0, 64, 1));
        rejects("the name of tensor #0: 300 bytes is over the 256-byte limit", oneTensor("n".repeat(300), 0, 0, 64, 1));
        rejects("the data section would start at byte 64, past the end of the file (57 bytes",
                RawGguf.header(3, 1, 0).tensor("w", 0, 0, 1).done());
        rejects("tensors 'a' and 'b' overlap", RawGguf.header(3, 2, 0).tensor("a", 0, 0, 16).tensor("b", 0, 32, 16)
                .pad(32).zeros(128).done());
        rejects("tensor 'a' appears twice", RawGguf.header(3, 2, 0).tensor("a", 0, 0, 1).tensor("a", 0, 32, 1)
                .pad(32).zeros(64).done());
    }

    /** Zero-element tensors take no bytes and may share an offset; a file of metadata only needs no data section. */
    @Test
    void acceptsEmptyTensorsAndNoData() {
        Gguf g = parse(RawGguf.header(3, 2, 0).tensor("a", 0, 0, 0, 3).tensor("b", 0, 0, 4).pad(32).zeros(16).done());
        assertEquals(0, g.tensor("a").byteSize());
        assertEquals(16, g.tensor("b").byteSize());
        Gguf meta = parse(RawGguf.header(3, 0, 1).kvU32("general.alignment", 1 << 20).done());
        assertEquals(1 << 20, meta.alignment());
        assertTrue(meta.tensors().isEmpty());
    }

    /**
     * Every prefix of a valid file that cuts into its header or data is refused (a truncated download
     * never half-loads); only the padding after the last tensor may go.
     */
    @Test
    void everyTruncationIsRefused() {
        byte[] valid = new GgufWriter().put("general.architecture", GgufValue.string("llama"))
                .put("tokens", GgufValue.strings(List.of("a", "bc")))
                .tensor("w", GgmlType.F32, new long[] {3}, GgufWriter.f32(1, 2, 3)).toBytes();
        Gguf whole = parse(valid);
        long end = whole.dataOffset() + whole.tensor("w").offset() + whole.tensor("w").byteSize();
        assertTrue(end < valid.length, "the writer pads after the last tensor too");
        for (int n = 0; n < end; n++) {
            byte[] cut = java.util.Arrays.copyOf(valid, n);
            FileFormatException e = assertThrows(FileFormatException.class, () -> parse(cut), "prefix of " + n + " bytes");
            JsonTest.assertShortOneLine(e.getMessage());
        }
        assertArrayEquals(new float[] {1, 2, 3}, parse(java.util.Arrays.copyOf(valid, (int) end)).floats(whole.tensor("w")));
    }

    /** Hostile names reach messages cut and on one line. */
    @Test
    void hostileNamesAreCutInMessages() {
        String name = "n\n".repeat(100);
        rejects("tensor 'n\\u000an", oneTensor(name, 4, 0, 64, 2));
        rejects("metadata 'n\\u000an", RawGguf.header(3, 0, 1).str("n\n".repeat(1000)).u32(77).done());
    }
}
