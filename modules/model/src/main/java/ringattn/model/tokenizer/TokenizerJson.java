package ringattn.model.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import ringattn.io.FileFormatException;
import ringattn.io.Json;
import ringattn.io.Snippet;

/**
 * Reads a Hugging Face {@code tokenizer.json} into a {@link ByteLevelBpeTokenizer}. Supported:
 * {@code model.type = "BPE"} without byte fallback, word prefixes or suffixes ({@code model.vocab},
 * {@code model.merges} as {@code "a b"} strings or {@code ["a", "b"]} pairs, {@code model.ignore_merges});
 * {@code added_tokens} (special ones become control tokens, the others user-defined); no normalizer
 * or NFC; a pre-tokenizer made of {@code Split} steps (a regular expression or a string, behaviour
 * {@code Isolated}) followed by {@code ByteLevel} (its own GPT-2 split when {@code use_regex}), alone
 * or in a {@code Sequence}. BOS and EOS come from {@code bos_token} and {@code eos_token} in
 * {@code tokenizer_config.json} beside the file when it exists, else BOS from the post-processor's
 * {@code TemplateProcessing} (the special token it puts first) and no EOS.
 *
 * <p>Hostile files are bounded: at most {@value #MAX_FILE_BYTES} bytes (Llama 3's file is about 9 MB),
 * ids below {@value #MAX_TOKENS} and below the number of entries, split expressions up to {@link ByteLevelBpeTokenizer#MAX_SPLIT_CHARS}
 * characters, JSON depth and number length as {@link Json} bounds them; every problem is a
 * {@link FileFormatException} whose one-line message names the file and the field. The split
 * expressions are the file's own, compiled as Java expressions. Stateless.
 */
final class TokenizerJson {
    /** Largest {@code tokenizer.json} or {@code tokenizer_config.json} read, bytes. */
    static final long MAX_FILE_BYTES = 64L << 20;
    /** Ids must be below this (16 Mi; the largest vocabularies in use have about 256 Ki). */
    static final int MAX_TOKENS = 1 << 24;

    private final Path file;

    private TokenizerJson(Path file) {
        this.file = file;
    }

    static ByteLevelBpeTokenizer read(Path file) {
        return new TokenizerJson(file).tokenizer();
    }

    private FileFormatException fail(String field, String problem) {
        return new FileFormatException(file, field + ": " + problem);
    }

