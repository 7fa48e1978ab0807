package ringattn.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static ringattn.model.tokenizer.ByteLevelBpeTokenizer.GPT2_SPLIT;
import static ringattn.model.tokenizer.ByteLevelBpeTokenizer.LLAMA3_SPLIT;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import ringattn.io.Json;

/**
 * Byte-level BPE on the hand-built {@link TinyByteLevel} vocabulary (its table gives the ids used
 * below): encodings worked out by hand in the comments, then 422 texts against the ids Hugging Face's
 * own library gave (resource file and script beside it).
 */
class ByteLevelBpeTokenizerTest {
    private static final ByteLevelBpeTokenizer LLAMA3 = TinyByteLevel.tokenizer(LLAMA3_SPLIT, true);

    private static void assertIds(ByteLevelBpeTokenizer tok, String text, int... want) {
        assertArrayEquals(want, tok.encode(text, false), () -> "ids of " + Json.quote(text));
        assertEquals(text, tok.decode(want), () -> "text of " + Json.quote(text));
    }

    /**
     * Merges go lowest rank first. "the": pairs t·h (rank 7) and h·e (1): h·e merges, and "t he" is
     * no merge, so [t, he]. " the": Ġ·t (0) first, then h·e (1), then Ġt·he (2): [Ġthe]. The same
     * pair twice goes left first: " singing" is Ġ s i n g i n g; i·n (3) at both places, then in·g
     * (4) at both: [Ġ, s, ing, ing].
     */
    @Test
    void lowestRankMergesFirst() {
        assertIds(LLAMA3, "the", 't', 257);
        assertIds(LLAMA3, " the", 258);
        assertIds(LLAMA3, " singing", ' ', 's', 260, 260);
        assertIds(LLAMA3, "ther", 't', 257, 'r'); // e·r (6) loses to h·e (1), which took the e
    }

    /**
     * Llama 3's split decides what may merge. "he's. ok" is the words "he", "'s" (a contraction),
     * ".", " ok": [he, 's, ., Ġ, o, k]; the merge ".·Ġ" (13) cannot cross the word boundary, but
     * without a split it does: [he, 's, .Ġ, o, k]. "12345" is "123" and "45" (digits go by three):
     * [1, 2, 3, 45]; GPT-2's split keeps all digits in one word, where 3·4 (8) beats 4·5 (9): [1, 2,
     * 34, 5]. "I'M" is "I", "'M": contractions ignore case in Llama 3, not in GPT-2 (same ids here,
     * as no merge involves M).
     */
    @Test
    void theSplitExpressionBoundsTheMerges() {
        assertIds(LLAMA3, "he's. ok", 257, 268, '.', ' ', 'o', 'k');
        assertIds(TinyByteLevel.tokenizer(null, true), "he's. ok", 257, 268, 269, 'o', 'k');
        assertIds(LLAMA3, "12345", '1', '2', '3', 265);
        assertIds(TinyByteLevel.tokenizer(GPT2_SPLIT, false), "12345", '1', '2', 264, '5');
    }

    /**
     * Runs of white space: "x   y" is "x", "  " (\s+ that leaves the last space to the word after
     * it), " y": [x, ĠĠ, Ġ, y]. "x \n\n\n y" is "x", " \n\n\n" (\s*[\r\n]+), " y", and Ċ·Ċ (11) goes
     * leftmost: [x, Ġ, ĊĊ, Ċ, Ġ, y]. "\n\n\n" alone: [ĊĊ, Ċ].
     */
    @Test
    void whiteSpaceRunsSplitAsLlama3Does() {
        assertIds(LLAMA3, "x   y", 'x', 266, ' ', 'y');
        assertIds(LLAMA3, "x \n\n\n y", 'x', ' ', 267, '\n', ' ', 'y');
        assertIds(LLAMA3, "\n\n\n", 267, '\n');
        assertIds(LLAMA3, "x  a", 'x', ' ', 261);
    }

