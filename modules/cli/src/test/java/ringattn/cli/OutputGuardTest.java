package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which outputs clash with inputs or with each other, and which option each message names. */
class OutputGuardTest {
    @TempDir
    Path dir;

    static String refusal(OutputGuard g) {
        return assertThrows(UsageException.class, g::check).getMessage();
    }

    @Test
    void hardLinksAndLinkedDirectoriesAreTheSameFile() throws Exception {
        Path q = Files.writeString(dir.resolve("q.npy"), "q");
        Path hard = Files.createLink(dir.resolve("hard.npy"), q);
        assertEquals("--out: " + hard + " is also the input of --q",
                refusal(new OutputGuard().input("--q", q.toString(), q).output("--out", hard.toString(), hard, false)));

        Path linkedDir = Files.createSymbolicLink(dir.resolve("here"), dir);
        Path a = dir.resolve("new.npy");
        Path b = linkedDir.resolve("new.npy"); // neither exists yet: one directory entry
        assertEquals("--dq: " + b + " is also the output of --out",
                refusal(new OutputGuard().output("--out", a.toString(), a, false).output("--dq", b.toString(), b, false)));
    }

    @Test
    void aReportOnAnOutputIsRefusedAndSafetensorsPartsAreNot() {
        Path st = dir.resolve("o.safetensors");
        new OutputGuard().output("--out", st.toString(), st, true).output("--lse", "./o.safetensors",
                dir.resolve(".").resolve("o.safetensors"), true).check();
        assertEquals("--report: " + st + " is also the output of --out",
                refusal(new OutputGuard().output("--out", st.toString(), st, true).output("--report", st.toString(), st, false)));
    }
}
