package ringattn.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded mutations of valid files (byte flips and sets biased to the header, truncations,
 * extensions, edits of header text): every mutant must parse to a self-consistent array or fail
 * with a {@link FileFormatException} naming the file; any other exception, or a hang, fails the test.
 */
class HostileFileFuzzTest {
    private static final int MUTANTS = 4000;
    private static final Path NAME = Path.of("mutant.bin");

    @TempDir
    Path dir;

    interface Parser {
        ArrayData parse(MemorySegment bytes);
    }

    static byte[] validNpy(int major) {
        byte[] header = Npy.header(ElementType.F32, new long[] {3, 2, 4});
        byte[] data = NpyTest.le(new float[24]);
        byte[] b = new byte[header.length + data.length];
        System.arraycopy(header, 0, b, 0, header.length);
        System.arraycopy(data, 0, b, header.length, data.length);
        if (major == 1) {
            return b;
        }
        String dict = new String(header, 10, header.length - 10, StandardCharsets.ISO_8859_1).trim();
        return NpyTest.npy(major, dict, data);
    }

    static byte[] validSafetensors() {
        Map<String, ArrayData> m = new LinkedHashMap<>();
        m.put("a", ArrayData.of(ElementType.F32, new long[] {2, 3}, NpyTest.floats(new float[6])));
        m.put("b", ArrayData.of(ElementType.BF16, new long[] {4}, MemorySegment.ofArray(new byte[8])));
        m.put("c", ArrayData.of(ElementType.I64, new long[] {2}, MemorySegment.ofArray(new byte[16])));
        // build through the writer to a heap buffer
        byte[] out = new byte[0];
        try {
            Path tmp = Files.createTempFile("fuzz", ".safetensors");
            Safetensors.write(tmp, m);
            out = Files.readAllBytes(tmp);
            Files.delete(tmp);
        } catch (java.io.IOException e) {
            fail(e);
        }
        assertTrue(out.length > 8);
        return out;
    }

    static byte[] mutate(byte[] valid, SplittableRandom rnd) {
        byte[] b = valid.clone();
        int edits = 1 + rnd.nextInt(4);
        for (int e = 0; e < edits; e++) {
            int headerEnd = Math.min(b.length, 140);
            switch (rnd.nextInt(8)) {
                case 0 -> b[rnd.nextInt(b.length)] ^= (byte) (1 << rnd.nextInt(8));
                case 1 -> b[rnd.nextInt(headerEnd)] = (byte) rnd.nextInt(256);
                case 2 -> b = Arrays.copyOf(b, rnd.nextInt(b.length + 1));
                case 3 -> b = Arrays.copyOf(b, b.length + 1 + rnd.nextInt(64));
                case 4 -> b[rnd.nextInt(Math.min(16, b.length))] = (byte) (rnd.nextBoolean() ? 0xFF : 0);
                case 5 -> b = editText(b, rnd, "0123456789");
                case 6 -> b = editText(b, rnd, "{}[](),:'\" -");
                default -> b = editText(b, rnd, "FfIiUu<>|=TrueFalse");
            }
            if (b.length == 0) {
                break;
            }
        }
        return b;
    }

    /** Replaces or inserts a character from {@code alphabet} somewhere in the header region. */
    static byte[] editText(byte[] b, SplittableRandom rnd, String alphabet) {
        if (b.length == 0) {
            return b;
        }
        int at = rnd.nextInt(Math.min(b.length, 140));
        byte c = (byte) alphabet.charAt(rnd.nextInt(alphabet.length()));
        if (rnd.nextBoolean()) {
            b[at] = c;
            return b;
        }
        byte[] out = new byte[b.length + 1];
        System.arraycopy(b, 0, out, 0, at);
        out[at] = c;
        System.arraycopy(b, at, out, at + 1, b.length - at);
        return out;
    }

    static int[] fuzz(byte[] valid, Parser parser, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int parsed = 0;
        int rejected = 0;
        for (int i = 0; i < MUTANTS; i++) {
            byte[] m = mutate(valid, rnd);
            try {
                ArrayData a = parser.parse(MemorySegment.ofArray(m));
                assertEquals(ArrayData.byteSize(a.type(), a.shape()), a.data().byteSize(), "mutant " + i);
                if (a.elementCount() > 0 && a.type().isFloat()) {
                    a.getFloat(a.elementCount() - 1); // the data really is there
                }
                parsed++;
            } catch (FileFormatException e) {
                assertTrue(e.getMessage().startsWith(NAME + ": "), e.getMessage());
                rejected++;
            } catch (Throwable t) {
                throw new AssertionError("mutant " + i + " (seed " + seed + ") threw " + t + ": "
                        + new String(m, 0, Math.min(m.length, 160), StandardCharsets.ISO_8859_1), t);
            }
        }
        return new int[] {parsed, rejected};
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void npyMutantsParseOrFailClearly() {
        for (int major = 1; major <= 3; major++) {
            int[] r = fuzz(validNpy(major), s -> Npy.parse(NAME, s), 1234 + major);
            assertTrue(r[1] > MUTANTS / 4, "most mutants are rejected: " + Arrays.toString(r));
            assertTrue(r[0] > 0, "some mutants (data-only edits) still parse: " + Arrays.toString(r));
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void safetensorsMutantsParseOrFailClearly() {
        byte[] valid = validSafetensors();
        int[] r = fuzz(valid, s -> Safetensors.parse(NAME, "a", s), 99);
        assertTrue(r[1] > MUTANTS / 4 && r[0] > 0, Arrays.toString(r));
        int[] any = fuzz(valid, s -> Safetensors.parse(NAME, null, s), 7);
        assertTrue(any[1] > 0, Arrays.toString(any));
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void mappedMutantsOnDiskBehaveTheSame() throws Exception {
        SplittableRandom rnd = new SplittableRandom(5);
        byte[] valid = validNpy(1);
        for (int i = 0; i < 200; i++) {
            Path f = dir.resolve("m" + i + ".npy");
            Files.write(f, mutate(valid, rnd));
            try (Arena arena = Arena.ofConfined()) {
                TensorFiles.read(f.toString(), arena);
            } catch (FileFormatException e) {
                assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
            }
        }
    }
}
