package ringattn.model.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import ringattn.io.Snippet;

/**
 * SentencePiece-style BPE as llama.cpp runs it for GGUF's {@code tokenizer.ggml.model = "llama"} (the
 * Llama 2 family; llama2.c's tokenizer is the same algorithm). Encoding: a space is put before the
 * text (the "dummy prefix", {@code add_space_prefix}), every space becomes {@code ▁} (U+2581), the text
 * is split into characters, and the adjacent pair whose concatenation is the vocabulary piece with
 * the highest score is merged, again and again (ties: the leftmost pair), until no pair is a piece;
 * a character that is no piece is written as its UTF-8 bytes, each the byte token {@code <0xNN>}
 * (byte fallback; the unknown token where the vocabulary lacks that byte). User-defined pieces are
 * cut out of the text first and the dummy prefix is put again after each. The merging uses a
 * priority queue over a linked list of symbols: O(n log n) in the characters (llama2.c's rescan of
 * every pair after each merge is quadratic).
 *
 * <p>Decoding prints normal pieces with {@code ▁} as a space, byte tokens as their bytes, user-defined
 * pieces verbatim and control, unknown and unused tokens as nothing, and drops the dummy prefix: the
 * first space of the first printed piece, whether or not BOS came before it (SentencePiece and
 * llama2.c do the same; llama.cpp's {@code llama_detokenize} keeps it when the ids start with BOS), so
 * that {@code decode(encode(s, b))} is {@code s} for every well-formed {@code s} the vocabulary covers.
 *
 * <p>Only pieces of type normal, undefined or user-defined are produced by merging; control tokens
 * (BOS {@code <s>}, EOS {@code </s>}) and byte tokens are never produced from text that spells them.
 * A {@code ▁} in the text itself is taken for a space, as in llama.cpp, and decodes as one.
 * Immutable and thread-safe.
 */
public final class SentencePieceTokenizer implements Tokenizer {
    /** The space marker pieces use, U+2581 LOWER ONE EIGHTH BLOCK. */
    public static final char SPACE_MARK = '\u2581';

    private final Map<String, Integer> mergeable;
    private final float[] scores;
    private final int[] byteIds = new int[256];
    private final int maxPieceChars;
    private final LiteralTokens userDefined;
    private final PieceTable pieces;
    private final int bos;
    private final int eos;
    private final boolean addSpacePrefix;

    private SentencePieceTokenizer(List<String> pieceList, float[] scores, int[] types, int bos, int eos,
            boolean addSpacePrefix) {
        Objects.requireNonNull(pieceList, "pieces");
        Objects.requireNonNull(scores, "scores");
        Objects.requireNonNull(types, "types");
        int n = pieceList.size();
        if (n == 0) {
            throw new IllegalArgumentException("pieces: the vocabulary is empty");
        }
        if (scores.length != n || types.length != n) {
            throw new IllegalArgumentException("scores and types: expected " + n + " entries like pieces, got "
                    + scores.length + " and " + types.length);
        }
        this.bos = checkId("bos", bos, n);
        this.eos = checkId("eos", eos, n);
        this.scores = new float[n];
        for (int i = 0; i < n; i++) {
            this.scores[i] = scores[i] + 0.0f; // -0.0 becomes 0.0: llama.cpp compares with <, where they tie
        }
        this.addSpacePrefix = addSpacePrefix;
        this.mergeable = new HashMap<>(2 * n);
        Map<String, Integer> all = new HashMap<>(2 * n);
        Map<String, Integer> literals = new HashMap<>();
        Arrays.fill(byteIds, -1);
        int unknown = -1;
        int longest = 0;
        byte[][] bytes = new byte[n][];
        for (int id = 0; id < n; id++) {
            String piece = pieceList.get(id);
            if (piece == null) {
                throw new IllegalArgumentException("pieces: entry " + id + " is null");
            }
            if (Float.isNaN(scores[id])) {
                throw new IllegalArgumentException("scores: entry " + id + " is NaN");
            }
            Integer before = all.put(piece, id);
            if (before != null && !piece.isEmpty()) {
                throw new IllegalArgumentException("pieces: entries " + before + " and " + id + " are both '"
                        + Snippet.of(piece) + "'");
            }
            TokenType type = TokenType.at(types, id);
            bytes[id] = printed(type, piece, id);
            if (type == TokenType.BYTE && byteIds[bytes[id][0] & 0xFF] < 0) {
                byteIds[bytes[id][0] & 0xFF] = id;
            } else if (type == TokenType.UNKNOWN && unknown < 0) {
                unknown = id;
            } else if (type == TokenType.USER_DEFINED) {
                literals.put(piece, id);
            }
            if (type.mergeable() && !piece.isEmpty()) {
                mergeable.put(piece, id);
                longest = Math.max(longest, piece.length());
            }
        }
        for (int b = 0; b < 256; b++) {
            if (byteIds[b] < 0) {
                byteIds[b] = unknown; // may stay -1: encoding that byte then fails
            }
        }
        this.maxPieceChars = longest;
        this.userDefined = new LiteralTokens(literals);
        this.pieces = new PieceTable(bytes, addSpacePrefix);
    }

