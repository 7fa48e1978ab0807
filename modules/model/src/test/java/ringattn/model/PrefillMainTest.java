package ringattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ringattn.engine.ring.ShardLayout;
import ringattn.model.io.Json;
import ringattn.model.io.Npy;

/** The {@code prefill} command: outputs, JSON line, exit codes. */
class PrefillMainTest {
    @TempDir
    Path dir;

    record Run(int code, String out, String err) {
        String lastLine() {
            String[] lines = out.strip().split("\n");
            return lines[lines.length - 1];
        }
    }

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = PrefillMain.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /**
     * --tokens from an .npy file, 3 ranks, logits written to an .npy file: the file holds [S, vocab]
     * float32 equal to an in-process single-rank prefill (tolerance 5e-5, as in PrefillRingTest), no
     * temporary file is left beside it, and the last stdout line is the JSON summary.
     */
    @Test
    void writesLogitsAndJson() throws IOException {
        int[] tokens = TinyLlama.randomTokens(45, 512, 8);
        Path tokFile = dir.resolve("tokens.npy");
        Npy.writeTokens(tokFile, tokens);
        Path out = dir.resolve("logits.npy");
        Run r = run("--tiny", "--tokens", tokFile.toString(), "--ranks", "3", "--threads", "1", "--out", out.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("tokens/s"), r.out());
        Map<?, ?> json = (Map<?, ?>) Json.parse(r.lastLine());
        assertEquals(3L, json.get("ranks"));
        assertEquals(45L, json.get("seq"));
        assertEquals("local", json.get("transport"));
        assertTrue(((Number) json.get("tokens_per_s")).doubleValue() > 0);
        assertEquals(3, ((List<?>) json.get("peak_rss_bytes_per_rank")).size());
        assertTrue(((Number) ((List<?>) json.get("peak_rss_bytes_per_rank")).get(0)).longValue() > 1 << 20);

        float[][] written = Npy.readFloat32Matrix(out);
        assertEquals(45, written.length);
        assertEquals(512, written[0].length);
        try (InMemoryWeights w = TinyLlama.weights()) {
            float[][] expected = Logits.prefill(LlamaModel.load(LlamaConfig.tiny(), w), tokens, 1, ShardLayout.ZIGZAG);
            double diff = Logits.maxAbsDiff(written, expected);
            assertTrue(diff <= 5e-5, "max |file - in-process| = " + diff);
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("logits.npy", "tokens.npy"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    /**
     * --transport ucx: two rank JVMs over UCX (shared memory on loopback) write their rows of one
     * logits file; it equals the in-JVM run (tolerance 5e-5, as in PrefillRingTest: same arithmetic,
     * possibly different JIT state).
     */
    @Test
    void ucxRanksAsProcessesMatchLocalRanks() throws IOException {
        Path local = dir.resolve("local.npy");
        Path ucx = dir.resolve("ucx.npy");
        Run a = run("--tiny", "--random", "33", "--ranks", "2", "--threads", "1", "--out", local.toString());
        assertEquals(0, a.code(), a.err());
        Run b = run("--tiny", "--random", "33", "--ranks", "2", "--threads", "1", "--transport", "ucx",
                "--out", ucx.toString(), "--json");
        assertEquals(0, b.code(), b.out() + b.err());
        Map<?, ?> json = (Map<?, ?>) Json.parse(b.lastLine());
        assertEquals("ucx", json.get("transport"));
        List<?> rss = (List<?>) json.get("peak_rss_bytes_per_rank");
        assertEquals(2, rss.size());
        double diff = Logits.maxAbsDiff(Npy.readFloat32Matrix(ucx), Npy.readFloat32Matrix(local));
        assertTrue(diff <= 5e-5, "max |ucx - local| = " + diff);
    }

    @Test
    void usageErrorsExit2WithAnErrorLine() throws IOException {
        Run none = run();
        assertEquals(2, none.code());
        assertTrue(none.err().startsWith("error: --model/--tiny"), none.err());

        Run both = run("--tiny", "--random", "4", "--tokens", "x.npy");
        assertEquals(2, both.code());
        assertTrue(both.err().contains("--tokens/--random"), both.err());

        Run badRanks = run("--tiny", "--random", "4", "--ranks", "zero");
        assertEquals(2, badRanks.code());
        assertTrue(badRanks.err().contains("--ranks"), badRanks.err());

        Run unknown = run("--tiny", "--random", "4", "--frobnicate");
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().contains("--frobnicate"), unknown.err());

        Path missing = dir.resolve("nope.npy");
        Run noFile = run("--tiny", "--tokens", missing.toString());
        assertEquals(2, noFile.code());
        assertTrue(noFile.err().contains(missing.toString()), noFile.err());

        Path big = dir.resolve("big.npy");
        Npy.writeTokens(big, new int[] {1, 2, 9999});
        Run outOfVocab = run("--tiny", "--tokens", big.toString());
        assertEquals(2, outOfVocab.code());
        assertTrue(outOfVocab.err().contains("tokens[2]") && outOfVocab.err().contains("9999"), outOfVocab.err());

        Run noModel = run("--model", dir.resolve("absent").toString(), "--random", "4");
        assertEquals(2, noModel.code());
        assertTrue(noModel.err().contains("--model"), noModel.err());
    }

    /** A failed write leaves no partial output: the target never appears when the run fails. */
    @Test
    void failedRunLeavesNoOutput() {
        Path out = dir.resolve("logits.npy");
        Run r = run("--tiny", "--random", "8", "--ranks", "2", "--timeout", "0.000001", "--out", out.toString());
        // whatever the outcome of so short a timeout, the output is either complete or absent
        if (r.code() != 0) {
            assertFalse(Files.exists(out), r.err());
            assertTrue(r.code() == 3 || r.code() == 1, r.err());
            assertTrue(r.err().startsWith("error:"), r.err());
        }
    }
}
