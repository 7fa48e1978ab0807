package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import ringattn.io.GgmlType;
import ringattn.io.GgufValue;
import ringattn.io.GgufWriter;

/** {@code ringattn prefill --model FILE.gguf}: a real GGUF against llama.cpp's logits, and bad files as exit 2. */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class PrefillGgufTest {
    static final Path STORIES = Path.of("../../../shared/models/stories260K");

    @TempDir
    Path dir;

    /**
     * stories260K's GGUF on 2 ranks against the logits llama.cpp computed from the same file (fp32):
     * 2e-4 absolute on logits up to 22, as the model's tests hold its fp64 reference (llama.cpp and
     * that reference agree to 2.3e-5, ours to 2e-5), and the same argmax at every position.
     */
    @Test
    void storiesGgufMatchesLlamaCpp() {
        Path gguf = STORIES.resolve("stories260K.gguf");
        assumeTrue(Files.isRegularFile(gguf), "no shared model at " + gguf.toAbsolutePath().normalize());
        Path out = dir.resolve("logits.npy");
        CliRun r = PrefillCommandTest.prefill("--model", gguf.toString(), "--tokens",
                STORIES.resolve("ref/tokens_greedy256.npy").toString(), "--ranks", "2", "--threads", "1",
                "--out", out.toString(), "--json");
        assertEquals(0, r.code(), r.toString());
        assertEquals(256L, PrefillCommandTest.json(r).get("seq"));
        float[][] ours = PrefillFiles.readLogits(out);
        float[][] llamaCpp = PrefillFiles.readLogits(STORIES.resolve("ref/logits_greedy256_llamacpp_f32.npy"));
        double diff = PrefillFiles.maxAbsDiff(ours, llamaCpp);
        System.out.println("prefill --model stories260K.gguf: max |ours - llama.cpp| = " + diff);
        assertTrue(diff <= 2e-4, "max |ours - llama.cpp| = " + diff);
        for (int t = 0; t < ours.length; t++) {
            assertEquals(argmax(llamaCpp[t]), argmax(ours[t]), "argmax at position " + t);
        }
    }

    static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            best = row[i] > row[best] ? i : best;
        }
        return best;
    }

    /** A GGUF with a tensor and llama metadata that the model cannot run (no block count). */
    static GgufWriter almostAModel() {
        return new GgufWriter().put("general.architecture", GgufValue.string("llama"))
                .put("llama.embedding_length", GgufValue.uint32(64))
                .tensor("token_embd.weight", GgmlType.F32, new long[] {64, 4}, GgufWriter.f32(new float[256]));
    }

    /**
     * Bad GGUF files: exit 2 and one stderr line naming --model, the file and what is wrong: not GGUF
     * at all, empty, truncated, another architecture, a missing key; an --out that is the model file
     * is refused before anything is written.
     */
    @Test
    void badGgufFilesExit2WithOneLine() throws IOException {
        Path text = dir.resolve("text.gguf");
        Files.writeString(text, "not a model\n");
        Path empty = dir.resolve("empty.gguf");
        Files.write(empty, new byte[0]);
        Path truncated = dir.resolve("truncated.gguf");
        byte[] whole = almostAModel().toBytes();
        Files.write(truncated, Arrays.copyOf(whole, whole.length - 64));
        Path qwen = dir.resolve("qwen.gguf");
        new GgufWriter().put("general.architecture", GgufValue.string("qwen2")).write(qwen);
        Path noBlocks = dir.resolve("noblocks.gguf");
        almostAModel().write(noBlocks);
        List<List<String>> cases = List.of(
                List.of(text.toString(), "not a GGUF file"),
                List.of(empty.toString(), "not a GGUF file"),
                List.of(truncated.toString(), "lie outside the"),
                List.of(qwen.toString(), "general.architecture is 'qwen2'; only llama is supported"),
                List.of(noBlocks.toString(), "metadata 'llama.attention.head_count': missing"));
        for (List<String> c : cases) {
            CliRun r = PrefillCommandTest.prefill("--model", c.get(0), "--random", "4");
            PrefillCommandTest.assertOneLine(r, "--model: " + c.get(0) + ": ");
            assertTrue(r.err().contains(c.get(1)), r.toString());
        }
        CliRun clobber = PrefillCommandTest.prefill("--model", noBlocks.toString(), "--random", "4", "--out", noBlocks.toString());
        PrefillCommandTest.assertOneLine(clobber, "--out: " + noBlocks + " is also the input of --model");
        assertTrue(Files.size(noBlocks) == whole.length, "the model file survives");
    }
}
