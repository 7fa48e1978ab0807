package ringattn.io;

import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The metadata key/value pairs of a GGUF file, in file order, with typed accessors. An accessor asked
 * for a key that is missing or of another type throws a {@link FileFormatException} naming the file
 * and the key ({@code "model.gguf: metadata 'llama.block_count': expected an integer, got string"}).
 * Immutable and thread-safe; array views of a read file are valid while its mapping is.
 */
public final class GgufMetadata {
    /** Most elements an accessor returns as one Java array. */
    static final long MAX_JAVA_ARRAY = Integer.MAX_VALUE - 8;

    private final Path file;
    private final Map<String, GgufValue> values;

    GgufMetadata(Path file, Map<String, GgufValue> values) {
        this.file = file;
        this.values = Collections.unmodifiableMap(values);
    }

    /** Every key, in file order. */
    public Set<String> keys() {
        return values.keySet();
    }

    /** Number of entries. */
    public int size() {
        return values.size();
    }

    public boolean has(String key) {
        return values.containsKey(key);
    }

    /** The value of {@code key}, or null. */
    public GgufValue get(String key) {
        return values.get(key);
    }

    private FileFormatException wrong(String key, String problem) {
        return new FileFormatException(file, "metadata '" + Snippet.of(key) + "': " + problem);
    }

    private GgufValue required(String key) {
        GgufValue v = values.get(key);
        if (v == null) {
            throw wrong(key, "missing");
        }
        return v;
    }

    /** The STRING {@code key}. */
    public String string(String key) {
        GgufValue v = required(key);
        if (v.type() != GgufValueType.STRING) {
            throw wrong(key, "expected a string, got " + v.describe());
        }
        return (String) v.scalar();
    }

    /** The STRING {@code key}, or {@code dflt} when absent. */
    public String string(String key, String dflt) {
        return has(key) ? string(key) : dflt;
    }

    /** The integer {@code key} (any of the eight integer types; a uint64 above {@code Long.MAX_VALUE} is refused). */
    public long integer(String key) {
        GgufValue v = required(key);
        if (!v.type().isInteger()) {
            throw wrong(key, "expected an integer, got " + v.describe());
        }
        long x = (Long) v.scalar();
        if (v.type() == GgufValueType.UINT64 && x < 0) {
            throw wrong(key, Long.toUnsignedString(x) + " is too large");
        }
        return x;
    }

    /** The integer {@code key}, or {@code dflt} when absent. */
    public long integer(String key, long dflt) {
        return has(key) ? integer(key) : dflt;
    }

    /** The number {@code key}: a float or an integer type, widened to double. */
    public double number(String key) {
        GgufValue v = required(key);
        if (v.type().isFloat()) {
            return ((Number) v.scalar()).doubleValue();
        }
        if (v.type().isInteger()) {
            return integer(key);
        }
        throw wrong(key, "expected a number, got " + v.describe());
    }

    /** The number {@code key}, or {@code dflt} when absent. */
    public double number(String key, double dflt) {
        return has(key) ? number(key) : dflt;
    }

    /** The BOOL {@code key}, or {@code dflt} when absent. */
    public boolean bool(String key, boolean dflt) {
        GgufValue v = values.get(key);
        if (v == null) {
            return dflt;
        }
        if (v.type() != GgufValueType.BOOL) {
            throw wrong(key, "expected a bool, got " + v.describe());
        }
        return (Boolean) v.scalar();
    }

    /** The array of strings {@code key}. */
    public List<String> strings(String key) {
        List<String> s = required(key).stringList();
        if (s == null) {
            throw wrong(key, "expected an array of strings, got " + values.get(key).describe());
        }
        return s;
    }

    /** The FLOAT32 (or FLOAT64, rounded) array {@code key}. */
    public float[] floats(String key) {
        GgufValue v = array(key);
        if (!v.elementType().isFloat()) {
            throw wrong(key, "expected an array of floats, got " + v.describe());
        }
        float[] out = new float[(int) v.length()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) v.floatAt(i);
        }
        return out;
    }

    /** The integer array {@code key}; every value must fit an int. */
    public int[] ints(String key) {
        GgufValue v = array(key);
        if (!v.elementType().isInteger()) {
            throw wrong(key, "expected an array of integers, got " + v.describe());
        }
        boolean unsigned64 = v.elementType() == GgufValueType.UINT64;
        int[] out = new int[(int) v.length()];
        for (int i = 0; i < out.length; i++) {
            long x = v.integerAt(i);
            if ((unsigned64 && x < 0) || x < Integer.MIN_VALUE || x > Integer.MAX_VALUE) {
                throw wrong(key, "element " + i + " (" + (unsigned64 ? Long.toUnsignedString(x) : x) + ") does not fit an int");
            }
            out[i] = (int) x;
        }
        return out;
    }

    private GgufValue array(String key) {
        GgufValue v = required(key);
        if (v.type() != GgufValueType.ARRAY) {
            throw wrong(key, "expected an array, got " + v.describe());
        }
        if (v.length() > MAX_JAVA_ARRAY) {
            throw wrong(key, v.length() + " elements are too many for one array");
        }
        return v;
    }
}
