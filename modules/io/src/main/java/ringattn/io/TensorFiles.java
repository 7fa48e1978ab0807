package ringattn.io;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes arrays by command-line spec: {@code path.npy}, {@code path.safetensors} (its only
 * tensor) or {@code path.safetensors:name}. Stateless and thread-safe.
 */
public final class TensorFiles {
    private static final String SAFETENSORS = ".safetensors";

    private TensorFiles() {
    }

    /** A parsed spec: the file and the tensor name (null for npy or an unnamed safetensors file). */
    public record Spec(Path file, String name, boolean safetensors) {
        /** Parses {@code path[.safetensors[:name]]}. */
        public static Spec parse(String spec) {
            int i = spec.indexOf(SAFETENSORS + ":");
            if (i >= 0) {
                String name = spec.substring(i + SAFETENSORS.length() + 1);
                return new Spec(Path.of(spec.substring(0, i + SAFETENSORS.length())), name.isEmpty() ? null : name, true);
            }
            return new Spec(Path.of(spec), null, spec.endsWith(SAFETENSORS));
        }
    }

    /** Maps and parses the array {@code spec} names; the arena owns the mapping. */
    public static ArrayData read(String spec, Arena arena) {
        Spec s = Spec.parse(spec);
        return s.safetensors ? Safetensors.read(s.file, s.name, arena) : Npy.read(s.file, arena);
    }

    /** One output: where it goes and what. */
    public record Output(String spec, ArrayData array) {
    }

    /**
     * Writes outputs, each file atomically; several outputs naming the same safetensors file go into
     * that one file (default tensor names: the output's {@code defaultName}).
     *
     * @param outputs     spec → array
     * @param defaultName spec → tensor name used when a safetensors spec has none
     */
    public static void write(List<Output> outputs, Map<String, String> defaultName) {
        Map<Path, Map<String, ArrayData>> safetensors = new LinkedHashMap<>();
        Map<Path, String> npyOwner = new LinkedHashMap<>();
        for (Output o : outputs) {
            Spec s = Spec.parse(o.spec);
            if (s.safetensors) {
                String name = s.name != null ? s.name : defaultName.getOrDefault(o.spec, "tensor");
                Map<String, ArrayData> m = safetensors.computeIfAbsent(s.file.toAbsolutePath(), p -> new LinkedHashMap<>());
                if (m.put(name, o.array) != null) {
                    throw new FileFormatException(s.file, "two outputs are named '" + name + "'");
                }
            } else {
                if (npyOwner.put(s.file.toAbsolutePath(), o.spec) != null) {
                    throw new FileFormatException(s.file, "two outputs write the same .npy file");
                }
                if (o.array.type().npyDescr() == null) {
                    throw new FileFormatException(s.file, "NumPy cannot store " + o.array.type()
                            + "; write a .safetensors file instead");
                }
            }
        }
        for (Output o : outputs) {
            Spec s = Spec.parse(o.spec);
            if (!s.safetensors) {
                Npy.write(s.file, o.array);
            }
        }
        for (Map.Entry<Path, Map<String, ArrayData>> e : safetensors.entrySet()) {
            Safetensors.write(e.getKey(), e.getValue());
        }
    }
}
