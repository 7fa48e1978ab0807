package ringattn.io;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class SnippetTest {
    @Test
    void keepsShortTextAndEscapesControlCharacters() {
        assertEquals("model.norm.weight", Snippet.of("model.norm.weight"));
        assertEquals("a\\u000ab\\u000dc\\u0000", Snippet.of("a\nb\rc\0"));
        assertEquals("[1, x]", Snippet.of(List.of(1, "x")));
        assertEquals("null", Snippet.of(null));
    }

    @Test
    void cutsLongTextSayingItsLength() {
        String cut = Snippet.of("x".repeat(1_000_000));
        assertEquals("x".repeat(Snippet.MAX_CHARS) + "... (1000000 chars)", cut);
        assertEquals("y".repeat(Snippet.MAX_CHARS), Snippet.of("y".repeat(Snippet.MAX_CHARS)));
    }

    @Test
    void neverSplitsASurrogatePair() {
        String s = "z".repeat(Snippet.MAX_CHARS - 1) + "\uD83D\uDE00" + "tail";
        assertEquals("z".repeat(Snippet.MAX_CHARS - 1) + "... (" + s.length() + " chars)", Snippet.of(s));
    }
}