    /**
     * Text between the matches of a split is a word too (Hugging Face's Isolated behaviour): split on
     * "h", "the" is "t", "h", "e", so h·e cannot merge: [t, h, e]; unsplit it is [t, he].
     */
    @Test
    void textBetweenMatchesIsAWordToo() {
        assertIds(TinyByteLevel.tokenizer("h", false), "the", 't', 'h', 'e');
        assertIds(TinyByteLevel.tokenizer("h", false), "ahha", 'a', 'h', 'h', 'a');
        assertIds(TinyByteLevel.tokenizer(null, false), "the", 't', 257);
    }

    /**
     * With ignore_merges (Llama 3) a word that is a piece is taken whole: " ther" is piece 270,
     * which no merge makes; without it, merging gives [Ġthe, r].
     */
    @Test
    void ignoreMergesTakesWholeWords() {
        assertIds(LLAMA3, " ther", TinyByteLevel.THER);
        assertIds(TinyByteLevel.tokenizer(LLAMA3_SPLIT, false), " ther", 258, 'r');
    }

    /** Every byte is a piece: an emoji is its four UTF-8 bytes, CJK three bytes per character. */
    @Test
    void anyTextIsBytes() {
        assertIds(LLAMA3, "😀", 0xF0, 0x9F, 0x98, 0x80);
        assertIds(LLAMA3, "世界", 0xE4, 0xB8, 0x96, 0xE7, 0x95, 0x8C);
        assertIds(LLAMA3, "\u0000\u001b", 0, 0x1B);
        assertArrayEquals(new int[] {0xEF, 0xBF, 0xBD}, LLAMA3.encode("\uD800", false), "a lone surrogate is U+FFFD");
        assertEquals("a\uFFFD", LLAMA3.decode(LLAMA3.encode("a\uDC00", false)));
        assertEquals("\uFFFD", LLAMA3.decode(new int[] {0xF0, 0x9F}), "half an emoji");
    }

    /**
     * Added tokens: the non-special {@code <tool>} is cut out whole wherever it appears; the special
     * {@code <|begin_of_text|>} is never matched in text (it stays bytes: [<, |, b, e, g, in, ...])
     * and decodes to nothing; BOS is added only on request.
     */
    @Test
    void addedTokensSpecialOnlyOnRequest() {
        assertIds(LLAMA3, "a<tool>b", 'a', TinyByteLevel.TOOL, 'b');
        assertIds(LLAMA3, " <tool> ", ' ', TinyByteLevel.TOOL, ' ');
        int[] ids = LLAMA3.encode("<|begin_of_text|>", false);
        assertTrue(ids.length > 5 && java.util.Arrays.stream(ids).noneMatch(id -> id == TinyByteLevel.BOS));
        assertEquals("<|begin_of_text|>", LLAMA3.decode(ids));
        assertArrayEquals(new int[] {TinyByteLevel.BOS, 258}, LLAMA3.encode(" the", true));
        assertArrayEquals(new int[0], LLAMA3.encode("", false));
        assertArrayEquals(new int[] {TinyByteLevel.BOS}, LLAMA3.encode("", true));
        assertEquals("", LLAMA3.decode(new int[] {TinyByteLevel.BOS, TinyByteLevel.EOS}));
        assertEquals(" the", LLAMA3.decode(new int[] {TinyByteLevel.BOS, 258}), "no space is dropped in byte-level BPE");
        assertEquals(274, LLAMA3.vocabSize());
        assertEquals(TinyByteLevel.EOS, LLAMA3.eos());
    }

