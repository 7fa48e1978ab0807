package ringattn.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigInteger;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class JsonTest {
    /** A hang guard, not a speed target: the bounded reader takes milliseconds. */
    static final Duration HANG_GUARD = Duration.ofSeconds(10);

    static Json.SyntaxException rejects(String expected, String text) {
        Json.SyntaxException e = assertThrows(Json.SyntaxException.class, () -> Json.parse(text));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        return e;
    }

    static void assertShortOneLine(String message) {
        assertTrue(message.length() < 300, () -> message.length() + " chars: " + message.substring(0, 300));
        assertFalse(message.contains("\n") || message.contains("\r"), message);
    }

    @Test
    void readsNumbersOfEveryKind() {
        assertEquals(List.of(0L, 0L, -7L, 1.5, -2e-3, Long.MAX_VALUE, Long.MIN_VALUE),
                Json.parse("[0, -0, -7, 1.5, -2e-3, 9223372036854775807, -9223372036854775808]"));
        assertEquals(new BigInteger("9223372036854775808"), Json.parse("9223372036854775808"));
        String longest = "1" + "0".repeat(Json.MAX_NUMBER_CHARS - 1);
        assertEquals(new BigInteger(longest), Json.parse(longest));
        assertEquals(0.1, Json.parse("0.1000000000000000055511151231257827021181583404541015625"));
    }

    @Test
    void rejectsLeadingZeros() {
        rejects("leading zero", "01");
        rejects("leading zero", "-01");
        rejects("leading zero", "01.5");
    }

    /**
     * A 2,000,000-digit number (integer, fraction or exponent) fails fast with a short message naming
     * its position and length; unbounded, the integer became a BigInteger in quadratic time.
     */
    @Test
    void hugeNumbersFailFastWithoutEchoingThem() {
        String digits = "9".repeat(2_000_000);
        for (String text : List.of("[" + digits + "]", "[0." + digits + "]", "[1e" + digits + "]", "[-" + digits + "]")) {
            Json.SyntaxException e = assertTimeoutPreemptively(HANG_GUARD,
                    () -> assertThrows(Json.SyntaxException.class, () -> Json.parse(text)));
            assertTrue(e.getMessage().startsWith("bad JSON at character 1: number of "), e.getMessage());
            assertTrue(e.getMessage().contains("longer than the " + Json.MAX_NUMBER_CHARS + " accepted"), e.getMessage());
            assertShortOneLine(e.getMessage());
        }
        rejects("number of 101 characters", "1" + "0".repeat(Json.MAX_NUMBER_CHARS));
    }

    @Test
    void duplicateKeysAreCutInTheMessage() {
        String key = "k\n".repeat(500_000);
        Json.SyntaxException e = rejects("duplicate key \"k\\nk", "{" + Json.quote(key) + ":1," + Json.quote(key) + ":2}");
        assertShortOneLine(e.getMessage());
    }
}
