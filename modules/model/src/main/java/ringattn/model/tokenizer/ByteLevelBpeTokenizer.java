package ringattn.model.tokenizer;

import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import ringattn.io.Snippet;

/**
 * Byte-level BPE, the GPT-2 / Llama 3 family, as Hugging Face's {@code tokenizers} runs it. Encoding:
 * non-special added tokens are cut out of the text whole; each remaining run is split into words by
 * the pre-tokenizer's regular expressions (Llama 3's {@link #LLAMA3_SPLIT}, GPT-2's
 * {@link #GPT2_SPLIT}; both the matches and any text between them are words); each word's UTF-8
 * bytes are written as byte-level characters ({@code Ġ} for a space, see {@link ByteLevel}) and
 * merged pair by pair, always the adjacent pair of lowest merge rank (ties: the leftmost), until no
 * pair has a rank. With {@code ignoreMerges} (Llama 3) a word that is itself a piece is taken whole.
 * Every byte is a piece, so there is no unknown token and no fallback.
 *
 * <p>Special added tokens ({@code <|begin_of_text|>}, {@code <|eot_id|>}: type {@link TokenType#CONTROL})
 * are never produced from text, even text that spells them (Hugging Face would match them by
 * default; llama.cpp, like this class, only on request), and decode to nothing. Decoding maps each
 * piece's characters back to bytes and reads the bytes as UTF-8. Immutable and thread-safe.
 */
