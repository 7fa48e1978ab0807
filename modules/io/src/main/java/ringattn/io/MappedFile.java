package ringattn.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Maps whole files into memory, read-only or read-write. Stateless and thread-safe. */
public final class MappedFile {
    private MappedFile() {
    }

    /** Maps {@code file} read-only into {@code arena} (the arena owns the mapping). */
    public static MemorySegment readOnly(Path file, Arena arena) {
        if (Files.isDirectory(file)) {
            throw new FileFormatException(file, "is a directory, expected a file");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0) {
                return MemorySegment.ofArray(new byte[0]);
            }
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new FileFormatException(file, "no such file");
        } catch (AccessDeniedException e) {
            throw new FileFormatException(file, "permission denied");
        } catch (IOException e) {
            throw new FileFormatException(file, "cannot read: " + e.getMessage(), e);
        }
    }

    /** Maps bytes {@code [offset, offset+length)} of {@code file} read-write into {@code arena}. */
    public static MemorySegment readWrite(Path file, long offset, long length, Arena arena) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            if (length == 0) {
                return MemorySegment.ofArray(new byte[0]);
            }
            return ch.map(FileChannel.MapMode.READ_WRITE, offset, length, arena);
        } catch (IOException e) {
            throw new FileFormatException(file, "cannot map for writing: " + e.getMessage(), e);
        }
    }
}
