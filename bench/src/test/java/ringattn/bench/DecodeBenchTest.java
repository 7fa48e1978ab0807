package ringattn.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ringattn.io.ArrayData;
import ringattn.io.ElementType;
import ringattn.io.Npy;
import ringattn.model.LlamaConfig;
import ringattn.model.LlamaModel;
import ringattn.model.TinyLlama;

/**
 * DecodeBench's bookkeeping: options, the prompts both sides read, the figures a UCX rank hands back,
 * and the derived figures of a point. No timing is asserted.
 */
class DecodeBenchTest {

    private static DecodeModel tiny() {
        var weights = TinyLlama.weights();
        return new DecodeModel(LlamaModel.load(LlamaConfig.tiny(), weights), weights);
    }

    @Test
    void optionsDefaultToTheIssuesGrid() {
        DecodeBench.Options o = DecodeBench.Options.parse(List.of());
        assertArrayEquals(new int[] {1024, 4096, 16384, 65536}, o.contexts());
        assertArrayEquals(new int[] {1, 2, 4}, o.ranks());
        assertEquals(64, o.newTokens());
        assertEquals(1, o.threads());
        assertEquals("local", o.transport());
        assertFalse(o.json());
    }

    @Test
    void badOptionsNameTheOption() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DecodeBench.Options.parse(List.of("--new", "1")))
                .getMessage().startsWith("--new:"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> DecodeBench.Options.parse(List.of("--contexts", "1024,,4096"))).getMessage().startsWith("--contexts:"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> DecodeBench.Options.parse(List.of("--transport", "mpi"))).getMessage().startsWith("--transport:"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DecodeBench.Options.parse(List.of("--ranks")))
                .getMessage().startsWith("--ranks:"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DecodeBench.Options.parse(List.of("--speed", "9")))
                .getMessage().startsWith("--speed:"));
    }

    /** A UCX rank process is started with arguments that parse back to the same point and settings. */
    @Test
    void rankArgumentsCarryThePoint() {
        DecodeBench.Options o = DecodeBench.Options.parse(List.of("--contexts", "512,2048", "--ranks", "1,3", "--new", "9",
                "--threads", "2", "--seed", "7", "--warmup-context", "128", "--warmup-rounds", "0", "--timeout", "33",
                "--model", "/m"));
        DecodeBench.Options r = DecodeBench.Options.parse(o.rankArgs(2048, 3));
        assertArrayEquals(new int[] {2048}, r.contexts());
        assertArrayEquals(new int[] {3}, r.ranks());
        assertEquals(List.of(9, 2, 7L, 128, 0, 33L, Path.of("/m")), List.of(r.newTokens(), r.threads(), r.seed(),
                r.warmupContext(), r.warmupRounds(), r.timeout().toSeconds(), r.model()));
    }

    /** BOS, then ordinary ids, the same for every call with a seed (so for every P and for llama.cpp). */
    @Test
    void promptsAreSeededAndWrittenAsInt64(@TempDir Path dir) {
        try (DecodeModel m = tiny()) {
            int[] a = m.prompt(4096, 42);
            assertEquals(4096, a.length);
            assertEquals(DecodeModel.BOS, a[0]);
            for (int i = 1; i < a.length; i++) {
                assertTrue(a[i] >= DecodeModel.FIRST_ORDINARY_ID && a[i] < m.config().vocabSize(), "id " + a[i] + " at " + i);
            }
            assertArrayEquals(a, m.prompt(4096, 42));
            assertFalse(Arrays.equals(a, m.prompt(4096, 43)));
            Path f = dir.resolve("prompt-4096.npy");
            DecodeModel.writeTokens(f, a);
            try (Arena arena = Arena.ofConfined()) {
                ArrayData d = Npy.read(f, arena);
                assertEquals(ElementType.I64, d.type());
                assertArrayEquals(new long[] {4096}, d.shape());
                for (int i = 0; i < a.length; i++) {
                    assertEquals(a[i], d.data().getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i), "token " + i);
                }
            }
        }
    }

    @Test
    void rankFiguresSurviveTheirLine() {
        var f = new DecodePoint.RankFigures(1.25, 1.5, 0.125, 0.03125, 0.0625, 123456789L, new int[] {5, 6, 7});
        var g = DecodePoint.RankFigures.parse(f.toLine());
        assertEquals(List.of(1.25, 1.5, 0.125, 0.03125, 0.0625, 123456789L), List.of(g.prefillSeconds(),
                g.firstTokenSeconds(), g.decodeSeconds(), g.attentionSeconds(), g.reductionSeconds(), g.peakRssBytes()));
        assertArrayEquals(f.tokens(), g.tokens());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DecodePoint.RankFigures.parse("1 2 x 4 5 6 1,2"))
                .getMessage().startsWith("rank figures:"));
        assertThrows(IllegalArgumentException.class, () -> DecodePoint.RankFigures.parse("1 2 3"));
    }

    /**
     * Decode rate over the N − 1 timed steps; per layer per step the attention of the slowest rank and
     * the reduction of the rank that spent least in it; peak RSS the largest rank's.
     */
    @Test
    void derivedFigures() {
        var r0 = new DecodePoint.RankFigures(2.0, 2.5, 0.5, 0.2, 0.03, 100, new int[] {1, 2, 3, 4, 5, 6});
        var r1 = new DecodePoint.RankFigures(2.0, 2.5, 0.5, 0.25, 0.01, 300, new int[] {1, 2, 3, 4, 5, 6});
        DecodePoint p = new DecodePoint(4096, 2, 1, "ucx", 5, List.of(r0, r1), "k");
        assertEquals(5, p.steps());
        assertEquals(10.0, p.decodeTokensPerSecond(), 1e-12);
        assertEquals(1.25, p.firstTokenOverPrefill(), 1e-12);
        assertEquals(0.02, p.reductionShare(), 1e-12);
        assertEquals(1e6 * 0.01 / 25, p.reductionMicros(), 1e-9);
        assertEquals(1e6 * 0.03 / 25, p.reductionMicrosMax(), 1e-9);
        assertEquals(1e6 * 0.25 / 25, p.attentionMicros(), 1e-9);
        assertEquals(300, p.peakRssBytes());
        String json = p.toJson().toString();
        assertTrue(json.contains("\"decode_tok_s\": 10.0") && json.contains("\"tokens\": [1, 2, 3, 4, 5, 6]"), json);
    }

    /**
     * The benchmark reads the GGUF llama.cpp reads; it opens to the same model as the Hugging Face
     * directory: the same layers and vocabulary and the same greedy tokens after the same prompt.
     */
    @Test
    void ggufAndDirectoryGiveTheSameTokens() {
        Path dir = Path.of("../../shared/models/stories260K");
        assumeTrue(Files.isDirectory(dir), "no shared model at " + dir.toAbsolutePath().normalize());
        DecodeBench.Options o = DecodeBench.Options.parse(List.of("--new", "6"));
        try (DecodeModel gguf = DecodeModel.open(dir.resolve("stories260K.gguf")); DecodeModel hf = DecodeModel.open(dir)) {
            assertEquals(hf.config().layers(), gguf.config().layers());
            assertEquals(hf.config().vocabSize(), gguf.config().vocabSize());
            assertArrayEquals(DecodeBench.local(hf, o, 64, 1).byRank().get(0).tokens(),
                    DecodeBench.local(gguf, o, 64, 1).byRank().get(0).tokens());
        }
    }

    /** A real local run: every rank generates the requested tokens, and the point says so. */
    @Test
    void localPointGeneratesNTokensOnEveryRank() {
        try (DecodeModel m = tiny()) {
            DecodePoint p = DecodeBench.local(m, DecodeBench.Options.parse(List.of("--new", "4")), 40, 2);
            assertEquals(3, p.steps());
            assertEquals(2, p.byRank().size());
            assertArrayEquals(p.byRank().get(0).tokens(), p.byRank().get(1).tokens());
            assertTrue(p.decodeTokensPerSecond() > 0 && p.attentionMicros() > 0 && p.reductionMicros() > 0,
                    p.toJson().toString());
        }
    }
}
