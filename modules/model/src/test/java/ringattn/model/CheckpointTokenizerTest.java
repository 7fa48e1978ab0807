package ringattn.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ringattn.model.tokenizer.Tokenizer;

/** The tokenizer a checkpoint finds beside its weights: GGUF metadata, llama2.c vocab.json, none. */
class CheckpointTokenizerTest {
    static final Path STORIES = PrefillRingTest.STORIES;

    /**
     * stories260K's GGUF and its directory (vocab.json) give the same tokenizer: llama.cpp's greedy
     * story decodes to text whose encoding (BOS first) is the story's ids again, in both.
     */
    @Test
    void ggufAndDirectoryAgreeOnTheStory() throws Exception {
        assumeTrue(Files.isDirectory(STORIES), "no shared model at " + STORIES.toAbsolutePath().normalize());
        int[] story = Logits.readTokens(STORIES.resolve("ref/tokens_greedy256.npy"));
        try (Checkpoint gguf = Checkpoint.open(STORIES.resolve("stories260K.gguf"));
             Checkpoint dir = Checkpoint.open(STORIES)) {
            Tokenizer a = gguf.tokenizer().orElseThrow();
            Tokenizer b = dir.tokenizer().orElseThrow();
            assertEquals(1, a.bos());
            assertEquals(2, a.eos());
            assertEquals(a.bos(), b.bos());
            assertEquals(a.eos(), b.eos());
            String text = a.decode(story);
            assertTrue(text.startsWith("Once upon a time, there was a little girl named Lily"), text);
            assertEquals(text, b.decode(story));
            assertArrayEquals(story, a.encode(text, true));
            assertArrayEquals(story, b.encode(text, true));
            String odd = "Ünïcødé 🙂 \t tabs\nand 数字 42";
            assertEquals(odd, a.decode(a.encode(odd, true)), "byte fallback round trip");
            assertArrayEquals(a.encode(odd, false), b.encode(odd, false));
        }
    }

    /** A directory without tokenizer files has none; a broken vocab.json is a ModelFormatException naming it. */
    @Test
    void noTokenizerOrABrokenOne(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isDirectory(STORIES), "no shared model at " + STORIES.toAbsolutePath().normalize());
        for (String f : new String[] {"config.json", "model.safetensors"}) {
            Files.copy(STORIES.resolve(f), dir.resolve(f));
        }
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertTrue(c.tokenizer().isEmpty());
            Files.writeString(dir.resolve("vocab.json"), "{\"tokens\": [\"a\"], \"scores\": []}");
            ModelFormatException e = assertThrows(ModelFormatException.class, c::tokenizer);
            assertTrue(e.getMessage().contains("vocab.json"), e.getMessage());
        }
        assertTrue(Arrays.stream(dir.toFile().list()).anyMatch(n -> n.equals("vocab.json")));
    }
}