    /**
     * A tokenizer over a vocabulary given as plain lists (GGUF's {@code tokenizer.ggml.tokens},
     * {@code .scores}, {@code .token_type}, {@code .bos_token_id}, {@code .eos_token_id}), with the dummy
     * prefix llama.cpp adds for the llama model by default. The lists are copied.
     *
     * @param pieces the piece of each id, {@code ▁} for spaces, byte tokens as {@code <0xNN>}
     * @param scores the merge priority of each piece, higher first
     * @param types the {@link TokenType} code of each piece
     * @param bos the BOS id, or -1 for none
     * @param eos the EOS id, or -1 for none
     * @throws IllegalArgumentException for lists of different lengths, a duplicate piece, a NaN score, a
     *     type code outside 0..6, a BYTE piece that is not {@code <0xNN>}, or an id out of range
     */
    public static SentencePieceTokenizer of(List<String> pieces, float[] scores, int[] types, int bos, int eos) {
        return new SentencePieceTokenizer(pieces, scores, types, bos, eos, true);
    }

    /**
     * As {@link #of(List, float[], int[], int, int)}, with GGUF's {@code tokenizer.ggml.add_space_prefix}:
     * when false, no space is put before the text and none is dropped when decoding.
     */
    public static SentencePieceTokenizer of(List<String> pieces, float[] scores, int[] types, int bos, int eos,
            boolean addSpacePrefix) {
        return new SentencePieceTokenizer(pieces, scores, types, bos, eos, addSpacePrefix);
    }

    private static int checkId(String name, int id, int n) {
        if (id < -1 || id >= n) {
            throw new IllegalArgumentException(name + ": expected -1 (none) or an id below " + n + ", got " + id);
        }
        return id;
    }

    private static final byte[] NOTHING = new byte[0];

    /** What {@code piece} (id {@code id}) prints: see the class comment. */
    private static byte[] printed(TokenType type, String piece, int id) {
        return switch (type) {
            case NORMAL, UNDEFINED -> Utf8.bytes(piece.replace(SPACE_MARK, ' '));
            case USER_DEFINED -> Utf8.bytes(piece);
            case BYTE -> {
                int b = TokenType.byteOf(piece);
                if (b < 0) {
                    throw new IllegalArgumentException("pieces: entry " + id + " has type BYTE but is '"
                            + Snippet.of(piece) + "', not <0xNN>");
                }
                yield new byte[] {(byte) b};
            }
            case CONTROL, UNKNOWN, UNUSED -> NOTHING;
        };
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
        userDefined.split(s, new LiteralTokens.Sink() {
            private boolean afterLiteral = true; // the text's start counts as one: the dummy prefix goes there

            @Override
            public void text(int start, int end) {
                String fragment = s.substring(start, end);
                if (addSpacePrefix && afterLiteral) {
                    fragment = " " + fragment;
                }
                merge(fragment.replace(' ', SPACE_MARK), out);
                afterLiteral = false;
            }

            @Override
            public void token(int id) {
                out.add(id);
                afterLiteral = true;
            }
        });
        return out.toArray();
    }

    /** One candidate merge: symbols {@code left} and {@code right}, {@code chars} long together. */
    private record Bigram(int left, int right, float score, int chars) {
    }

    /** Highest score first; on a tie the leftmost pair (llama.cpp's order). */
    private static final Comparator<Bigram> PRIORITY =
            Comparator.comparingDouble((Bigram b) -> -b.score).thenComparingInt(Bigram::left);

    /** Merge state of one text: symbols as a doubly linked list over character ranges. */
    private final class Merge {
        final String text;
        final int[] start;
        final int[] chars;
        final int[] prev;
        final int[] next;
        final PriorityQueue<Bigram> queue = new PriorityQueue<>(PRIORITY);

        Merge(String text) {
            this.text = text;
            int n = text.codePointCount(0, text.length());
            start = new int[n];
            chars = new int[n];
            prev = new int[n];
            next = new int[n];
            int offset = 0;
            for (int i = 0; i < n; i++) {
                start[i] = offset;
                chars[i] = Character.charCount(text.codePointAt(offset));
                offset += chars[i];
                prev[i] = i - 1;
                next[i] = i + 1 < n ? i + 1 : -1;
            }
        }

        void tryAdd(int left, int right) {
            if (left < 0 || right < 0) {
                return;
            }
            int length = chars[left] + chars[right];
            if (length > maxPieceChars) {
                return;
            }
            Integer id = mergeable.get(text.substring(start[left], start[left] + length));
            if (id != null) {
                queue.add(new Bigram(left, right, scores[id], length));
            }
        }

        void run() {
            for (int i = 1; i < start.length; i++) {
                tryAdd(i - 1, i);
            }
            Bigram b;
            while ((b = queue.poll()) != null) {
                int l = b.left;
                int r = b.right;
                // stale when either side has merged since: sizes only grow, so a changed pair no longer sums to b.chars
                if (chars[l] == 0 || chars[r] == 0 || chars[l] + chars[r] != b.chars) {
                    continue;
                }
                chars[l] += chars[r];
                chars[r] = 0;
                next[l] = next[r];
                if (next[r] >= 0) {
                    prev[next[r]] = l;
                }
                tryAdd(prev[l], l);
                tryAdd(l, next[l]);
            }
        }
    }

    private void merge(String text, IdList out) {
        Merge m = new Merge(text);
        m.run();
        for (int i = 0; i >= 0; i = m.next[i]) {
            String piece = text.substring(m.start[i], m.start[i] + m.chars[i]);
            Integer id = mergeable.get(piece);
            if (id != null) {
                out.add(id);
                continue;
            }
            for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
                int byteId = byteIds[b & 0xFF];
                if (byteId < 0) {
                    throw new IllegalArgumentException(String.format(
                            "text: byte 0x%02X has no <0x%02X> piece and the vocabulary has no unknown token",
                            b & 0xFF, b & 0xFF));
                }
                out.add(byteId);
            }
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
