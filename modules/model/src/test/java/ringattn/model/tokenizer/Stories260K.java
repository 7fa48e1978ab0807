package ringattn.model.tokenizer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import ringattn.io.ArrayData;
import ringattn.io.Json;
import ringattn.io.Npy;

/**
 * The stories260K vocabulary beside the checkout ({@code ../shared/models/stories260K}, read in
 * place, never copied): its {@code vocab.json} holds the same 512 pieces, scores and token types as
 * the GGUF's {@code tokenizer.ggml.*}. Tests that need it are skipped when it is absent.
 */
final class Stories260K {
    static final Path DIR = Path.of("../../../shared/models/stories260K");

    private Stories260K() {
    }

    static void assumePresent() {
        assumeTrue(Files.isRegularFile(DIR.resolve("vocab.json")), "no shared model at "
                + DIR.toAbsolutePath().normalize() + " (../shared/models/stories260K beside the checkout)");
    }

    /** The vocabulary as llama.cpp loads it from the GGUF: BOS 1, EOS 2, dummy prefix on. */
    static SentencePieceTokenizer tokenizer() throws IOException {
        assumePresent();
        Map<?, ?> vocab = (Map<?, ?>) Json.parse(Files.readString(DIR.resolve("vocab.json"), StandardCharsets.UTF_8));
        List<String> pieces = new ArrayList<>();
        for (Object o : (List<?>) vocab.get("tokens")) {
            pieces.add((String) o);
        }
        List<?> scoreList = (List<?>) vocab.get("scores");
        List<?> typeList = (List<?>) vocab.get("token_types");
        float[] scores = new float[scoreList.size()];
        int[] types = new int[typeList.size()];
        for (int i = 0; i < scores.length; i++) {
            scores[i] = ((Number) scoreList.get(i)).floatValue();
        }
        for (int i = 0; i < types.length; i++) {
            types[i] = ((Number) typeList.get(i)).intValue();
        }
        return SentencePieceTokenizer.of(pieces, scores, types, 1, 2);
    }

    /** {@code ref/tokens_greedy256.npy}: BOS then llama.cpp's greedy continuation, 256 ids. */
    static int[] greedyTokens() {
        assumePresent();
        try (Arena arena = Arena.ofConfined()) {
            ArrayData a = Npy.read(DIR.resolve("ref/tokens_greedy256.npy"), arena);
            int[] out = new int[(int) a.elementCount()];
            for (int i = 0; i < out.length; i++) {
                out[i] = Math.toIntExact(a.getLong(i));
            }
            return out;
        }
    }
}
