package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import ringattn.io.Json;

/**
 * {@code ringattn generate} with the real stories260K model (see its README): greedy output equals
 * llama.cpp's greedy tokens over both transports, the JSON line, and bad options.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class GenerateCommandTest {
    static final Path STORIES = Path.of("../../../shared/models/stories260K");

    @TempDir
    Path dir;

    static CliRun generate(String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "generate";
        System.arraycopy(args, 0, all, 1, args.length);
        return CliRun.of(all);
    }

    /** llama.cpp's greedy continuation of BOS (int64 [256], BOS first). */
    private static int[] reference() {
        Path file = STORIES.resolve("ref/tokens_greedy256.npy");
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            return PrefillJob.tokenIds(ringattn.io.Npy.read(file, arena));
        }
    }

    private static List<Long> ids(Map<?, ?> json, String key) {
        return ((List<?>) json.get(key)).stream().map(n -> ((Number) n).longValue()).toList();
    }

    private static List<Long> asLongs(int[] a) {
        return Arrays.stream(a).mapToObj(i -> (long) i).toList();
    }

    /**
     * From BOS alone, --temperature 0 on 1 and 3 local ranks and on 2 UCX rank processes: the tokens
     * of the JSON line are llama.cpp's greedy tokens, the story streamed on stdout is their text (the
     * directory's vocab.json), and stderr has the time to first token and the decode rate.
     */
    @Test
    void greedyMatchesLlamaCppOverBothTransports() {
        assumeTrue(Files.isDirectory(STORIES), "no shared model at " + STORIES.toAbsolutePath().normalize());
        int[] ref = reference();
        int n = 40;
        Path bos = dir.resolve("bos.npy");
        PrefillFiles.writeTokens(bos, new int[] {ref[0]});
        List<Long> want = asLongs(Arrays.copyOfRange(ref, 1, 1 + n));
        for (String[] how : new String[][] {{"--ranks", "1"}, {"--ranks", "3"}, {"--ranks", "2", "--transport", "ucx"}}) {
            String[] base = {"--model", STORIES.toString(), "--tokens", bos.toString(), "--max-new", String.valueOf(n),
                "--temperature", "0", "--ignore-eos", "--threads", "1", "--json"};
            String[] args = Arrays.copyOf(base, base.length + how.length);
            System.arraycopy(how, 0, args, base.length, how.length);
            CliRun r = generate(args);
            assertEquals(0, r.code(), r.toString());
            Map<?, ?> json = (Map<?, ?>) Json.parse(r.lastLine());
            assertEquals(want, ids(json, "tokens"), String.join(" ", how));
            assertEquals(List.of((long) ref[0]), ids(json, "prompt_tokens"));
            assertTrue(r.err().contains("time to first token") && r.err().contains("tokens/s"), r.err());
            String text = (String) json.get("text");
            assertTrue(text.strip().startsWith("Once upon a time, there was a little girl named Lily"), text);
            assertTrue(r.out().contains(text), "the streamed text on stdout:\n" + r.out());
            long ranks = Long.parseLong(how[1]);
            assertEquals(ranks, ((Number) json.get("ranks")).longValue());
            long cached = ids(json, "cached_tokens_by_rank").stream().mapToLong(Long::longValue).sum();
            assertEquals(n, cached, "the prompt and every fed-back token are cached once: " + json);
        }
    }

    /**
     * The GGUF file and a text prompt, 2 ranks, greedy: the prompt tokenizes to llama.cpp's ids (BOS
     * "Once upon a time"), the continuation is llama.cpp's greedy continuation, stdout starts with the
     * prompt's text followed by the story, and the JSON text is that continuation.
     */
    @Test
    void ggufWithATextPromptTellsTheReferenceStory() {
        assumeTrue(Files.isDirectory(STORIES), "no shared model at " + STORIES.toAbsolutePath().normalize());
        int[] ref = reference();
        CliRun r = generate("--model", STORIES.resolve("stories260K.gguf").toString(), "--prompt", "Once upon a time",
                "--ranks", "2", "--threads", "1", "--temperature", "0", "--max-new", "40", "--ignore-eos", "--json");
        assertEquals(0, r.code(), r.toString());
        Map<?, ?> json = (Map<?, ?>) Json.parse(r.lastLine());
        List<Long> prompt = ids(json, "prompt_tokens");
        assertEquals(asLongs(Arrays.copyOf(ref, prompt.size())), prompt, "the prompt's ids are the reference's first ids");
        assertEquals(asLongs(Arrays.copyOfRange(ref, prompt.size(), prompt.size() + 40)), ids(json, "tokens"));
        String text = (String) json.get("text");
        assertTrue(text.startsWith(", there was a little girl named Lily"), text);
        assertTrue(r.out().startsWith("Once upon a time" + text.substring(0, 20)), r.out());
    }

    /** Bad options: exit 2 and one stderr line naming the option. */
    @Test
    void usageErrorsExit2WithOneLineNamingTheOption() {
        Path bos = dir.resolve("bos.npy");
        PrefillFiles.writeTokens(bos, new int[] {1});
        String t = bos.toString();
        PrefillCommandTest.assertOneLine(generate("--tokens", t), "--model/--tiny: one is required");
        PrefillCommandTest.assertOneLine(generate("--tiny"), "--prompt/--prompt-file/--tokens: one is required");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", t, "--prompt", "x"),
                "--prompt/--prompt-file/--tokens: give one");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--prompt", "Once"), "--prompt: ");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", t, "--max-new", "-1"), "--max-new: ");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", t, "--temperature", "-1"), "--temperature: ");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", t, "--temperature", "nan"), "--temperature: ");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", t, "--top-p", "0"), "--top-p: ");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", t, "--top-p", "1.5"), "--top-p: ");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", t, "--top-k", "-2"), "--top-k: ");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", t, "--stop", "512"), "--stop: ");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", t, "--ranks", "0"), "--ranks: ");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", t, "--transport", "tcp"), "--transport: ");
        PrefillCommandTest.assertOneLine(generate("--tiny", "--prompt-file", dir.resolve("none.txt").toString()),
                "--prompt-file: ");
        PrefillCommandTest.assertOneLine(generate("--model", dir.resolve("absent").toString(), "--tokens", t), "--model: ");
        Path empty = dir.resolve("empty.npy");
        PrefillFiles.writeTokens(empty, new int[0]);
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", empty.toString()), "--tokens: ");
        Path big = dir.resolve("big.npy");
        PrefillFiles.writeTokens(big, new int[] {1, 600});
        PrefillCommandTest.assertOneLine(generate("--tiny", "--tokens", big.toString()), "--tokens: ");
        Path bad = dir.resolve("bad.gguf");
        try {
            Files.write(bad, "GGUF\u0003\u0000\u0000\u0000 not really".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        CliRun badModel = generate("--model", bad.toString(), "--prompt", "Once");
        PrefillCommandTest.assertOneLine(badModel, "--model: ");
        assertTrue(badModel.err().contains(bad.toString()), badModel.err());
    }

    /** {@code generate --help}: every option on stdout, exit 0; listed in the overview. */
    @Test
    void helpListsEveryOption() {
        CliRun r = generate("--help");
        assertEquals(0, r.code(), r.toString());
        for (Option o : GenerateCommand.options()) {
            assertTrue(r.out().contains("--" + o.name()), "--" + o.name() + " in\n" + r.out());
        }
        assertTrue(CliRun.of("--help").out().contains("generate"), "the overview lists generate");
    }
}