    /**
     * 422 texts (hand-picked, then seeded random mixes of contractions in both cases, digits, white
     * space runs, Unicode spaces, punctuation, combining marks, several scripts, emoji, controls and
     * the added token) with the ids Hugging Face's tokenizers library gave for the same vocabulary as
     * a tokenizer.json. Every one must match, and decode back.
     */
    @Test
    void matchesHuggingFaceIds() throws IOException {
        List<?> cases;
        try (InputStream in = getClass().getResourceAsStream("hf-tiny.json")) {
            cases = (List<?>) ((Map<?, ?>) Json.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8))).get("cases");
        }
        assertEquals(422, cases.size());
        for (Object o : cases) {
            Map<?, ?> c = (Map<?, ?>) o;
            String text = (String) c.get("text");
            int[] want = ((List<?>) c.get("ids")).stream().mapToInt(x -> ((Number) x).intValue()).toArray();
            assertIds(LLAMA3, text, want);
        }
    }

    /** decode(encode(s)) is s for random well-formed text, with either split. */
    @Test
    void randomTextRoundTrips() {
        Random r = new Random(3);
        ByteLevelBpeTokenizer gpt2 = TinyByteLevel.tokenizer(GPT2_SPLIT, false);
        for (int i = 0; i < 1000; i++) {
            String s = TokenizerStreamingTest.randomText(r, 40);
            assertEquals(s, LLAMA3.decode(LLAMA3.encode(s, true)));
            assertEquals(s, gpt2.decode(gpt2.encode(s, false)));
        }
    }

    /**
     * A megabyte in bounded time: 1 MiB of "in" (one word of 2^20 bytes, 2^19 merges through the
     * priority queue), of spaces, and of words. A quadratic merge would need about 10^12 steps.
     */
    @Test
    void megabyteInputsEncodeInBoundedTime() {
        String in = "in".repeat(1 << 19);
        String spaces = " ".repeat(1 << 20);
        String words = "the singing 12345, he's\n".repeat((1 << 20) / 24);
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            int[] ids = LLAMA3.encode(in, false);
            assertEquals(1 << 19, ids.length);
            assertTrue(java.util.Arrays.stream(ids).allMatch(id -> id == 259));
            assertEquals(spaces, LLAMA3.decode(LLAMA3.encode(spaces, false)));
            assertEquals(words, LLAMA3.decode(LLAMA3.encode(words, false)));
        });
    }

    @Test
    void badVocabulariesAreRejectedNamingTheField() {
        List<String> pieces = TinyByteLevel.pieces();
        int[] types = TinyByteLevel.types();
        List<String> merges = TinyByteLevel.MERGES;
        List<String> noByte = new ArrayList<>(pieces);
        noByte.set(0x41, "A2");
        assertMessage("byte 0x41 ('A') has no piece", () -> ByteLevelBpeTokenizer.of(noByte, types, merges, null, false, -1, -1));
        assertMessage("merges: entry 1 ('h e'): the merged piece", () -> ByteLevelBpeTokenizer.of(
                pieces.subList(0, 257), java.util.Arrays.copyOf(types, 257), merges, null, false, -1, -1));
        assertMessage("merges: entry 0 ('xy') is not two parts", () -> ByteLevelBpeTokenizer.of(pieces, types, List.of("xy"), null, false, -1, -1));
        assertMessage("merges: entry 0 ('Ġ qq'): the right part", () -> ByteLevelBpeTokenizer.of(pieces, types, List.of("Ġ qq"), null, false, -1, -1));
        assertMessage("split: not a valid expression", () -> ByteLevelBpeTokenizer.of(pieces, types, merges, "(", false, -1, -1));
        assertMessage("split: expression of 5000", () -> ByteLevelBpeTokenizer.of(pieces, types, merges, "a".repeat(5000), false, -1, -1));
        assertMessage("types: expected 274", () -> ByteLevelBpeTokenizer.of(pieces, new int[3], merges, null, false, -1, -1));
        List<String> dup = new ArrayList<>(pieces);
        dup.set(TinyByteLevel.TOOL, "Ġt");
        assertMessage("pieces: entries 256 and 273", () -> ByteLevelBpeTokenizer.of(dup, types, merges, null, false, -1, -1));
        assertMessage("eos: expected -1 (none) or an id below 274", () -> ByteLevelBpeTokenizer.of(pieces, types, merges, null, false, -1, 274));
        assertThrows(IllegalStateException.class, () -> ByteLevelBpeTokenizer.of(pieces, types, merges, null, false, -1, -1)
                .encode("x", true));
        assertMessage("token id 274", () -> LLAMA3.decode(new int[] {274}));
    }

    static void assertMessage(String expected, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(expected), () -> "message '" + e.getMessage() + "' lacks '" + expected + "'");
        assertFalse(e.getMessage().contains("\n"), "one line");
    }
}
