package ringattn.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ringattn.io.FileFormatException;

/** Reading Hugging Face {@code tokenizer.json} files: the supported shapes, then broken and hostile ones. */
class TokenizerJsonTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text, StandardCharsets.UTF_8);
    }

    private static final String LLAMA3_JSON = TinyByteLevel.json(true);

    /** The file reads into the tokenizer the lists build, merges as pairs or as strings. */
    @Test
    void llama3StyleFileEncodesLikeTheLists() throws IOException {
        ByteLevelBpeTokenizer lists = TinyByteLevel.tokenizer(ByteLevelBpeTokenizer.LLAMA3_SPLIT, true);
        for (boolean pairs : new boolean[] {true, false}) {
            ByteLevelBpeTokenizer file = ByteLevelBpeTokenizer.read(write("tokenizer.json", TinyByteLevel.json(pairs)));
            assertEquals(TinyByteLevel.BOS, file.bos(), "BOS from the post-processor's template");
            assertEquals(-1, file.eos(), "no tokenizer_config.json: no EOS");
            assertEquals(274, file.vocabSize());
            Random r = new Random(9);
            for (int i = 0; i < 300; i++) {
                String s = TokenizerStreamingTest.randomText(r, 30) + " the<tool> ther 12345";
                assertArrayEquals(lists.encode(s, true), file.encode(s, true));
            }
        }
    }

    /** tokenizer_config.json beside the file names BOS and EOS, as a string or as {"content": ...}. */
    @Test
    void bosAndEosComeFromTokenizerConfig() throws IOException {
        Path json = write("tokenizer.json", LLAMA3_JSON);
        write("tokenizer_config.json", """
                {"bos_token": "<|begin_of_text|>", "eos_token": {"content": "<|end_of_text|>", "lstrip": false},
                 "model_max_length": 131072}""");
        ByteLevelBpeTokenizer tok = ByteLevelBpeTokenizer.read(json);
        assertEquals(TinyByteLevel.BOS, tok.bos());
        assertEquals(TinyByteLevel.EOS, tok.eos());
        write("tokenizer_config.json", "{\"bos_token\": null, \"eos_token\": \"<|eot_id|>\"}");
        assertFails(json, "tokenizer_config.json: eos_token: '<|eot_id|>' is not a token");
    }

    /**
     * GPT-2's shape: ByteLevel alone with its own split and add_prefix_space. "the" becomes " the":
     * [Ġthe]; "12345" stays one word (GPT-2 splits digits only from letters): Ġ·1? no merge, 3·4 (8)
     * before 4·5 (9): [Ġ, 1, 2, 34, 5]. No template: no BOS.
     */
    @Test
    void gpt2StyleByteLevelWithPrefixSpace() throws IOException {
        String gpt2 = LLAMA3_JSON.replaceFirst("(?s)\"pre_tokenizer\": \\{\"type\": \"Sequence\".*?\"use_regex\": false}]},",
                "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"use_regex\": true},")
                .replaceFirst("(?s)\"post_processor\": \\{.*?\"special_tokens\": \\{}}]},", "\"post_processor\": null,");
        assertFalse(gpt2.contains("Split") || gpt2.contains("TemplateProcessing"), gpt2);
        ByteLevelBpeTokenizer tok = ByteLevelBpeTokenizer.read(write("tokenizer.json", gpt2));
        assertArrayEquals(new int[] {258}, tok.encode("the", false));
        assertArrayEquals(new int[] {' ', '1', '2', 264, '5'}, tok.encode("12345", false));
        assertEquals(-1, tok.bos());
    }

    /** A Split on a string splits on that literal text ("." is a full stop, not any character). */
    @Test
    void splitOnAStringIsLiteral() throws IOException {
        ByteLevelBpeTokenizer tok = ByteLevelBpeTokenizer.read(write("tokenizer.json",
                LLAMA3_JSON.replaceFirst("\"Regex\": \"[^\"]*\"", "\"String\": \".\"")));
        // words "he", ".", " the": [he, ., Ġthe]; "." as a regular expression would cut every character
        assertArrayEquals(new int[] {257, '.', 258}, tok.encode("he. the", false));
    }

    /** An NFC normalizer composes e + U+0301 into é (C3 A9) before the bytes are taken. */
    @Test
    void nfcNormalizerComposes() throws IOException {
        ByteLevelBpeTokenizer plain = ByteLevelBpeTokenizer.read(write("tokenizer.json", LLAMA3_JSON));
        assertArrayEquals(new int[] {'e', 0xCC, 0x81}, plain.encode("e\u0301", false));
        ByteLevelBpeTokenizer nfc = ByteLevelBpeTokenizer.read(write("tokenizer.json",
                LLAMA3_JSON.replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"NFC\"}")));
        assertArrayEquals(new int[] {0xC3, 0xA9}, nfc.encode("e\u0301", false));
    }

    private void assertFails(Path file, String expected) {
        FileFormatException e = assertThrows(FileFormatException.class, () -> ByteLevelBpeTokenizer.read(file));
        assertTrue(e.getMessage().contains(expected), () -> "message '" + e.getMessage() + "' lacks '" + expected + "'");
        assertTrue(e.getMessage().startsWith(dir.toString()), () -> "names the file: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
    }

    private void assertFails(String json, String expected) throws IOException {
        assertFails(write("tokenizer.json", json), expected);
    }

    @Test
    void unsupportedOrInconsistentFilesSayWhichField() throws IOException {
        assertFails("{\"version\": \"1.0\"}", "model: missing");
        assertFails(LLAMA3_JSON.replace("\"type\": \"BPE\"", "\"type\": \"WordPiece\""), "model.type: 'WordPiece' is not supported");
        assertFails(LLAMA3_JSON.replace("\"byte_fallback\": false", "\"byte_fallback\": true"), "model.byte_fallback: true");
        assertFails(LLAMA3_JSON.replace("\"continuing_subword_prefix\": null", "\"continuing_subword_prefix\": \"##\""),
                "model.continuing_subword_prefix: '##' is not supported");
        assertFails(LLAMA3_JSON.replace("\"Ġther\": 270", "\"Ġther\": 275"), "model.vocab['Ġther']: expected an id 0..273");
        assertFails(LLAMA3_JSON.replace("\"Ġther\": 270", "\"Ġther\": -1"), "model.vocab['Ġther']: expected an id");
        assertFails(LLAMA3_JSON.replace("\"Ġther\": 270", "\"Ġther\": \"270\""), "got '270'");
        assertFails(LLAMA3_JSON.replace("\"Ġther\": 270", "\"Ġther\": 256"), "id 256 is both 'Ġt' and 'Ġther'");
        assertFails(LLAMA3_JSON.replace("{\"id\": 273, \"content\": \"<tool>\"", "{\"id\": 270, \"content\": \"<tool>\""),
                "added_tokens[2].id: id 270 is both 'Ġther' and '<tool>'");
        // a gap: Ġther (270) gone, two added tokens repeating vocabulary entries keep the count at 274
        assertFails(LLAMA3_JSON.replace(", \"Ġther\": 270", "").replace("\"added_tokens\": [",
                "\"added_tokens\": [{\"id\": 0, \"content\": \"Ā\"}, {\"id\": 1, \"content\": \"ā\"},"),
                "model.vocab: no token has id 270");
        assertFails(LLAMA3_JSON.replace("[\"h\", \"e\"]", "[\"h\", \"e\", \"x\"]"), "model.merges[1]: expected \"left right\"");
        assertFails(LLAMA3_JSON.replace("[\"h\", \"e\"]", "[\"h\", \"x\"]"), "merges: entry 1 ('h x'): the merged piece");
        assertFails(LLAMA3_JSON.replace("\"Isolated\"", "\"Removed\""), "pre_tokenizer.pretokenizers[0].behavior: 'Removed'");
        assertFails(LLAMA3_JSON.replace("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
                + "\"use_regex\": false}", "{\"type\": \"Digits\"}"), "pre_tokenizer.pretokenizers[1].type: 'Digits'");
        assertFails(LLAMA3_JSON.replaceFirst(",\\s*\\{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
                + "\"use_regex\": false}]", "]"), "pre_tokenizer: has no ByteLevel step");
        assertFails(LLAMA3_JSON.replaceFirst("\"Regex\": \"[^\"]*\"", "\"Regex\": \"(\""), "split: not a valid expression");
        assertFails(LLAMA3_JSON.replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"Lowercase\"}"),
                "normalizer.type: 'Lowercase' is not supported");
        assertFails(LLAMA3_JSON.replace("\"vocab\": {", "\"vocab\": [").replace(", \"Ġther\": 270}", ", \"Ġther\": 270]"),
                "bad JSON");
        assertFails(LLAMA3_JSON.replace("\"model\": {", "\"model\": [1, 2], \"x\": {"), "model: expected an object, got a list");
        assertFails("[".repeat(100) + "]".repeat(100), "nested deeper than");
        assertFails(LLAMA3_JSON.substring(0, LLAMA3_JSON.length() / 2), "bad JSON");
    }

    @Test
    void unreadableFilesSaySo() throws IOException {
        assertFails(dir.resolve("absent.json"), "cannot read");
        Path bad = Files.write(dir.resolve("latin1.json"), new byte[] {'{', '"', (byte) 0xE9, '"', ':', '1', '}'});
        assertFails(bad, "not UTF-8 text");
        Path huge = dir.resolve("huge.json");
        try (RandomAccessFile f = new RandomAccessFile(huge.toFile(), "rw")) {
            f.setLength(TokenizerJson.MAX_FILE_BYTES + 1); // sparse: no disk used
        }
        assertFails(huge, "more than the " + TokenizerJson.MAX_FILE_BYTES + " accepted");
    }

    /**
     * Hostile files: the valid file cut short, or with bytes overwritten at random (by characters
     * that matter to JSON and by random bytes). Each either reads or fails with FileFormatException;
     * nothing else escapes.
     */
    @Test
    void fuzzedFilesReadOrFailCleanly() throws IOException {
        byte[] good = LLAMA3_JSON.getBytes(StandardCharsets.UTF_8);
        byte[] specials = "{}[]\":,0123456789-e.tfn \\u".getBytes(StandardCharsets.US_ASCII);
        Random r = new Random(17);
        int failed = 0;
        for (int i = 0; i < 400; i++) {
            byte[] b = i % 4 == 0 ? java.util.Arrays.copyOf(good, r.nextInt(good.length)) : good.clone();
            for (int k = 0, n = 1 + r.nextInt(4); i % 4 != 0 && k < n; k++) {
                b[r.nextInt(b.length)] = r.nextBoolean() ? specials[r.nextInt(specials.length)] : (byte) r.nextInt(256);
            }
            Path f = Files.write(dir.resolve("fuzz.json"), b);
            try {
                ByteLevelBpeTokenizer tok = ByteLevelBpeTokenizer.read(f);
                tok.encode("the singing 12345", tok.bos() >= 0);
            } catch (FileFormatException e) {
                failed++;
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
            }
        }
        assertTrue(failed > 100, "most damaged files should be refused: " + failed);
    }
}
