package ringattn.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyTest {
    @TempDir
    Path dir;

    static MemorySegment floats(float... v) {
        MemorySegment s = Arena.ofAuto().allocate(4L * v.length);
        for (int i = 0; i < v.length; i++) {
            s.setAtIndex(ArrayData.F32_LE, i, v[i]);
        }
        return s;
    }

    /** An npy file by hand: version, dict text, raw data. */
    static byte[] npy(int major, String dict, byte[] data) {
        int prefix = major == 1 ? 10 : 12;
        int len = dict.length() + 1;
        ByteBuffer b = ByteBuffer.allocate(prefix + len + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(Npy.MAGIC).put((byte) major).put((byte) 0);
        if (major == 1) {
            b.putShort((short) len);
        } else {
            b.putInt(len);
        }
        b.put(dict.getBytes(major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1)).put((byte) '\n').put(data);
        return b.array();
    }

    static byte[] le(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    ArrayData parse(byte[] bytes) {
        return Npy.parse(Path.of("x.npy"), MemorySegment.ofArray(bytes));
    }

    @Test
    void roundTripsFloat32ThroughAFileAndAlignsDataTo64Bytes() throws Exception {
        Path f = dir.resolve("a.npy");
        Npy.write(f, ArrayData.of(ElementType.F32, new long[] {2, 1, 3}, floats(1, 2, 3, 4, 5, -6.5f)));
        byte[] raw = Files.readAllBytes(f);
        assertEquals(0, (raw.length - 24) % 64, "header padded to 64 bytes");
        try (Arena arena = Arena.ofConfined()) {
            ArrayData a = Npy.read(f, arena);
            assertEquals(ElementType.F32, a.type());
            assertArrayEquals(new long[] {2, 1, 3}, a.shape());
            assertEquals(-6.5f, a.getFloat(5));
            assertEquals(4f, a.toTensor("--q").get(1, 0, 0));
        }
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
    }

    @Test
    void readsVersions2And3AndOtherSpellings() {
        byte[] data = le(1.5f, 2.5f);
        for (int v : new int[] {1, 2, 3}) {
            ArrayData a = parse(npy(v, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}", data));
            assertArrayEquals(new long[] {2}, a.shape());
            assertEquals(2.5f, a.getFloat(1));
        }
        ArrayData a = parse(npy(1, "{'shape': [1, 2L], 'fortran_order': False, 'descr': '<f4', }", data));
        assertArrayEquals(new long[] {1, 2}, a.shape());
    }

    @Test
    void readsFloat16AndIntegers() {
        ByteBuffer h = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        h.putShort(Float.floatToFloat16(0.5f)).putShort(Float.floatToFloat16(-3f));
        ArrayData a = parse(npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 1, 2), }", h.array()));
        assertEquals(ElementType.F16, a.type());
        assertEquals(-3f, a.toTensor("--q").get(0, 0, 1), "f16 widened to an f32 tensor");
        ByteBuffer i = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putInt(0).putInt(5).putInt(9);
        assertArrayEquals(new long[] {0, 5, 9},
                parse(npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", i.array())).toLongs("--cu"));
        ByteBuffer l = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(0).putLong(1L << 40);
        assertArrayEquals(new long[] {0, 1L << 40},
                parse(npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", l.array())).toLongs("--cu"));
    }

    /** The smaller and unsigned integer types (token ids are often saved as uint16 or uint32). */
    @Test
    void readsSmallAndUnsignedIntegers() {
        byte[] bytes = {1, (byte) 0xFF};
        assertArrayEquals(new long[] {1, 255},
                parse(npy(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", bytes)).toLongs("--t"));
        assertArrayEquals(new long[] {1, -1},
                parse(npy(1, "{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", bytes)).toLongs("--t"));
        ByteBuffer u2 = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putShort((short) 7).putShort((short) 0xFFFF);
        ArrayData a = parse(npy(1, "{'descr': '<u2', 'fortran_order': False, 'shape': (1, 2), }", u2.array()));
        assertEquals(ElementType.U16, a.type());
        assertEquals(65535L, a.getLong(1));
        assertEquals(7f, a.getFloat(0));
        ByteBuffer u4 = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(-1);
        assertEquals(0xFFFF_FFFFL,
                parse(npy(1, "{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }", u4.array())).getLong(0));
        assertThrows(IllegalStateException.class, () -> parse(npy(1, "{'descr': '<f4', 'fortran_order': False, "
                + "'shape': (1,), }", le(1f))).getLong(0));
    }

    @Test
    void writesOneByteTypesWithTheNotApplicableByteOrder() {
        byte[] header = Npy.header(ElementType.U8, new long[] {3});
        String text = new String(header, 10, header.length - 10, StandardCharsets.ISO_8859_1);
        assertTrue(text.startsWith("{'descr': '|u1',"), text);
    }

    @Test
    void writesInt64AndFloat16HeadersNumPyCanRead() {
        byte[] header = Npy.header(ElementType.I64, new long[] {7});
        String text = new String(header, 10, header.length - 10, StandardCharsets.ISO_8859_1);
        assertTrue(text.startsWith("{'descr': '<i8', 'fortran_order': False, 'shape': (7,), }"), text);
        assertTrue(text.endsWith("\n"));
        assertEquals(0, header.length % 64);
        assertThrows(IllegalArgumentException.class, () -> Npy.header(ElementType.BF16, new long[] {1}));
    }

    void rejects(String expected, byte[] bytes) {
        FileFormatException e = assertThrows(FileFormatException.class, () -> parse(bytes));
        assertTrue(e.getMessage().startsWith("x.npy: "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void rejectsHostileFilesWithAClearMessage() {
        byte[] four = le(1, 2, 3, 4);
        String ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        rejects("wrong magic", "NOTNUMPYxxxxxxxxxxxx".getBytes(StandardCharsets.ISO_8859_1));
        rejects("only 3 bytes", new byte[] {(byte) 0x93, 'N', 'U'});
        byte[] truncated = npy(1, ok, four);
        rejects("truncated", java.util.Arrays.copyOf(truncated, truncated.length - 1));
        rejects("trailing bytes", npy(1, ok, le(1, 2, 3, 4, 5)));
        byte[] longHeader = npy(1, ok, four);
        longHeader[8] = (byte) 0xFF;
        longHeader[9] = (byte) 0xFF;
        rejects("runs past the end", longHeader);
        byte[] v2 = npy(2, ok, four);
        v2[11] = (byte) 0x7F;
        rejects("runs past the end", v2);
        rejects("Fortran-order", npy(1, ok.replace("False", "True"), four));
        rejects("big-endian", npy(1, ok.replace("<f4", ">f4"), four));
        rejects("unsupported dtype '<f8'", npy(1, ok.replace("<f4", "<f8"), four));
        rejects("negative dimension", npy(1, ok.replace("(2, 2)", "(-2, 2)"), four));
        rejects("overflows", npy(1, ok.replace("(2, 2)", "(1099511627776, 1073741824)"), four));
        rejects("absurdly large", npy(1, ok.replace("(2, 2)", "(99999999999999999999999, 1)"), four));
        rejects("malformed header", npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2}", four));
        rejects("exactly the keys", npy(1, "{'descr': '<f4', 'shape': (2, 2), }", four));
        rejects("unsupported .npy version 4.0", npy(4, ok, four));
    }

    /** Header text reaches messages cut and on one line, however long the header (up to 1 MiB). */
    @Test
    void headerTextIsCutInMessages() {
        byte[] four = le(1, 2, 3, 4);
        String ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        String huge = "\n".repeat(500_000);
        List<byte[]> hostile = List.of(
                npy(2, ok.replace("(2, 2)", "(" + "9".repeat(500_000) + ", 1)"), four),
                npy(2, ok.replace("<f4", "<f4" + huge), four),
                npy(2, "{'" + huge + "': True, '" + huge + "': False}", four),
                npy(2, "{'descr': '<f4', 'shape': (2, 2), '" + huge + "': True}", four),
                npy(2, IntStream.range(0, 50_000).mapToObj(i -> "'k" + i + "': True").collect(Collectors.joining(", ", "{", "}")),
                        four));
        for (byte[] b : hostile) {
            FileFormatException e = assertThrows(FileFormatException.class, () -> parse(b));
            assertTrue(e.getMessage().length() < 300, e.getMessage().length() + " chars");
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }

    @Test
    void missingFilesAndDirectoriesAreClearErrors() {
        try (Arena arena = Arena.ofConfined()) {
            FileFormatException e = assertThrows(FileFormatException.class, () -> Npy.read(dir.resolve("none.npy"), arena));
            assertTrue(e.getMessage().endsWith("none.npy: no such file"), e.getMessage());
            assertThrows(FileFormatException.class, () -> Npy.read(dir, arena));
        }
    }

    @Test
    void emptyArraysRoundTrip() {
        Path f = dir.resolve("e.npy");
        Npy.write(f, ArrayData.of(ElementType.F32, new long[] {0, 2, 3}, MemorySegment.ofArray(new byte[0])));
        try (Arena arena = Arena.ofConfined()) {
            ArrayData a = Npy.read(f, arena);
            assertArrayEquals(new long[] {0, 2, 3}, a.shape());
            assertEquals(0, a.data().byteSize());
        }
        assertEquals(0, ArrayData.of(ElementType.F32, new long[] {0}, MemorySegment.ofArray(new byte[0]))
                .data().byteSize());
    }
}
