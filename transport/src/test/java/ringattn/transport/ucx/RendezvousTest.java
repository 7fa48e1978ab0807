package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Finding 9: the rendezvous directory is private, never followed through links, and verified before use. */
class RendezvousTest {
    private static final Handshake.JobKey KEY = new Handshake.JobKey("s3cret".getBytes(), "job-7");

    @Test
    void entriesArePrivateAndVerified(@TempDir Path root) throws Exception {
        Rendezvous r = Rendezvous.open(root, KEY, 2);
        r.publish(0, "node0", new byte[] {1, 2, 3}, "127.0.0.1:4000");
        Path dir = root.resolve("job-7");
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("rank-0"))));
        Rendezvous.Entry e = r.read(0).entry();
        assertEquals("127.0.0.1:4000", e.control());
        assertArrayEquals(new byte[] {1, 2, 3}, e.workerAddress());
        try (var s = Files.list(dir)) {
            assertEquals(1, s.count(), "a temporary file was left");
        }
        Rendezvous other = Rendezvous.open(root, new Handshake.JobKey("another secret".getBytes(), "job-7"), 2);
        assertNull(other.read(0).entry());
        assertTrue(other.read(0).problem().contains("signed with a different job secret"), other.read(0).problem());
    }

    @Test
    void alteredOrMalformedEntriesAreNotUsed(@TempDir Path root) throws Exception {
        Rendezvous r = Rendezvous.open(root, KEY, 2);
        r.publish(0, "node0", new byte[] {1}, "127.0.0.1:4000");
        Path entry = root.resolve("job-7/rank-0");
        String text = Files.readString(entry);
        Files.writeString(entry, text.replace("127.0.0.1\\:4000", "10.6.6.6\\:4000"));
        assertTrue(r.read(0).problem().contains("signed with a different job secret"), r.read(0).problem());
        Files.writeString(entry, "rank=zero\nworker=@@@\n");
        assertNull(r.read(0).entry());
        Files.write(entry, new byte[Rendezvous.MAX_ENTRY + 10]);
        assertTrue(r.read(0).problem().contains("larger than"), r.read(0).problem());
    }

    @Test
    void symbolicLinksAreNotFollowed(@TempDir Path root) throws Exception {
        Path elsewhere = Files.createDirectory(root.resolve("elsewhere"));
        Path rdv = Files.createDirectory(root.resolve("rdv"));
        Files.createSymbolicLink(rdv.resolve("job-7"), elsewhere);
        ConfigurationException e = assertThrows(ConfigurationException.class, () -> Rendezvous.open(rdv, KEY, 2));
        assertTrue(e.getMessage().contains("is a symbolic link"), e.getMessage());
        Path ok = Files.createDirectory(root.resolve("ok"));
        Rendezvous r = Rendezvous.open(ok, KEY, 2);
        Path victim = Files.writeString(root.resolve("victim"), "keep");
        Files.createSymbolicLink(ok.resolve("job-7/rank-0"), victim);
        assertTrue(r.read(0).problem().startsWith("unreadable rendezvous entry"), r.read(0).problem());
        r.publish(0, "node0", new byte[] {1}, "127.0.0.1:4000"); // replaces the link, never writes through it
        assertEquals("keep", Files.readString(victim));
        assertTrue(!Files.isSymbolicLink(ok.resolve("job-7/rank-0")));
    }

    @Test
    void looseJobDirectoryIsMadePrivate(@TempDir Path root) throws Exception {
        Path dir = Files.createDirectory(root.resolve("job-7"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        Rendezvous.open(root, KEY, 2);
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
    }

    @Test
    void entriesOfDeadProcessesOnThisHostAreRemoved(@TempDir Path root) throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        Rendezvous crashed = Rendezvous.open(root, KEY, 2);
        crashed.publish(2, "another-node", p.pid(), new byte[] {1}, null);
        crashed.publish(1, TransportOptions.localHostName(), p.pid(), new byte[] {1}, null);
        Path entry = root.resolve("job-7/rank-1");
        assertTrue(Files.exists(entry));
        Rendezvous.open(root, KEY, 2).publish(0, TransportOptions.localHostName(), new byte[] {1}, "127.0.0.1:1");
        assertTrue(!Files.exists(entry), "the dead process's entry was left");
        assertTrue(Files.exists(root.resolve("job-7/rank-2")), "an entry of another host was removed");
    }

    @Test
    void jobIdsNeverNameTheParentDirectory() {
        assertEquals("_..", RankInfo.sanitize(".."));
        assertEquals("_.", RankInfo.sanitize("."));
        assertEquals("_", RankInfo.sanitize(""));
        assertEquals("a_b", RankInfo.sanitize("a/b"));
    }
}
