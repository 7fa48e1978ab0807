package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openucx.jucx.ucp.UcpContext;
import org.openucx.jucx.ucp.UcpParams;
import ringattn.launch.LocalLauncher;

/** No copy of libjucx.so outlives the process that loaded it, SIGKILL included; old copies are swept. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JucxLibraryTest {
    @TempDir
    Path tmp;

    /** Loads jucx through {@link JucxLibrary}, proves it works, says "ready" and waits to be killed. */
    public static final class Loader {
        public static void main(String[] args) throws Exception {
            JucxLibrary.load();
            try (UcpContext context = new UcpContext(new UcpParams().requestTagFeature())) {
                System.out.println("ready " + (context.getNativeId() != 0));
                System.out.flush();
                Thread.sleep(60_000);
            }
        }
    }

    static List<String> copies(Path dir) throws Exception {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("jucx")).toList();
        }
    }

    @Test
    void aKilledProcessLeavesNoCopyOfTheLibrary() throws Exception {
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(Loader.class.getName(), List.of(), Map.of(), Duration.ZERO);
        List<String> cmd = new ArrayList<>(List.of(spec.java().toString(), "-Djava.io.tmpdir=" + tmp));
        cmd.addAll(spec.jvmArgs());
        cmd.addAll(List.of("-cp", spec.classPath(), spec.mainClass()));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            assertEquals("ready true", out.readLine(), "the library works after its file is deleted");
            assertEquals(List.of(), copies(tmp), "copies while the process runs");
            p.destroyForcibly();
            assertTrue(p.waitFor(10, TimeUnit.SECONDS));
            assertEquals(List.of(), copies(tmp), "copies after SIGKILL");
        } finally {
            p.destroyForcibly();
        }
    }

    Path copy(String name, Instant modified, String... more) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve(name));
        Files.write(dir.resolve("libjucx.so"), new byte[4096]);
        for (String m : more) {
            Files.writeString(dir.resolve(m), "x");
        }
        Files.setLastModifiedTime(dir, FileTime.from(modified));
        return dir;
    }

    @Test
    void onlyOldUnmappedCopiesAreSwept() throws Exception {
        Instant now = Instant.now();
        Instant old = now.minus(JucxLibrary.STALE_AFTER).minusSeconds(60);
        Path stale = copy("jucx111", old);
        Path young = copy("jucx222", now.minusSeconds(5));
        Path mapped = copy("jucx333", old);
        Path notJucx = copy("jucx444", old, "notes.txt");
        Path otherName = copy("jucxlib", old);
        try (FileChannel ch = FileChannel.open(mapped.resolve("libjucx.so"))) {
            MappedByteBuffer inUse = ch.map(FileChannel.MapMode.READ_ONLY, 0, 4096);
            assertTrue(JucxLibrary.mappedCopies(Path.of("/proc/self/maps")).contains(mapped.resolve("libjucx.so").toRealPath()));
            JucxLibrary.sweepStale(tmp, now);
            java.lang.ref.Reference.reachabilityFence(inUse);
        }
        assertFalse(Files.exists(stale), "an old copy no process maps");
        assertTrue(Files.exists(young.resolve("libjucx.so")), "a copy that may be loading right now");
        assertTrue(Files.exists(mapped.resolve("libjucx.so")), "a copy a running process has loaded");
        assertTrue(Files.exists(notJucx.resolve("libjucx.so")), "a directory that holds more than jucx's copy");
        assertTrue(Files.exists(otherName.resolve("libjucx.so")), "a name jucx does not use");
    }
}
