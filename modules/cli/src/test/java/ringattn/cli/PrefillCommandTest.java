package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import ringattn.engine.ring.ShardLayout;
import ringattn.io.ArrayData;
import ringattn.io.ElementType;
import ringattn.io.Json;
import ringattn.io.Npy;
import ringattn.model.InMemoryWeights;
import ringattn.model.LlamaConfig;
import ringattn.model.LlamaModel;
import ringattn.model.SafetensorsWeights;
import ringattn.model.TinyLlama;
import ringattn.model.Weight;

/** {@code ringattn prefill}: outputs, JSON line, exit codes, over both transports. */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class PrefillCommandTest {
    @TempDir
    Path dir;

    static CliRun prefill(String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "prefill";
        System.arraycopy(args, 0, all, 1, args.length);
        return CliRun.of(all);
    }

    static Map<?, ?> json(CliRun r) {
        return (Map<?, ?>) Json.parse(r.lastLine());
    }

    /** A list of numbers from the JSON summary, as longs. */
    static List<Long> longs(Map<?, ?> json, String key) {
        assertTrue(json.get(key) instanceof List<?>, key + " is a list in " + json);
        return ((List<?>) json.get(key)).stream().map(n -> ((Number) n).longValue()).toList();
    }

    /**
     * --tokens from an .npy file, 3 ranks, logits written to an .npy file: the file holds [S, vocab]
     * float32 equal to an in-process single-rank prefill (tolerance 5e-5, as in PrefillRingTest), no
     * temporary file is left beside it, and the last stdout line is the JSON summary with every rank's
     * peak RSS and heap (the heap above 1 MiB, within -Xmx and the RSS).
     */
    @Test
    void writesLogitsAndJson() {
        int[] tokens = TinyLlama.randomTokens(45, 512, 8);
        Path tokFile = dir.resolve("tokens.npy");
        PrefillFiles.writeTokens(tokFile, tokens);
        Path out = dir.resolve("logits.npy");
        CliRun r = prefill("--tiny", "--tokens", tokFile.toString(), "--ranks", "3", "--threads", "1", "--out", out.toString(),
                "--json");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("tokens/s"), r.out());
        Map<?, ?> json = json(r);
        assertEquals(3L, json.get("ranks"));
        assertEquals(45L, json.get("seq"));
        assertEquals("local", json.get("transport"));
        assertTrue(((Number) json.get("tokens_per_s")).doubleValue() > 0);
        SummaryFields.assertMemory(json, true);
        List<Long> rss = longs(json, "peak_rss_bytes_by_rank");
        List<Long> heap = longs(json, "heap_peak_bytes_by_rank");
        assertEquals(3, rss.size());
        assertEquals(3, heap.size());
        assertTrue(rss.getFirst() > 1 << 20, "rank 0's RSS " + rss);
        for (int i = 0; i < 3; i++) {
            long h = heap.get(i);
            assertTrue(h > 1 << 20 && h <= Runtime.getRuntime().maxMemory() && h <= rss.get(i),
                    "rank " + i + ": heap peak " + h + " (RSS " + rss.get(i) + ", -Xmx " + Runtime.getRuntime().maxMemory() + ")");
        }

        float[][] written = PrefillFiles.readLogits(out);
        assertEquals(45, written.length);
        assertEquals(512, written[0].length);
        try (InMemoryWeights w = TinyLlama.weights()) {
            float[][] expected = PrefillFiles.prefill(LlamaModel.load(LlamaConfig.tiny(), w), tokens, 1, ShardLayout.ZIGZAG);
            double diff = PrefillFiles.maxAbsDiff(written, expected);
            assertTrue(diff <= 5e-5, "max |file - in-process| = " + diff);
        }
        assertEquals(List.of("logits.npy", "tokens.npy"), files(dir));
    }

    static List<String> files(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * --transport ucx: two {@code worker prefill} processes over UCX (shared memory on loopback) write
     * their rows of one logits file; it equals the in-JVM run (tolerance 5e-5, as in PrefillRingTest:
     * same arithmetic, possibly different JIT state); each rank reports its own process's memory.
     */
    @Test
    void ucxRanksAsProcessesMatchLocalRanks() {
        Path local = dir.resolve("local.npy");
        Path ucx = dir.resolve("ucx.npy");
        CliRun a = prefill("--tiny", "--random", "33", "--ranks", "2", "--threads", "1", "--out", local.toString());
        assertEquals(0, a.code(), a.toString());
        CliRun b = prefill("--tiny", "--random", "33", "--ranks", "2", "--threads", "1", "--transport", "ucx",
                "--out", ucx.toString(), "--json");
        assertEquals(0, b.code(), b.toString());
        Map<?, ?> json = json(b);
        assertEquals("ucx", json.get("transport"));
        SummaryFields.assertMemory(json, false);
        List<Long> rss = longs(json, "peak_rss_bytes_by_rank");
        List<Long> heap = longs(json, "heap_peak_bytes_by_rank");
        assertEquals(2, rss.size());
        assertEquals(2, heap.size());
        for (int i = 0; i < 2; i++) {
            long h = heap.get(i);
            assertTrue(h > 1 << 20 && h <= rss.get(i), "rank " + i + ": heap peak " + h + ", RSS " + rss);
        }
        assertEquals(2, longs(json, "pids").stream().distinct().count(), "two rank processes: " + json);
        double diff = PrefillFiles.maxAbsDiff(PrefillFiles.readLogits(ucx), PrefillFiles.readLogits(local));
        assertTrue(diff <= 5e-5, "max |ucx - local| = " + diff);
    }

    /** A failed rank (the failure drill) ends the job with exit 3, an error line naming it, and no output file. */
    @Test
    void failedRankExits3AndLeavesNoOutput() {
        Path out = dir.resolve("logits.npy");
        CliRun local = prefill("--tiny", "--random", "20", "--ranks", "3", "--threads", "1", "--crash-rank", "1",
                "--timeout", "20", "--out", out.toString());
        assertEquals(3, local.code(), local.toString());
        assertTrue(local.err().startsWith("error:") && local.err().contains("rank 1"), local.err());
        assertFalse(Files.exists(out));

        CliRun ucx = prefill("--tiny", "--random", "20", "--ranks", "2", "--threads", "1", "--transport", "ucx",
                "--crash-rank", "1", "--timeout", "20", "--out", out.toString());
        assertEquals(3, ucx.code(), ucx.toString());
        assertTrue(ucx.err().contains("error: rank 1"), ucx.err());
        assertFalse(Files.exists(out));
        assertEquals(List.of(), files(dir), "no temporary output left behind");
    }

    /**
     * --tokens takes any integer dtype, shape [S] or [1, S]: uint16 [1, S] gives the logits of the
     * same ids as int32 [S] (tolerance 1e-5, as in modelDirectoryMatchesTiny: JIT state may differ
     * between the runs); a float file is exit 2 naming the file and the dtype.
     */
    @Test
    void tokensOfAnyIntegerTypeAndShape() {
        int[] tokens = TinyLlama.randomTokens(12, 512, 5);
        Path i32 = dir.resolve("i32.npy");
        PrefillFiles.writeTokens(i32, tokens);
        Path u16 = dir.resolve("u16.npy");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(2L * tokens.length);
            for (int i = 0; i < tokens.length; i++) {
                data.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, (short) tokens[i]);
            }
            Npy.write(u16, ArrayData.of(ElementType.U16, new long[] {1, tokens.length}, data));
            Path floats = dir.resolve("f32.npy");
            Npy.write(floats, ArrayData.of(ElementType.F32, new long[] {tokens.length}, arena.allocate(4L * tokens.length)));
            CliRun bad = prefill("--tiny", "--tokens", floats.toString());
            assertOneLine(bad, "--tokens: " + floats);
            assertTrue(bad.err().contains("f32"), bad.err());
        }
        Path a = dir.resolve("a.npy");
        Path b = dir.resolve("b.npy");
        CliRun ra = prefill("--tiny", "--tokens", i32.toString(), "--threads", "1", "--out", a.toString());
        assertEquals(0, ra.code(), ra.toString());
        CliRun rb = prefill("--tiny", "--tokens", u16.toString(), "--threads", "1", "--out", b.toString());
        assertEquals(0, rb.code(), rb.toString());
        double diff = PrefillFiles.maxAbsDiff(PrefillFiles.readLogits(b), PrefillFiles.readLogits(a));
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
        CliRun ra = prefill("--tiny", "--random", "24", "--ranks", "2", "--threads", "1", "--out", a.toString());
        assertEquals(0, ra.code(), ra.toString());
        CliRun r = prefill("--model", model.toString(), "--random", "24", "--ranks", "2", "--threads", "1", "--out", b.toString());
        assertEquals(0, r.code(), r.toString());
        double diff = PrefillFiles.maxAbsDiff(PrefillFiles.readLogits(b), PrefillFiles.readLogits(a));
        assertTrue(diff <= 1e-5, "max |model dir - tiny| = " + diff);
    }

    /** A model directory without a tensor: exit 2, one error line naming it (formerly ModelDirectoryTest's). */
    @Test
    void badModelDirectoryExits2NamingTheTensor() throws IOException {
        String missing = "model.norm.weight";
        Path model = dir.resolve("broken-model");
        try (InMemoryWeights w = TinyLlama.weights()) {
            Map<String, Weight> all = new LinkedHashMap<>(w.all());
            all.remove(missing);
            SafetensorsWeights.write(model, LlamaConfig.tiny(), all, 1);
        }
        CliRun r = prefill("--model", model.toString(), "--random", "8");
        assertOneLine(r, "--model: ");
        assertTrue(r.err().contains("'" + missing + "'"), r.err());
    }

    /** Exit 2 and stderr exactly one line, {@code error: <prefix>...} (no usage text, no stack trace). */
    static void assertOneLine(CliRun r, String prefix) {
        ExitCodeTest.assertUsage(r, prefix);
        assertEquals(1, r.err().lines().count(), r.toString());
    }

    /**
     * Bad options and inputs: exit 2 and exactly one stderr line, {@code error: <option>: ...}, naming
     * the option (or both options of a conflict), no usage text and no stack trace.
     */
    @Test
    void usageErrorsExit2WithOneLineNamingTheOption() {
        assertOneLine(prefill(), "--model/--tiny: one is required");
        assertOneLine(prefill("--tiny", "--model", dir.toString(), "--random", "4"), "--model/--tiny: give one");
        assertOneLine(prefill("--tiny"), "--tokens/--random: one is required");
        assertOneLine(prefill("--tiny", "--random", "4", "--tokens", "x.npy"), "--tokens/--random: give one");
        assertOneLine(prefill("--tiny", "--random", "4", "--ranks", "zero"), "--ranks: ");
        assertOneLine(prefill("--tiny", "--random", "0"), "--random: ");
        assertOneLine(prefill("--tiny", "--random", "4", "--threads"), "--threads: ");
        assertOneLine(prefill("--tiny", "--random", "4", "--timeout", "0"), "--timeout: ");
        assertOneLine(prefill("--tiny", "--random", "4", "--layout", "diagonal"), "--layout: ");
        assertOneLine(prefill("--tiny", "--random", "4", "--tiny-dtype", "f16"), "--tiny-dtype: ");
        assertOneLine(prefill("--tiny", "--random", "4", "--transport", "tcp"), "--transport: ");
        assertOneLine(prefill("--tiny", "--random", "4", "--seed", "x"), "--seed: ");
        assertOneLine(prefill("--bench", "--bench-seqs", "1024,0"), "--bench-seqs: ");
        assertOneLine(prefill("--tiny", "--random", "4", "--frobnicate"), "--frobnicate: ");
        assertOneLine(prefill("--tiny", "--random", "4", "--worker"), "--worker: "); // the old internal flag

        Path missing = dir.resolve("nope.npy");
        CliRun noFile = prefill("--tiny", "--tokens", missing.toString());
        assertOneLine(noFile, "--tokens: ");
        assertTrue(noFile.err().contains(missing.toString()), noFile.err());

        Path big = dir.resolve("big.npy");
        PrefillFiles.writeTokens(big, new int[] {1, 2, 9999});
        CliRun outOfVocab = prefill("--tiny", "--tokens", big.toString());
        assertOneLine(outOfVocab, "--tokens: " + big);
        assertTrue(outOfVocab.err().contains("tokens[2]") && outOfVocab.err().contains("9999"), outOfVocab.err());

        assertOneLine(prefill("--model", dir.resolve("absent").toString(), "--random", "4"), "--model: ");
        assertOneLine(prefill("--tiny", "--tokens", big.toString(), "--out", big.toString()),
                "--out: " + big + " is also the input of --tokens");
        assertTrue(Files.exists(big), "the input survives");
    }

    /** {@code prefill --help}: the synopsis and every option on stdout, exit 0; listed in the overview. */
    @Test
    void helpListsEveryOption() {
        CliRun r = prefill("--help");
        assertEquals(0, r.code(), r.toString());
        for (Option o : PrefillCommand.options()) {
            assertTrue(r.out().contains("--" + o.name()), "--" + o.name() + " in\n" + r.out());
        }
        assertTrue(CliRun.of("--help").out().contains("prefill"), "the overview lists prefill");
    }
}
