package ringattn.model.tokenizer;

import java.util.ArrayList;
import java.util.List;
import ringattn.io.Json;

/**
 * A hand-built byte-level BPE vocabulary, small enough to work encodings out by hand. Ids 0..255 are
 * the bytes (id = byte value, piece = its byte-level character: {@code Ġ} is id 32), then
 * <pre>
 * rank merge  id  piece     rank merge  id  piece
 *  0   Ġ t    256 Ġt         7   t h    263 th
 *  1   h e    257 he         8   3 4    264 34
 *  2   Ġt he  258 Ġthe       9   4 5    265 45
 *  3   i n    259 in        10   Ġ Ġ    266 ĠĠ
 *  4   in g   260 ing       11   Ċ Ċ    267 ĊĊ
 *  5   Ġ a    261 Ġa        12   ' s    268 's
 *  6   e r    262 er        13   . Ġ    269 .Ġ
 * </pre>
 * ({@code Ċ} is a newline), then 270 {@code Ġther} (a normal piece no merge makes: only
 * {@code ignore_merges} can produce it) and the added tokens 271 {@code <|begin_of_text|>} (special:
 * BOS), 272 {@code <|end_of_text|>} (special: EOS) and 273 {@code <tool>} (not special).
 */
final class TinyByteLevel {
    static final List<String> MERGES = List.of("Ġ t", "h e", "Ġt he", "i n", "in g", "Ġ a", "e r", "t h", "3 4", "4 5",
            "Ġ Ġ", "Ċ Ċ", "' s", ". Ġ");
    static final int THER = 270;
    static final int BOS = 271;
    static final int EOS = 272;
    static final int TOOL = 273;

    private TinyByteLevel() {
    }

    static List<String> pieces() {
        List<String> pieces = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            pieces.add(String.valueOf(ByteLevel.charOf(b)));
        }
        for (String m : MERGES) {
            pieces.add(m.replace(" ", ""));
        }
        pieces.addAll(List.of("Ġther", "<|begin_of_text|>", "<|end_of_text|>", "<tool>"));
        return pieces;
    }

    static int[] types() {
        int[] types = new int[274];
        java.util.Arrays.fill(types, TokenType.NORMAL.code());
        types[BOS] = TokenType.CONTROL.code();
        types[EOS] = TokenType.CONTROL.code();
        types[TOOL] = TokenType.USER_DEFINED.code();
        return types;
    }

    /** The tokenizer built from plain lists. */
    static ByteLevelBpeTokenizer tokenizer(String split, boolean ignoreMerges) {
        return ByteLevelBpeTokenizer.of(pieces(), types(), MERGES, split, ignoreMerges, BOS, EOS);
    }

    /**
     * The same vocabulary as a Llama 3-style {@code tokenizer.json}: Split with Llama 3's expression,
     * then ByteLevel without its own split; merges as pairs when {@code pairMerges}, else as strings.
     */
    static String json(boolean pairMerges) {
        List<String> pieces = pieces();
        StringBuilder vocab = new StringBuilder();
        for (int id = 0; id < 256 + MERGES.size(); id++) {
            vocab.append(id == 0 ? "" : ", ").append(Json.quote(pieces.get(id))).append(": ").append(id);
        }
        vocab.append(", ").append(Json.quote("Ġther")).append(": ").append(THER);
        StringBuilder merges = new StringBuilder();
        for (String m : MERGES) {
            String[] p = m.split(" ");
            merges.append(merges.isEmpty() ? "" : ", ")
                    .append(pairMerges ? "[" + Json.quote(p[0]) + ", " + Json.quote(p[1]) + "]" : Json.quote(m));
        }
        return """
                {"version": "1.0", "truncation": null, "padding": null,
                 "added_tokens": [
                  {"id": 271, "content": "<|begin_of_text|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                  {"id": 272, "content": "<|end_of_text|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                  {"id": 273, "content": "<tool>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false}],
                 "normalizer": null,
                 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                  {"type": "Split", "pattern": {"Regex": SPLIT}, "behavior": "Isolated", "invert": false},
                  {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
                 "post_processor": {"type": "Sequence", "processors": [
                  {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
                  {"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                   "pair": [], "special_tokens": {}}]},
                 "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
                 "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": true,
                  "vocab": {VOCAB},
                  "merges": [MERGES]}}
                """.replace("SPLIT", Json.quote(ByteLevelBpeTokenizer.LLAMA3_SPLIT))
                .replace("VOCAB", vocab).replace("MERGES", merges);
    }
}
