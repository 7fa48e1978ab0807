package ringattn.io;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds one JSON object on one line, keys in insertion order. Values: numbers (non-finite doubles
 * become {@code null}), strings, booleans, lists of those, nested {@code JsonLine}s, null. Not
 * thread-safe.
 */
public final class JsonLine {
    private final Map<String, Object> fields = new LinkedHashMap<>();

    /** Adds or replaces a field. */
    public JsonLine put(String key, Object value) {
        fields.put(key, value);
        return this;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("{");
        fields.forEach((k, v) -> {
            if (b.length() > 1) {
                b.append(", ");
            }
            b.append(Json.quote(k)).append(": ");
            append(b, v);
        });
        return b.append('}').toString();
    }

    private static void append(StringBuilder b, Object v) {
        switch (v) {
            case null -> b.append("null");
            case Double d -> b.append(Double.isFinite(d) ? Double.toString(d) : "null");
            case Float f -> b.append(Float.isFinite(f) ? Float.toString(f) : "null");
            case Number n -> b.append(n);
            case Boolean bool -> b.append(bool);
            case JsonLine j -> b.append(j);
            case List<?> list -> {
                b.append('[');
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) {
                        b.append(", ");
                    }
                    append(b, list.get(i));
                }
                b.append(']');
            }
            default -> b.append(Json.quote(v.toString()));
        }
    }
}
