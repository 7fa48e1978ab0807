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

    /** A failed rank (the failure drill) ends the job with exit 3, an error line naming it, and no output file. */
    @Test
    void failedRankExits3AndLeavesNoOutput() {
        Path out = dir.resolve("logits.npy");
        Run local = run("--tiny", "--random", "20", "--ranks", "3", "--threads", "1", "--crash-rank", "1",
                "--timeout", "20", "--out", out.toString());
        assertEquals(3, local.code(), local.out() + local.err());
        assertTrue(local.err().startsWith("error:") && local.err().contains("rank 1"), local.err());
        assertFalse(Files.exists(out));

        Run ucx = run("--tiny", "--random", "20", "--ranks", "2", "--threads", "1", "--transport", "ucx",
                "--crash-rank", "1", "--timeout", "20", "--out", out.toString());
        assertEquals(3, ucx.code(), ucx.out() + ucx.err());
        assertTrue(ucx.err().contains("error: rank 1"), ucx.err());
        assertFalse(Files.exists(out));
    }

    /**
     * --model on a directory written from the tiny model gives the logits of --tiny (tolerance 1e-5:
     * identical weights, possibly different JIT state between the runs).
     */
    @Test
    void modelDirectoryMatchesTiny() throws IOException {
        Path model = dir.resolve("tiny-model");
        try (InMemoryWeights w = TinyLlama.weights()) {
            SafetensorsWeights.write(model, LlamaConfig.tiny(), w.all(), 2);
        }
        Path a = dir.resolve("a.npy");
        Path b = dir.resolve("b.npy");
        assertEquals(0, run("--tiny", "--random", "24", "--ranks", "2", "--threads", "1", "--out", a.toString()).code());
        Run r = run("--model", model.toString(), "--random", "24", "--ranks", "2", "--threads", "1", "--out", b.toString());
        assertEquals(0, r.code(), r.err());
        double diff = Logits.maxAbsDiff(Npy.readFloat32Matrix(b), Npy.readFloat32Matrix(a));
        assertTrue(diff <= 1e-5, "max |model dir - tiny| = " + diff);
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
}