    /** The JSON document in {@code path}, bounded and strictly UTF-8. */
    private static Object parse(Path path) {
        try {
            long size = Files.size(path);
            if (size > MAX_FILE_BYTES) {
                throw new FileFormatException(path, size + " bytes, more than the " + MAX_FILE_BYTES + " accepted");
            }
            String text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(Files.readAllBytes(path))).toString();
            return Json.parse(text);
        } catch (CharacterCodingException e) {
            throw new FileFormatException(path, "not UTF-8 text", e);
        } catch (IOException e) {
            throw new FileFormatException(path, "cannot read: " + e, e);
        } catch (Json.SyntaxException e) {
            throw new FileFormatException(path, e.getMessage(), e);
        }
    }

    private ByteLevelBpeTokenizer tokenizer() {
        Map<?, ?> root = object(parse(file), "the document");
        Map<?, ?> model = object(root.get("model"), "model");
        String type = string(model.get("type"), "model.type");
        if (!type.equals("BPE")) {
            throw fail("model.type", "'" + Snippet.of(type) + "' is not supported (only BPE)");
        }
        if (Boolean.TRUE.equals(model.get("byte_fallback"))) {
            throw fail("model.byte_fallback", "true (a SentencePiece vocabulary in tokenizer.json form) is not supported;"
                    + " use the SentencePiece tokenizer with the model's GGUF vocabulary");
        }
        for (String key : List.of("continuing_subword_prefix", "end_of_word_suffix")) {
            Object v = absentIfNull(model.get(key));
            if (v != null && !"".equals(v)) {
                throw fail("model." + key, "'" + Snippet.of(v) + "' is not supported (byte-level BPE has none)");
            }
        }
        boolean ignoreMerges = bool(model.get("ignore_merges"), "model.ignore_merges", false);

        Map<?, ?> entries = object(model.get("vocab"), "model.vocab");
        Object addedNode = absentIfNull(root.get("added_tokens"));
        List<?> added = addedNode == null ? List.of() : list(addedNode, "added_tokens");
        // ids run from 0 without gaps, so none can reach the number of entries: that bounds the tables
        Vocabulary vocab = new Vocabulary(Math.min(MAX_TOKENS, entries.size() + added.size()));
        for (Map.Entry<?, ?> e : entries.entrySet()) {
            String piece = (String) e.getKey();
            vocab.put(e.getValue(), "model.vocab['" + Snippet.of(piece) + "']", piece, TokenType.NORMAL);
        }
        for (int i = 0; i < added.size(); i++) {
            String field = "added_tokens[" + i + "]";
            Map<?, ?> t = object(added.get(i), field);
            String content = string(t.get("content"), field + ".content");
            boolean special = bool(t.get("special"), field + ".special", false);
            vocab.put(t.get("id"), field + ".id", content, special ? TokenType.CONTROL : TokenType.USER_DEFINED);
        }
        List<String> pieces = vocab.pieces();
        int[] types = vocab.types();

        List<String[]> merges = new ArrayList<>();
        List<?> mergeList = list(model.get("merges"), "model.merges");
        for (int i = 0; i < mergeList.size(); i++) {
            merges.add(merge(mergeList.get(i), "model.merges[" + i + "]"));
        }

        boolean nfc = normalizer(absentIfNull(root.get("normalizer")));
        PreTokenizer pre = new PreTokenizer();
        pre.add(absentIfNull(root.get("pre_tokenizer")), "pre_tokenizer");
        if (!pre.byteLevel) {
            throw fail("pre_tokenizer", "has no ByteLevel step: not a byte-level BPE tokenizer");
        }

        int[] special = specialTokens(root, pieces);
        try {
            return ByteLevelBpeTokenizer.of(new ByteLevelBpeTokenizer.Options(pieces, types, merges, pre.splits,
                    pre.addPrefixSpace, ignoreMerges, nfc, special[0], special[1]));
        } catch (IllegalArgumentException e) {
            throw new FileFormatException(file, e.getMessage(), e);
        }
    }

    /** Ids to pieces and types, dense from 0. */
    private final class Vocabulary {
        private final int limit;
        private final List<String> pieces = new ArrayList<>();
        private final List<TokenType> types = new ArrayList<>();

        /** @param limit ids must be below this */
        Vocabulary(int limit) {
            this.limit = limit;
        }

        void put(Object idValue, String field, String piece, TokenType type) {
            if (!(idValue instanceof Long l) || l < 0 || l >= limit) {
                throw fail(field, "expected an id 0.." + (limit - 1) + " (ids run from 0 without gaps), got "
                        + describe(idValue));
            }
            int id = (int) (long) l;
            while (pieces.size() <= id) {
                pieces.add(null);
                types.add(null);
            }
            String before = pieces.get(id);
            if (before != null && !before.equals(piece)) {
                throw fail(field, "id " + id + " is both '" + Snippet.of(before) + "' and '" + Snippet.of(piece) + "'");
            }
            pieces.set(id, piece);
            types.set(id, type);
        }

        List<String> pieces() {
            int gap = pieces.indexOf(null);
            if (gap >= 0) {
                throw fail("model.vocab", "no token has id " + gap + " (ids must run from 0 to "
                        + (pieces.size() - 1) + " without gaps)");
            }
            if (pieces.isEmpty()) {
                throw fail("model.vocab", "is empty");
            }
            return pieces;
        }

        int[] types() {
            return types.stream().mapToInt(TokenType::code).toArray();
        }
    }

    private String[] merge(Object o, String field) {
        if (o instanceof String s) {
            int space = s.indexOf(' ');
            if (space <= 0 || space == s.length() - 1 || s.indexOf(' ', space + 1) >= 0) {
                throw fail(field, "'" + Snippet.of(s) + "' is not two parts separated by one space");
            }
            return new String[] {s.substring(0, space), s.substring(space + 1)};
        }
        if (o instanceof List<?> l && l.size() == 2 && l.get(0) instanceof String a && l.get(1) instanceof String b) {
            return new String[] {a, b};
        }
        throw fail(field, "expected \"left right\" or [\"left\", \"right\"], got " + describe(o));
    }

    private boolean normalizer(Object n) {
        if (n == null) {
            return false;
        }
        String type = string(object(n, "normalizer").get("type"), "normalizer.type");
        if (type.equals("NFC")) {
            return true;
        }
        throw fail("normalizer.type", "'" + Snippet.of(type) + "' is not supported (only none or NFC)");
    }

    /** The pre-tokenizer as a list of split expressions ending at the byte-level mapping. */
    private final class PreTokenizer {
        final List<String> splits = new ArrayList<>();
        boolean byteLevel;
        boolean addPrefixSpace;

        void add(Object node, String field) {
            if (node == null) {
                return;
            }
            Map<?, ?> m = object(node, field);
            String type = string(m.get("type"), field + ".type");
            if (byteLevel) {
                throw fail(field, type + " after ByteLevel is not supported");
            }
            switch (type) {
                case "Sequence" -> {
                    List<?> steps = list(m.get("pretokenizers"), field + ".pretokenizers");
                    for (int i = 0; i < steps.size(); i++) {
                        add(steps.get(i), field + ".pretokenizers[" + i + "]");
                    }
                }
                case "Split" -> {
                    Map<?, ?> pattern = object(m.get("pattern"), field + ".pattern");
                    String regex;
                    if (pattern.get("Regex") != null) {
                        regex = string(pattern.get("Regex"), field + ".pattern.Regex");
                    } else {
                        regex = Pattern.quote(string(pattern.get("String"), field + ".pattern.String"));
                    }
                    String behavior = string(m.get("behavior"), field + ".behavior");
                    if (!behavior.equals("Isolated")) {
                        throw fail(field + ".behavior", "'" + Snippet.of(behavior) + "' is not supported (only Isolated)");
                    }
                    if (bool(m.get("invert"), field + ".invert", false)) {
                        throw fail(field + ".invert", "true is not supported");
                    }
                    splits.add(regex);
                }
                case "ByteLevel" -> {
                    byteLevel = true;
                    addPrefixSpace = bool(m.get("add_prefix_space"), field + ".add_prefix_space", true);
                    if (addPrefixSpace && !splits.isEmpty()) {
                        throw fail(field + ".add_prefix_space", "true after a Split is not supported");
                    }
                    if (bool(m.get("use_regex"), field + ".use_regex", true)) {
                        splits.add(ByteLevelBpeTokenizer.GPT2_SPLIT);
                    }
                }
                default -> throw fail(field + ".type", "'" + Snippet.of(type)
                        + "' is not supported (only Sequence, Split and ByteLevel)");
            }
        }
    }

    /** {BOS, EOS}, each -1 when not known. */
    private int[] specialTokens(Map<?, ?> root, List<String> pieces) {
        Path config = file.resolveSibling("tokenizer_config.json");
        if (Files.isRegularFile(config)) {
            TokenizerJson c = new TokenizerJson(config);
            Map<?, ?> m = c.object(parse(config), "the document");
            return new int[] {c.tokenId(m.get("bos_token"), "bos_token", pieces),
                    c.tokenId(m.get("eos_token"), "eos_token", pieces)};
        }
        return new int[] {templateBos(absentIfNull(root.get("post_processor")), pieces), -1};
    }

    /** The id of a {@code tokenizer_config.json} token entry: a string, {"content": s} or null. */
    private int tokenId(Object entry, String field, List<String> pieces) {
        entry = absentIfNull(entry);
        if (entry == null) {
            return -1;
        }
        String content = entry instanceof Map<?, ?> m ? string(m.get("content"), field + ".content") : string(entry, field);
        int id = pieces.indexOf(content);
        if (id < 0) {
            throw fail(field, "'" + Snippet.of(content) + "' is not a token of the vocabulary");
        }
        return id;
    }

    /** The special token a TemplateProcessing post-processor puts first, or -1. */
    private int templateBos(Object node, List<String> pieces) {
        if (!(node instanceof Map<?, ?> m)) {
            return -1;
        }
        if ("Sequence".equals(m.get("type")) && m.get("processors") instanceof List<?> steps) {
            for (Object step : steps) {
                int id = templateBos(step, pieces);
                if (id >= 0) {
                    return id;
                }
            }
            return -1;
        }
        if (!"TemplateProcessing".equals(m.get("type")) || !(m.get("single") instanceof List<?> single)
                || single.isEmpty() || !(single.get(0) instanceof Map<?, ?> first)
                || !(first.get("SpecialToken") instanceof Map<?, ?> token)) {
            return -1;
        }
        String name = string(token.get("id"), "post_processor.single[0].SpecialToken.id");
        int id = pieces.indexOf(name);
        if (id < 0) {
            throw fail("post_processor.single[0].SpecialToken.id", "'" + Snippet.of(name) + "' is not a token of the vocabulary");
        }
        return id;
    }

    // ---- typed access ------------------------------------------------------------------------

    private static Object absentIfNull(Object o) {
        return o == Json.NULL ? null : o;
    }

    private Map<?, ?> object(Object o, String field) {
        if (o instanceof Map<?, ?> m) {
            return m;
        }
        throw fail(field, o == null ? "missing" : "expected an object, got " + describe(o));
    }

    private List<?> list(Object o, String field) {
        if (o instanceof List<?> l) {
            return l;
        }
        throw fail(field, o == null ? "missing" : "expected a list, got " + describe(o));
    }

    private String string(Object o, String field) {
        if (o instanceof String s) {
            return s;
        }
        throw fail(field, o == null ? "missing" : "expected a string, got " + describe(o));
    }

    private boolean bool(Object o, String field, boolean absent) {
        o = absentIfNull(o);
        if (o == null) {
            return absent;
        }
        if (o instanceof Boolean b) {
            return b;
        }
        throw fail(field, "expected true or false, got " + describe(o));
    }

    /** A value for a message: its type for containers (which may be huge), else a snippet. */
    private static String describe(Object o) {
        if (o instanceof Map<?, ?>) {
            return "an object";
        }
        if (o instanceof List<?>) {
            return "a list";
        }
        return o instanceof String s ? "'" + Snippet.of(s) + "'" : Snippet.of(o);
    }
}
