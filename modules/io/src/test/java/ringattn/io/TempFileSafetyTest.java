package ringattn.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Temporary output files cannot be hijacked: names are random, creation never goes through an
 * existing file or a symbolic link, other ranks never open one through a link, the file is
 * owner-only until the commit, and errors name the target rather than the temporary file.
 */
class TempFileSafetyTest {
    private static final byte[] VICTIM = "precious data, not an output\n".getBytes(StandardCharsets.UTF_8);
    private static final Map<String, ArraySpec> ONE = Map.of("out", new ArraySpec(ElementType.F32, new long[] {4}));

    @TempDir
    Path dir;

    static boolean posix(Path p) {
        return p.getFileSystem().supportedFileAttributeViews().contains("posix");
    }

    @Test
    void creationDoesNotFollowALinkPlantedAtTheTemporaryName() throws Exception {
        Path victim = Files.write(dir.resolve("victim.txt"), VICTIM);
        Path planted = TempFiles.path(dir.resolve("o.npy"), "ringattn", TempFiles.newId());
        Files.createSymbolicLink(planted, victim);
        assertThrows(FileAlreadyExistsException.class, () -> TempFiles.createNew(planted).close());
        assertArrayEquals(VICTIM, Files.readAllBytes(victim), "the link's target is untouched");

        Path dangling = TempFiles.path(dir.resolve("p.npy"), "ringattn", TempFiles.newId());
        Path absent = dir.resolve("created-through-a-link.txt");
        Files.createSymbolicLink(dangling, absent);
        assertThrows(FileAlreadyExistsException.class, () -> TempFiles.createNew(dangling).close());
        assertFalse(Files.exists(absent), "nothing created at a dangling link's target");
    }

    @Test
    void aRankDoesNotOpenALinkSwappedInForTheTemporaryFile() throws Exception {
        Path target = dir.resolve("o.npy");
        try (OutputFile created = OutputFile.create(target, false, ONE)) {
            Path temp = TempFiles.path(target, "ringattn", created.tempId());
            // the victim holds exactly the layout the rank checks, so only the link check protects it
            Path victim = Files.write(dir.resolve("victim.npy"), Files.readAllBytes(temp));
            byte[] before = Files.readAllBytes(victim);
            Files.delete(temp);
            Files.createSymbolicLink(temp, victim);
            FileFormatException e = assertThrows(FileFormatException.class,
                    () -> OutputFile.open(target, created.tempId(), false, ONE).close());
            assertTrue(e.getMessage().startsWith(target.toString()), e.getMessage());
            assertArrayEquals(before, Files.readAllBytes(victim));
        }
    }

    @Test
    void openRefusesAMalformedIdAndAFileOfAnotherLayout() throws Exception {
        Path target = dir.resolve("o.npy");
        assertThrows(FileFormatException.class, () -> OutputFile.open(target, "../../etc/passwd", false, ONE));
        try (OutputFile created = OutputFile.create(target, false, ONE)) {
            Map<String, ArraySpec> other = Map.of("out", new ArraySpec(ElementType.F32, new long[] {5}));
            FileFormatException e = assertThrows(FileFormatException.class,
                    () -> OutputFile.open(target, created.tempId(), false, other));
            assertTrue(e.getMessage().contains("layout"), e.getMessage());
        }
    }

    @Test
    void temporaryNamesAreRandomAndFilesOwnerOnlyUntilTheCommit() throws Exception {
        try (OutputFile a = OutputFile.create(dir.resolve("o.npy"), false, ONE);
             OutputFile b = OutputFile.create(dir.resolve("o.npy"), false, ONE)) {
            assertNotEquals(a.tempId(), b.tempId());
            assertTrue(TempFiles.isId(a.tempId()), a.tempId());
        }
        assumeTrue(posix(dir), "POSIX permissions");
        Path target = dir.resolve("o.bin");
        try (AtomicFile f = AtomicFile.create(target)) {
            assertEquals(PosixFilePermissions.fromString("rw-------"),
                    Files.getPosixFilePermissions(f.tempPath(), LinkOption.NOFOLLOW_LINKS));
            f.write(ByteBuffer.wrap(VICTIM));
            f.commit();
        }
        Set<PosixFilePermission> plain = Files.getPosixFilePermissions(Files.createFile(dir.resolve("plain")));
        assertEquals(plain, Files.getPosixFilePermissions(target), "the output gets a new file's mode (umask)");
    }

    @Test
    void aReadOnlyDirectoryIsReportedForTheTargetNotTheTemporaryFile() throws Exception {
        assumeTrue(posix(dir), "POSIX permissions");
        Path ro = Files.createDirectory(dir.resolve("ro"));
        Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            assumeTrue(!Files.isWritable(ro), "root writes in read-only directories");
            Path target = ro.resolve("o.npy");
            for (Runnable create : new Runnable[] {() -> AtomicFile.create(target).close(),
                    () -> OutputFile.create(target, false, ONE).close()}) {
                FileFormatException e = assertThrows(FileFormatException.class, create::run);
                assertTrue(e.getMessage().startsWith(target + ": cannot write: permission denied"), e.getMessage());
                assertFalse(e.getMessage().contains(".part"), e.getMessage());
            }
        } finally {
            Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }
}
