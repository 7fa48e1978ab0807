package ringattn.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** UTF-8 decoding with replacement, and the streaming decoder against one-shot decoding. */
class TokenizerStreamingTest {
    private static String decodeBytes(int... bytes) {
        byte[] b = new byte[bytes.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) bytes[i];
        }
        StringBuilder out = new StringBuilder();
        Utf8.decode(b, 0, b.length, out);
        return out.toString();
    }

    /**
     * The Unicode standard's own example of U+FFFD substitution (§3.9, Table 3-8) and the edge cases of
     * its Table 3-7: overlong forms, surrogates, values above U+10FFFF, truncated sequences.
     */
    @Test
    void illFormedBytesFollowTheMaximalSubpartPractice() {
        assertEquals("a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd",
                decodeBytes(0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64));
        assertEquals("\uFFFD\uFFFD", decodeBytes(0xC0, 0xAF), "overlong /");
        assertEquals("\uFFFD\uFFFD", decodeBytes(0xE0, 0x80), "E0 needs A0..BF next");
        assertEquals("\uFFFD\uFFFD\uFFFD", decodeBytes(0xED, 0xA0, 0x80), "an encoded surrogate");
        assertEquals("\uFFFD\uFFFD\uFFFD\uFFFD", decodeBytes(0xF4, 0x90, 0x80, 0x80), "above U+10FFFF");
        assertEquals("\uFFFDA", decodeBytes(0xF0, 0x90, 0x80, 0x41), "a truncated 4-byte sequence is one U+FFFD");
        assertEquals("\uFFFD", decodeBytes(0xE2, 0x82), "incomplete at the end");
        assertEquals("€😀\u07FF\uFFFF\uD800\uDC00", decodeBytes(0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xDF, 0xBF,
                0xEF, 0xBF, 0xBF, 0xF0, 0x90, 0x80, 0x80));
    }

    /** On well-formed UTF-8 our decoder and the JDK's agree. */
    @Test
    void wellFormedBytesDecodeLikeTheJdk() {
        Random r = new Random(7);
        for (int i = 0; i < 500; i++) {
            String s = randomText(r, 40);
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            StringBuilder out = new StringBuilder();
            Utf8.decode(b, 0, b.length, out);
            assertEquals(s, out.toString());
        }
    }

    /** Random well-formed text: ASCII, controls, 2-, 3- and 4-byte characters. */
    static String randomText(Random r, int maxChars) {
        StringBuilder b = new StringBuilder();
        int n = r.nextInt(maxChars + 1);
        for (int i = 0; i < n; i++) {
            int kind = r.nextInt(6);
            int cp = switch (kind) {
                case 0, 1 -> 0x20 + r.nextInt(0x5F);
                case 2 -> r.nextInt(0x20);
                case 3 -> 0x80 + r.nextInt(0x800 - 0x80);
                case 4 -> {
                    int c = 0x800 + r.nextInt(0x10000 - 0x800);
                    yield Character.isSurrogate((char) c) ? 0x4E16 : c;
                }
                default -> 0x10000 + r.nextInt(0x110000 - 0x10000);
            };
            b.appendCodePoint(cp);
        }
        return b.toString();
    }

    /** A four-byte emoji spelled as four byte tokens comes out whole, with the fourth. */
    @Test
    void heldBytesComeOutWithTheTokenThatCompletesThem() throws IOException {
        SentencePieceTokenizer tok = Stories260K.tokenizer();
        StreamingDecoder d = tok.decoder();
        assertEquals("", d.next(1), "BOS");
        assertEquals("Once", d.next(403), "▁Once after BOS: the dummy prefix is dropped");
        assertEquals("", d.next(3 + 0xF0));
        assertEquals("", d.next(3 + 0x9F));
        assertEquals("", d.next(3 + 0x98));
        assertEquals("😀", d.next(3 + 0x80));
        assertEquals(" upon", d.next(407));
        assertEquals("", d.next(3 + 0xE2), "half of €");
        assertEquals("\uFFFD", d.finish(), "the stream ends inside a character");
        assertEquals("a", d.next(412), "and the decoder goes on");
        assertEquals("", d.finish());
    }

    /** Streaming the ids of random text: every chunk is whole characters, never U+FFFD, and adds up. */
    @Test
    void streamedChunksAreWholeCharactersAndAddUpToDecode() throws IOException {
        List<Tokenizer> tokenizers = List.of(Stories260K.tokenizer(), TinyByteLevel.tokenizer(ByteLevelBpeTokenizer.LLAMA3_SPLIT, true));
        Random r = new Random(11);
        for (Tokenizer tok : tokenizers) {
            for (int i = 0; i < 300; i++) {
                String s = randomText(r, 30);
                int[] ids = tok.encode(s, tok.bos() >= 0);
                StreamingDecoder d = tok.decoder();
                StringBuilder all = new StringBuilder();
                for (int id : ids) {
                    String chunk = d.next(id);
                    assertEquals(Utf8.wellFormed(chunk), chunk, "no split surrogate pair");
                    assertFalse(chunk.indexOf('\uFFFD') >= 0, () -> "U+FFFD streaming " + ids.length + " ids of a valid text");
                    all.append(chunk);
                }
                all.append(d.finish());
                assertEquals(s, all.toString());
                assertEquals(tok.decode(ids), all.toString());
            }
        }
    }

    /**
     * Random id sequences, most of them byte tokens, so that characters are cut, left unfinished and
     * broken in every way: streaming and one-shot decoding give the same text, U+FFFD included.
     */
    @Test
    void randomIdsStreamAsTheyDecode() throws IOException {
        SentencePieceTokenizer tok = Stories260K.tokenizer();
        Random r = new Random(5);
        for (int i = 0; i < 2000; i++) {
            int[] ids = new int[r.nextInt(12)];
            for (int j = 0; j < ids.length; j++) {
                int kind = r.nextInt(10);
                ids[j] = kind < 6 ? 3 + 0x80 + r.nextInt(0x80) // high bytes: leads and continuations
                        : kind < 8 ? r.nextInt(tok.vocabSize()) : 3 + r.nextInt(0x80);
            }
            StreamingDecoder d = tok.decoder();
            StringBuilder all = new StringBuilder();
            for (int id : ids) {
                all.append(d.next(id));
            }
            all.append(d.finish());
            assertEquals(tok.decode(ids), all.toString(), () -> java.util.Arrays.toString(ids));
        }
    }
}
