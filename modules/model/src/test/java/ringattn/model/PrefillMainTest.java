package ringattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ringattn.engine.ring.ShardLayout;
import ringattn.io.ArrayData;
import ringattn.io.ElementType;
import ringattn.io.Json;
import ringattn.io.Npy;

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
        Logits.writeTokens(tokFile, tokens);
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
        List<?> heap = (List<?>) json.get("heap_peak_bytes_per_rank");
        assertEquals(3, heap.size());
        for (int i = 0; i < 3; i++) {
            long h = ((Number) heap.get(i)).longValue();
            long rss = ((Number) ((List<?>) json.get("peak_rss_bytes_per_rank")).get(i)).longValue();
            assertTrue(h > 1 << 20 && h <= Runtime.getRuntime().maxMemory() && h <= rss,
                    "rank " + i + ": heap peak " + h + " (RSS " + rss + ", -Xmx " + Runtime.getRuntime().maxMemory() + ")");
        }

        float[][] written = Logits.read(out);
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
        List<?> heap = (List<?>) json.get("heap_peak_bytes_per_rank");
        assertEquals(2, heap.size());
        for (int i = 0; i < 2; i++) {
            long h = ((Number) heap.get(i)).longValue();
            assertTrue(h > 1 << 20 && h <= ((Number) rss.get(i)).longValue(), "rank " + i + ": heap peak " + h + ", RSS " + rss);
        }
        double diff = Logits.maxAbsDiff(Logits.read(ucx), Logits.read(local));
        assertTrue(diff <= 5e-5, "max |ucx - local| = " + diff);
    }

    /** A failed rank (the failure drill) ends the job with exit 3, an error line naming it, and no output file. */
    @Test
    void failedRankExits3AndLeavesNoOutput() throws IOException {
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
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(), left.toList(), "no temporary output left behind");
        }
    }

    /**
     * --tokens takes any integer dtype, shape [S] or [1, S]: uint16 [1, S] gives the logits of the
     * same ids as int32 [S] (tolerance 1e-5, as in modelDirectoryMatchesTiny: JIT state may differ
     * between the runs); a float file is exit 2 naming the file and the dtype.
     */
    @Test
    void tokensOfAnyIntegerTypeAndShape() throws IOException {
        int[] tokens = TinyLlama.randomTokens(12, 512, 5);
        Path i32 = dir.resolve("i32.npy");
        Logits.writeTokens(i32, tokens);
        Path u16 = dir.resolve("u16.npy");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(2L * tokens.length);
            for (int i = 0; i < tokens.length; i++) {
                data.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, (short) tokens[i]);
            }
            Npy.write(u16, ArrayData.of(ElementType.U16, new long[] {1, tokens.length}, data));
            Path floats = dir.resolve("f32.npy");
            Npy.write(floats, ArrayData.of(ElementType.F32, new long[] {tokens.length}, arena.allocate(4L * tokens.length)));
            Run bad = run("--tiny", "--tokens", floats.toString());
            assertEquals(2, bad.code(), bad.err());
            assertTrue(bad.err().contains("--tokens: " + floats) && bad.err().contains("f32"), bad.err());
        }
        Path a = dir.resolve("a.npy");
        Path b = dir.resolve("b.npy");
        Run ra = run("--tiny", "--tokens", i32.toString(), "--threads", "1", "--out", a.toString());
        assertEquals(0, ra.code(), ra.err());
        Run rb = run("--tiny", "--tokens", u16.toString(), "--threads", "1", "--out", b.toString());
        assertEquals(0, rb.code(), rb.err());
        double diff = Logits.maxAbsDiff(Logits.read(b), Logits.read(a));
        assertTrue(diff <= 1e-5, "max |uint16 [1, S] - int32 [S]| = " + diff);
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
        double diff = Logits.maxAbsDiff(Logits.read(b), Logits.read(a));
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
        Logits.writeTokens(big, new int[] {1, 2, 9999});
        Run outOfVocab = run("--tiny", "--tokens", big.toString());
        assertEquals(2, outOfVocab.code());
        assertTrue(outOfVocab.err().contains("tokens[2]") && outOfVocab.err().contains("9999"), outOfVocab.err());

        Run noModel = run("--model", dir.resolve("absent").toString(), "--random", "4");
        assertEquals(2, noModel.code());
        assertTrue(noModel.err().contains("--model"), noModel.err());
    }
}
