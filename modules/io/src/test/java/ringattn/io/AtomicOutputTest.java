package ringattn.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** No partial output file ever appears: written aside, renamed when complete, deleted on failure. */
class AtomicOutputTest {
    @TempDir
    Path dir;

    long files() throws Exception {
        try (var s = Files.list(dir)) {
            return s.count();
        }
    }

    @Test
    void uncommittedWritesLeaveNothing() throws Exception {
        Path target = dir.resolve("o.npy");
        try (AtomicFile f = AtomicFile.create(target)) {
            f.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
            assertFalse(Files.exists(target), "nothing at the target before the commit");
            assertEquals(1, files());
            // no commit: an error happened
        }
        assertEquals(0, files());
    }

    @Test
    void aFailedWriteDeletesTheTemporaryFile() throws Exception {
        Path target = dir.resolve("o.npy");
        MemorySegment closed;
        try (Arena arena = Arena.ofConfined()) {
            closed = arena.allocate(16);
        }
        MemorySegment dead = closed;
        assertThrows(IllegalStateException.class,
                () -> Npy.write(target, ArrayData.of(ElementType.F32, new long[] {4}, dead)));
        assertEquals(0, files(), "neither the target nor a temporary file");
    }

    @Test
    void outputFilesAreFilledThroughMappingsThenRenamed() throws Exception {
        Map<String, ArraySpec> arrays = new LinkedHashMap<>();
        arrays.put("o", new ArraySpec(ElementType.F32, new long[] {2, 2}));
        arrays.put("lse", new ArraySpec(ElementType.F32, new long[] {2}));
        Path target = dir.resolve("out.safetensors");
        try (OutputFile created = OutputFile.create(target, true, arrays)) {
            assertFalse(Files.exists(target));
            try (OutputFile other = OutputFile.open(target, created.tempId(), true, arrays); // as another rank would
                 Arena arena = Arena.ofConfined()) {
                MemorySegment o = other.map("o", arena);
                for (int i = 0; i < 4; i++) {
                    o.setAtIndex(ArrayData.F32_LE, i, i + 0.5f);
                }
                created.map("lse", arena).setAtIndex(ArrayData.F32_LE, 1, -2f);
            }
            assertEquals(1, files(), "only the temporary file: another rank's close does not delete it");
            created.commit();
        }
        assertEquals(1, files());
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(3.5f, TensorFiles.read(target + ":o", arena).getFloat(3));
            assertEquals(-2f, TensorFiles.read(target + ":lse", arena).getFloat(1));
        }
        Map<String, ArraySpec> f16 = Map.of("out", new ArraySpec(ElementType.F16, new long[] {3}));
        OutputFile failed = OutputFile.create(dir.resolve("f.npy"), false, f16);
        String id = failed.tempId();
        failed.close();
        assertEquals(1, files(), "closed without a commit: deleted");
        assertThrows(FileFormatException.class, () -> OutputFile.open(dir.resolve("f.npy"), id, false, f16));
    }
}
