package ringattn.model.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Tokens matched whole in the input before any merging (user-defined tokens, and the non-special
 * added tokens of a {@code tokenizer.json}): the text is cut at their occurrences, leftmost first and
 * the longest where several start at the same place (as Hugging Face's added-token matcher does).
 * Immutable and thread-safe.
 */
final class LiteralTokens {
    /** Receives the pieces of a cut text in order. */
    interface Sink {
        /** The plain text {@code text[start, end)}, never empty. */
        void text(int start, int end);

        /** The literal token {@code id}. */
        void token(int id);
    }

    private record Literal(String text, int id) {
    }

    private final Map<Character, List<Literal>> byFirstChar = new HashMap<>();

    /** @param literals text to id; empty texts are ignored */
    LiteralTokens(Map<String, Integer> literals) {
        literals.forEach((text, id) -> {
            if (!text.isEmpty()) {
                byFirstChar.computeIfAbsent(text.charAt(0), c -> new ArrayList<>()).add(new Literal(text, id));
            }
        });
        byFirstChar.values().forEach(list -> list.sort(Comparator.comparingInt((Literal l) -> l.text.length()).reversed()));
    }

    /** Cuts {@code text} into plain runs and literal tokens, in order. */
    void split(String text, Sink sink) {
        int plainStart = 0;
        int i = 0;
        while (i < text.length()) {
            Literal match = matchAt(text, i);
            if (match == null) {
                i++;
                continue;
            }
            if (i > plainStart) {
                sink.text(plainStart, i);
            }
            sink.token(match.id);
            i += match.text.length();
            plainStart = i;
        }
        if (text.length() > plainStart) {
            sink.text(plainStart, text.length());
        }
    }

    private Literal matchAt(String text, int i) {
        if (i > 0 && Character.isLowSurrogate(text.charAt(i)) && Character.isHighSurrogate(text.charAt(i - 1))) {
            return null; // never cut a surrogate pair
        }
        List<Literal> candidates = byFirstChar.get(text.charAt(i));
        if (candidates != null) {
            for (Literal l : candidates) {
                if (text.startsWith(l.text, i)) {
                    return l;
                }
            }
        }
        return null;
    }
}
