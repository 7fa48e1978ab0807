package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where launchers keep their scratch files, and who may delete them. */
class ScratchDirTest {
    @TempDir
    Path tmp;

    /** A pid that no process has: one of a process that has exited (reuse within the test is unlikely). */
    static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    @Test
    void theRootIsPrivateAndALinkIsRefused() throws Exception {
        Path root = ScratchDir.root(tmp);
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(root)));
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(ScratchDir.root(tmp))));

        Path other = Files.createDirectory(tmp.resolve("other"));
        Path linked = Files.createDirectory(tmp.resolve("linked"));
        Files.createSymbolicLink(linked.resolve(root.getFileName()), other);
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> ScratchDir.root(linked));
        assertTrue(e.getMessage().startsWith("scratch directory " + linked.resolve(root.getFileName())
                + ": not a directory owned by "), e.getMessage());
    }

    @Test
    void aNewLauncherRemovesOnlyTheDirectoriesOfDeadLaunchers() throws Exception {
        Path root = ScratchDir.root(tmp);
        long dead = deadPid();
        Path stale = Files.createDirectory(root.resolve("demo-" + dead + "-123"));
        Files.writeString(stale.resolve("reports.jsonl"), "{}\n");
        Path staleRun = Files.createDirectory(root.resolve("run-" + dead + "-456"));
        Path live = Files.createDirectory(root.resolve("demo-" + ProcessHandle.current().pid() + "-789"));
        Path foreign = Files.createDirectory(root.resolve("notes-" + dead + "-1"));
        ScratchDir.sweepStale(root);
        assertFalse(Files.exists(stale));
        assertFalse(Files.exists(staleRun));
        assertTrue(Files.exists(live));
        assertTrue(Files.exists(foreign));
    }

    @Test
    void aRankDeletesOnlyAScratchDirectory() throws Exception {
        Path root = ScratchDir.root(tmp);
        Path scratch = Files.createDirectory(root.resolve("run-" + ProcessHandle.current().pid() + "-1"));
        Files.writeString(scratch.resolve("reports.jsonl"), "{}\n");
        Path precious = Files.createDirectory(tmp.resolve("demo-1-1"));
        ScratchDir.deleteNamedIn(Map.of(ScratchDir.ENV, precious.toString()));
        ScratchDir.deleteNamedIn(Map.of(ScratchDir.ENV, root.toString()));
        ScratchDir.deleteNamedIn(Map.of());
        assertTrue(Files.exists(precious));
        assertTrue(Files.exists(scratch));
        ScratchDir.deleteNamedIn(Map.of(ScratchDir.ENV, scratch.toString()));
        assertFalse(Files.exists(scratch));
        assertTrue(Files.exists(root));
    }

    /** Issue 16: a killed `run` launcher's temporary outputs are deleted by its ranks or by the next launcher. */
    @Test
    void aDeadLaunchersTemporaryOutputsAreDeletedAndNothingElse() throws Exception {
        Path root = ScratchDir.root(tmp);
        Path outDir = Files.createDirectory(tmp.resolve("out"));
        String id = "0123456789abcdef0123456789abcdef";
        Path temp = Files.writeString(outDir.resolve(".o.npy.ringattn-" + id + ".part"), "half-written");
        Path victim = Files.writeString(outDir.resolve("precious.npy"), "keep");
        Path linkTarget = Files.writeString(tmp.resolve("target"), "keep");
        Path link = Files.createSymbolicLink(outDir.resolve(".l.npy.ringattn-" + id + ".part"), linkTarget);

        Path byRank = Files.createDirectory(root.resolve("run-" + ProcessHandle.current().pid() + "-7"));
        ScratchDir.recordTempOutputs(byRank, java.util.List.of(temp, victim, link));
        ScratchDir.deleteNamedIn(Map.of(ScratchDir.ENV, byRank.toString()));
        assertFalse(Files.exists(temp), "the temporary output was left");
        assertEquals("keep", Files.readString(victim));
        assertEquals("keep", Files.readString(linkTarget));

        Path temp2 = Files.writeString(outDir.resolve(".p.npy.ringattn-" + id + ".part"), "half-written");
        Path stale = Files.createDirectory(root.resolve("run-" + deadPid() + "-8"));
        ScratchDir.recordTempOutputs(stale, java.util.List.of(temp2));
        ScratchDir.sweepStale(root);
        assertFalse(Files.exists(temp2), "the next launcher left the dead one's temporary output");
        assertFalse(Files.exists(stale));
    }
}