public final class ByteLevelBpeTokenizer implements Tokenizer {
    /** Llama 3's pre-tokenizer split, as its {@code tokenizer.json} has it. */
    public static final String LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** GPT-2's pre-tokenizer split (the {@code ByteLevel} pre-tokenizer's own, {@code use_regex}). */
    public static final String GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    /** Longest split expression accepted, characters. */
    public static final int MAX_SPLIT_CHARS = 4096;

    private final Map<String, Integer> mergeable;
    private final int[] byteIds = new int[256];
    /** (left id << 32 | right id) → (rank << 32 | merged id). */
    private final Map<Long, Long> merges;
    private final List<Pattern> splits;
    private final boolean addPrefixSpace;
    private final boolean ignoreMerges;
    private final boolean nfc;
    private final LiteralTokens literals;
    private final PieceTable pieces;
    private final int bos;
    private final int eos;

    private ByteLevelBpeTokenizer(Options o) {
        int n = o.pieces.size();
        if (n == 0) {
            throw new IllegalArgumentException("pieces: the vocabulary is empty");
        }
        if (o.types.length != n) {
            throw new IllegalArgumentException("types: expected " + n + " entries like pieces, got " + o.types.length);
        }
        this.bos = checkId("bos", o.bos, n);
        this.eos = checkId("eos", o.eos, n);
        this.addPrefixSpace = o.addPrefixSpace;
        this.ignoreMerges = o.ignoreMerges;
        this.nfc = o.nfc;
        this.splits = new ArrayList<>();
        for (String regex : o.splits) {
            splits.add(compile(regex));
        }
        mergeable = new HashMap<>(2 * n);
        Map<String, Integer> all = new HashMap<>(2 * n);
        Map<String, Integer> literalMap = new HashMap<>();
        byte[][] bytes = new byte[n][];
        for (int id = 0; id < n; id++) {
            String piece = o.pieces.get(id);
            if (piece == null || piece.isEmpty()) {
                throw new IllegalArgumentException("pieces: entry " + id + " is " + (piece == null ? "null" : "empty"));
            }
            Integer before = all.put(piece, id);
            if (before != null) {
                throw new IllegalArgumentException("pieces: entries " + before + " and " + id + " are both '"
                        + Snippet.of(piece) + "'");
            }
            TokenType type = TokenType.at(o.types, id);
            bytes[id] = switch (type) {
                case NORMAL, UNDEFINED -> ByteLevel.unmap(piece);
                case BYTE -> TokenType.byteOf(piece) >= 0 ? new byte[] {(byte) TokenType.byteOf(piece)}
                        : ByteLevel.unmap(piece);
                case USER_DEFINED -> Utf8.bytes(piece);
                case CONTROL, UNKNOWN, UNUSED -> new byte[0];
            };
            if (type == TokenType.USER_DEFINED) {
                literalMap.put(piece, id);
            } else if (type == TokenType.NORMAL || type == TokenType.UNDEFINED) {
                mergeable.put(piece, id);
            }
        }
        for (int b = 0; b < 256; b++) {
            Integer id = mergeable.get(String.valueOf(ByteLevel.charOf(b)));
            if (id == null) {
                throw new IllegalArgumentException(String.format(
                        "pieces: byte 0x%02X ('%s') has no piece; a byte-level vocabulary has all 256", b,
                        Snippet.of(ByteLevel.charOf(b))));
            }
            byteIds[b] = id;
        }
        merges = mergeTable(o.merges);
        this.literals = new LiteralTokens(literalMap);
        this.pieces = new PieceTable(bytes, false);
    }

    /** The merges by rank as (left id << 32 | right id) → (rank << 32 | merged id); the first rank of a pair wins. */
    private Map<Long, Long> mergeTable(List<String[]> pairs) {
        Map<Long, Long> table = new HashMap<>(2 * pairs.size());
        for (int rank = 0; rank < pairs.size(); rank++) {
            String[] pair = pairs.get(rank);
            Integer left = mergeable.get(pair[0]);
            Integer right = mergeable.get(pair[1]);
            Integer merged = mergeable.get(pair[0] + pair[1]);
            if (left == null || right == null || merged == null) {
                throw new IllegalArgumentException("merges: entry " + rank + " ('" + Snippet.of(pair[0] + " " + pair[1])
                        + "'): " + (left == null ? "the left part" : right == null ? "the right part" : "the merged piece")
                        + " is not a piece of the vocabulary");
            }
            table.putIfAbsent(((long) left << 32) | right, ((long) rank << 32) | merged);
        }
        return table;
    }

    /** Everything a byte-level BPE tokenizer is made of, as plain values. */
    record Options(List<String> pieces, int[] types, List<String[]> merges, List<String> splits,
            boolean addPrefixSpace, boolean ignoreMerges, boolean nfc, int bos, int eos) {
    }

    /**
     * A tokenizer over a vocabulary given as plain lists (as GGUF's {@code tokenizer.ggml.model = "gpt2"}
     * stores one: {@code tokens}, {@code token_type}, {@code merges}). The lists are copied.
     *
     * @param pieces the byte-level piece of each id ({@code Ġ} for a space); control and user-defined
     *     pieces as their plain text
     * @param types the {@link TokenType} code of each piece
     * @param merges the merges by rank, each {@code "left right"} (one space between the parts)
     * @param split the pre-tokenizer's regular expression (Java syntax; {@link #LLAMA3_SPLIT} or
     *     {@link #GPT2_SPLIT}), or null to take each text run as one word
     * @param ignoreMerges whether a word that is a piece is taken whole (Llama 3)
     * @param bos the BOS id, or -1 for none
     * @param eos the EOS id, or -1 for none
     * @throws IllegalArgumentException for lists of different lengths, a duplicate or empty piece, a
     *     byte without its piece, a merge whose parts or result are no pieces, a bad expression or id
     */
    public static ByteLevelBpeTokenizer of(List<String> pieces, int[] types, List<String> merges, String split,
            boolean ignoreMerges, int bos, int eos) {
        Objects.requireNonNull(pieces, "pieces");
        Objects.requireNonNull(types, "types");
        List<String[]> pairs = new ArrayList<>(merges.size());
        for (int i = 0; i < merges.size(); i++) {
            String m = merges.get(i);
            int space = m == null ? -1 : m.indexOf(' ');
            if (space <= 0 || space == m.length() - 1 || m.indexOf(' ', space + 1) >= 0) {
                throw new IllegalArgumentException("merges: entry " + i + " ('" + Snippet.of(m)
                        + "') is not two parts separated by one space");
            }
            pairs.add(new String[] {m.substring(0, space), m.substring(space + 1)});
        }
        return new ByteLevelBpeTokenizer(new Options(List.copyOf(pieces), types.clone(), pairs,
                split == null ? List.of() : List.of(split), false, ignoreMerges, false, bos, eos));
    }

    /** A tokenizer from everything a reader gathered (used by {@link TokenizerJson}). */
    static ByteLevelBpeTokenizer of(Options options) {
        return new ByteLevelBpeTokenizer(options);
    }

    /**
     * Reads a Hugging Face {@code tokenizer.json} with a byte-level BPE model (Llama 3, GPT-2 and
     * their kin); BOS and EOS come from {@code tokenizer_config.json} beside it when present, else BOS
     * from the post-processor's template. See {@link TokenizerJson} for what is supported.
     *
     * @throws ringattn.io.FileFormatException for a file that is unreadable, too large, not JSON, or
     *     describes something unsupported; the message names the file and the field
     */
    public static ByteLevelBpeTokenizer read(Path tokenizerJson) {
        return TokenizerJson.read(tokenizerJson);
    }

    private static Pattern compile(String regex) {
        if (regex.length() > MAX_SPLIT_CHARS) {
            throw new IllegalArgumentException("split: expression of " + regex.length() + " characters, more than "
                    + MAX_SPLIT_CHARS);
        }
        try {
            // \s as Unicode white space, as in the Rust and Oniguruma expressions these come from
            return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("split: not a valid expression: "
                    + Snippet.of(e.getDescription()) + " at index " + e.getIndex(), e);
        }
    }

    private static int checkId(String name, int id, int n) {
        if (id < -1 || id >= n) {
            throw new IllegalArgumentException(name + ": expected -1 (none) or an id below " + n + ", got " + id);
        }
        return id;
    }

    @Override
    public int[] encode(String text, boolean addBos) {
        Objects.requireNonNull(text, "text");
        IdList out = new IdList();
        if (addBos) {
            if (bos < 0) {
                throw new IllegalStateException("addBos: the vocabulary has no BOS token");
            }
            out.add(bos);
        }
        String s = Utf8.wellFormed(text);
        literals.split(s, new LiteralTokens.Sink() {
            @Override
            public void text(int start, int end) {
                String run = s.substring(start, end);
                if (nfc) {
                    run = Normalizer.normalize(run, Normalizer.Form.NFC);
                }
                if (addPrefixSpace && !run.startsWith(" ")) {
                    run = " " + run;
                }
                splitAndEncode(run, 0, out);
            }

            @Override
            public void token(int id) {
                out.add(id);
            }
        });
        return out.toArray();
    }

    /** Splits {@code run} with the expressions from {@code level} on and encodes each word. */
    private void splitAndEncode(String run, int level, IdList out) {
        if (level == splits.size()) {
            encodeWord(run, out);
            return;
        }
        Matcher m = splits.get(level).matcher(run);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) {
                splitAndEncode(run.substring(last, m.start()), level + 1, out);
            }
            if (m.end() > m.start()) {
                splitAndEncode(run.substring(m.start(), m.end()), level + 1, out);
            }
            last = m.end();
        }
        if (last < run.length()) {
            splitAndEncode(run.substring(last), level + 1, out);
        }
    }

    /** One candidate merge: the symbols at {@code left} and {@code right} hold these ids. */
    private record Pair(int rank, int left, int right, int leftId, int rightId, int merged) {
    }

    private void encodeWord(String word, IdList out) {
        byte[] utf8 = Utf8.bytes(word);
        if (ignoreMerges) {
            Integer whole = mergeable.get(ByteLevel.map(utf8));
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        int n = utf8.length;
        int[] ids = new int[n];
        int[] next = new int[n];
        int[] prev = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = byteIds[utf8[i] & 0xFF];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Pair> queue = new PriorityQueue<>(
                (a, b) -> a.rank != b.rank ? Integer.compare(a.rank, b.rank) : Integer.compare(a.left, b.left));
        for (int i = 0; i + 1 < n; i++) {
            offer(queue, ids, i, i + 1);
        }
        Pair p;
        while ((p = queue.poll()) != null) {
            // stale when either symbol has merged since (its id changed) or the right one is gone
            if (ids[p.left] != p.leftId || ids[p.right] != p.rightId || next[p.left] != p.right) {
                continue;
            }
            ids[p.left] = p.merged;
            ids[p.right] = -1;
            next[p.left] = next[p.right];
            if (next[p.right] >= 0) {
                prev[next[p.right]] = p.left;
            }
            if (prev[p.left] >= 0) {
                offer(queue, ids, prev[p.left], p.left);
            }
            if (next[p.left] >= 0) {
                offer(queue, ids, p.left, next[p.left]);
            }
        }
        for (int i = 0; i >= 0 && n > 0; i = next[i]) {
            out.add(ids[i]);
        }
    }

    private void offer(PriorityQueue<Pair> queue, int[] ids, int left, int right) {
        Long m = merges.get(((long) ids[left] << 32) | ids[right]);
        if (m != null) {
            queue.add(new Pair((int) (m >>> 32), left, right, ids[left], ids[right], m.intValue()));
        }
    }

    @Override
    public String decode(int[] ids) {
        return pieces.decode(ids);
    }

    @Override
    public StreamingDecoder decoder() {
        return pieces.decoder();
    }

    @Override
    public int bos() {
        return bos;
    }

    @Override
    public int eos() {
        return eos;
    }

    @Override
    public int vocabSize() {
        return pieces.size();
    }
}
