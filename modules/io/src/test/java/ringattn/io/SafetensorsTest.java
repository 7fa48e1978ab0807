package ringattn.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

class SafetensorsTest {
    @TempDir
    Path dir;

    static byte[] file(String json, byte[] data) {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length).put(h).put(data).array();
    }

    ArrayData parse(byte[] bytes, String name) {
        return Safetensors.parse(Path.of("x.safetensors"), name, MemorySegment.ofArray(bytes));
    }

    @Test
    void roundTripsF32F16Bf16InOneFileAndSelectsByName() throws Exception {
        try (Tensor t = Tensor.allocate(2, 2, 2, DType.BF16)) {
            for (int i = 0; i < 8; i++) {
                t.setFlat(i, i - 3.5f);
            }
            MemorySegment f16 = Arena.ofAuto().allocate(6);
            for (int i = 0; i < 3; i++) {
                f16.setAtIndex(ArrayData.I16_LE, i, Float.floatToFloat16(i * 0.25f));
            }
            Map<String, ArrayData> m = new LinkedHashMap<>();
            m.put("q", ArrayData.of(t));
            m.put("half", ArrayData.of(ElementType.F16, new long[] {3}, f16));
            m.put("single", ArrayData.of(ElementType.F32, new long[] {1, 1}, NpyTest.floats(7f)));
            Path f = dir.resolve("t.safetensors");
            Safetensors.write(f, m);
            byte[] raw = Files.readAllBytes(f);
            long headerLen = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, headerLen % 8, "header padded to 8 bytes");
            try (Arena arena = Arena.ofConfined()) {
                ArrayData q = TensorFiles.read(f + ":q", arena);
                assertEquals(ElementType.BF16, q.type());
                Tensor back = q.toTensor("--q");
                assertEquals(DType.BF16, back.dtype());
                assertEquals(0.5f, back.get(1, 0, 0));
                assertEquals(0.5f, TensorFiles.read(f + ":half", arena).getFloat(2));
                assertEquals(7f, TensorFiles.read(f + ":single", arena).getFloat(0));
                FileFormatException e = assertThrows(FileFormatException.class, () -> TensorFiles.read(f.toString(), arena));
                assertTrue(e.getMessage().contains("holds 3 tensors [q, half, single]"), e.getMessage());
                e = assertThrows(FileFormatException.class, () -> TensorFiles.read(f + ":nope", arena));
                assertTrue(e.getMessage().contains("no tensor named 'nope'"), e.getMessage());
            }
        }
    }

    @Test
    void acceptsMetadataAndASingleUnnamedTensor() {
        byte[] b = file("{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                NpyTest.le(3f));
        assertEquals(3f, parse(b, null).getFloat(0));
    }

    /**
     * Metadata is written first in the header; the header index and one tensor over the mapping
     * ({@code entries} then {@code tensor}) give what {@code parse} gives.
     */
    @Test
    void writesMetadataAndReadsTensorsThroughTheIndex() throws Exception {
        Map<String, ArrayData> m = new LinkedHashMap<>();
        m.put("a", ArrayData.of(ElementType.F32, new long[] {2}, NpyTest.floats(1f, 2f)));
        m.put("b", ArrayData.of(ElementType.F32, new long[] {1, 1}, NpyTest.floats(-4f)));
        Path f = dir.resolve("m.safetensors");
        Safetensors.write(f, m, Map.of("format", "pt"));
        String header = new String(Files.readAllBytes(f), 8, 40, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{\"__metadata__\":{\"format\":\"pt\"},\"a\":"), header);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = MappedFile.readOnly(f, arena);
            Map<String, Safetensors.Entry> entries = Safetensors.entries(f, bytes);
            assertEquals(List.of("a", "b"), List.copyOf(entries.keySet()));
            ArrayData b = Safetensors.tensor(f, bytes, entries.get("b"));
            assertArrayEquals(new long[] {1, 1}, b.shape());
            assertEquals(-4f, b.getFloat(0));
            assertEquals(f + ":b", b.source());
        }
    }

    void rejects(String expected, byte[] bytes) {
        FileFormatException e = assertThrows(FileFormatException.class, () -> parse(bytes, null));
        assertTrue(e.getMessage().startsWith("x.safetensors: "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void rejectsHostileFiles() {
        byte[] data = NpyTest.le(1, 2);
        String ok = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        rejects("only 3 bytes", new byte[3]);
        byte[] huge = file(ok, data);
        huge[7] = 0x7F;
        rejects("over the 104857600-byte limit", huge);
        huge[7] = 0;
        huge[2] = 0x10;
        rejects("does not fit in the file", huge);
        rejects("bad JSON", file(ok.replace("}}", "}"), data));
        rejects("expected a JSON object", file("[1,2,3]", data));
        rejects("outside the 4 data bytes", file(ok, NpyTest.le(1)));
        rejects("hold 8 bytes", file(ok.replace("[2]", "[3]"), data));
        rejects("unsupported dtype F64", file(ok.replace("F32", "F64"), data));
        rejects("non-negative", file(ok.replace("[2]", "[-2]"), data));
        rejects("absurdly large", file(ok.replace("[2]", "[99999999999999999999999]"), data));
        rejects("overflows", file(ok.replace("[2]", "[4611686018427387904,8]"), data));
        rejects("nested deeper", file("{\"a\":" + "[".repeat(500) + "]".repeat(500) + "}", data));
        rejects("not valid UTF-8", file(ok, data).length > 0 ? withByte(file(ok, data), 10, (byte) 0xC3) : null);
        rejects("duplicate key", file("{\"w\":1,\"w\":2}", data));
    }

    /**
     * A 2 MB header whose shape holds a 2,000,000-digit number fails fast with a short one-line
     * message; unbounded, the number became a BigInteger in quadratic time and the message held it.
     */
    @Test
    void hugeShapeNumberFailsFastWithAShortMessage() {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[" + "7".repeat(2_000_000) + "],\"data_offsets\":[0,8]}}";
        byte[] bytes = file(header, NpyTest.le(1, 2));
        FileFormatException e = assertTimeoutPreemptively(JsonTest.HANG_GUARD,
                () -> assertThrows(FileFormatException.class, () -> parse(bytes, null)));
        assertTrue(e.getMessage().startsWith("x.safetensors: header: bad JSON at character 29: number of 2000000 characters"),
                e.getMessage());
        JsonTest.assertShortOneLine(e.getMessage());
    }

    /** Names, dtypes and values from the header reach messages cut and on one line. */
    @Test
    void headerTextIsCutInMessages() {
        String name = "n\\n".repeat(100_000); // JSON escapes: the name holds newlines
        String big = "{\"" + name + "\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[0,8]}}";
        List<byte[]> hostile = List.of(
                file(big.formatted("F32", "[3]"), NpyTest.le(1, 2)),
                file(big.formatted("X".repeat(1_000_000), "[2]"), NpyTest.le(1, 2)),
                file(big.formatted("F32", "[\"" + "s".repeat(1_000_000) + "\"]"), NpyTest.le(1, 2)),
                file(big.formatted("F32", "[2, [[[[" + "1,".repeat(500_000) + "1]]]]]"), NpyTest.le(1, 2)));
        for (byte[] b : hostile) {
            FileFormatException e = assertThrows(FileFormatException.class, () -> parse(b, null));
            assertTrue(e.getMessage().contains("tensor 'n\\u000an"), e.getMessage());
            JsonTest.assertShortOneLine(e.getMessage());
        }
        String two = "{\"" + name + "1\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"" + name + "2\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        FileFormatException e = assertThrows(FileFormatException.class, () -> parse(file(two, NpyTest.le(1, 2)), "other"));
        assertTrue(e.getMessage().contains("no tensor named 'other'"), e.getMessage());
        JsonTest.assertShortOneLine(e.getMessage());
    }

    /**
     * A file that is not safetensors (text, say) is refused without its first 8 bytes in the
     * message: read as the header length they used to be printed as a number anyone can decode.
     */
    @Test
    void aTextFileIsRefusedWithoutEchoingItsFirstBytes() {
        byte[] text = "root:x:0:0:root:/root:/bin/bash\n".repeat(4).getBytes(StandardCharsets.US_ASCII);
        long first8 = ByteBuffer.wrap(text).order(ByteOrder.LITTLE_ENDIAN).getLong();
        FileFormatException e = assertThrows(FileFormatException.class, () -> parse(text, null));
        assertTrue(e.getMessage().contains("not a safetensors file"), e.getMessage());
        assertFalse(e.getMessage().contains(Long.toUnsignedString(first8)), e.getMessage());
        assertFalse(e.getMessage().contains(Long.toString(first8)), e.getMessage());
    }

    static byte[] withByte(byte[] b, int at, byte v) {
        b[at] = v;
        b[at + 1] = (byte) 0x28;
        return b;
    }

    @Test
    void groupsOutputsNamingOneFile() {
        Path f = dir.resolve("o.safetensors");
        TensorFiles.write(List.of(
                new TensorFiles.Output(f + ":o", ArrayData.of(ElementType.F32, new long[] {1}, NpyTest.floats(1))),
                new TensorFiles.Output(f + ":lse", ArrayData.of(ElementType.F32, new long[] {2}, NpyTest.floats(2, 3)))),
                Map.of());
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(3f, TensorFiles.read(f + ":lse", arena).getFloat(1));
            assertArrayEquals(new long[] {1}, TensorFiles.read(f + ":o", arena).shape());
        }
    }
}
