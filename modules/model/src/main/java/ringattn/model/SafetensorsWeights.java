package ringattn.model;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import ringattn.engine.tensor.DType;
import ringattn.io.ArrayData;
import ringattn.io.ElementType;
import ringattn.io.FileFormatException;
import ringattn.io.Json;
import ringattn.io.MappedFile;
import ringattn.io.Safetensors;
import ringattn.io.Snippet;
import ringattn.model.linalg.Layouts;

/**
 * The weights of a Hugging Face-style model directory, memory-mapped: {@code model.safetensors}, or
 * the files named by {@code model.safetensors.index.json} (sharded checkpoints; each confined to the
 * directory, see {@code ShardIndex}), or else every {@code *.safetensors} file in the directory. F32
 * and BF16 tensors are used in place; F16 tensors are widened to F32 once, on first use. Thread-safe.
 */
public final class SafetensorsWeights implements WeightSource {
    /** One mapped {@code .safetensors} file and its header index. */
    private record Shard(Path path, MemorySegment bytes, Map<String, Safetensors.Entry> entries) {
    }

    private final Path dir;
    private final Arena arena;
    private final List<Shard> files;
    private final Map<String, Shard> byName;
    private final Map<String, Weight> widened = new LinkedHashMap<>();

    private SafetensorsWeights(Path dir, Arena arena, List<Shard> files, Map<String, Shard> byName) {
        this.dir = dir;
        this.arena = arena;
        this.files = files;
        this.byName = byName;
    }

    /** Opens (maps) the weights of {@code dir}; errors name the directory or file. */
    public static SafetensorsWeights open(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "not a model directory");
        }
        List<Path> paths = new ArrayList<>();
        Path index = dir.resolve(ShardIndex.FILE_NAME);
        ShardIndex shardIndex = null;
        if (Files.exists(index)) {
            shardIndex = ShardIndex.read(dir);
            paths.addAll(shardIndex.files());
        } else {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.safetensors")) {
                ds.forEach(paths::add);
            }
            paths.sort(null);
            if (paths.isEmpty()) {
                throw new ModelFormatException(dir + ": no *.safetensors files (and no " + ShardIndex.FILE_NAME + ")");
            }
        }
        Arena arena = Arena.ofShared();
        try {
            List<Shard> opened = new ArrayList<>();
            Map<String, Shard> byName = new TreeMap<>();
            for (Path p : paths) {
                MemorySegment bytes = MappedFile.readOnly(p, arena);
                Shard st = new Shard(p, bytes, Safetensors.entries(p, bytes));
                opened.add(st);
                for (String name : st.entries().keySet()) {
                    Path holder = shardIndex == null ? null : shardIndex.fileOf().get(name);
                    if (holder != null && !holder.equals(p)) {
                        continue; // the index says another shard holds it
                    }
                    Shard prev = byName.putIfAbsent(name, st);
                    if (prev != null) {
                        throw new ModelFormatException("tensor '" + Snippet.of(name) + "' appears in both " + prev.path()
                                + " and " + p);
                    }
                }
            }
            if (shardIndex != null) {
                for (Map.Entry<String, Path> e : shardIndex.fileOf().entrySet()) {
                    if (!byName.containsKey(e.getKey())) {
                        throw new ModelFormatException(index + ": tensor '" + Snippet.of(e.getKey()) + "' is mapped to "
                                + e.getValue() + ", which does not contain it");
                    }
                }
            }
            return new SafetensorsWeights(dir, arena, opened, byName);
        } catch (FileFormatException e) {
            arena.close();
            throw new ModelFormatException(e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    @Override
    public synchronized Weight get(String name, long... expectedShape) {
        Shard st = byName.get(name);
        if (st == null) {
            throw new ModelFormatException("tensor '" + name + "' not found in " + dir + " (searched "
                    + files.stream().map(f -> f.path().getFileName().toString()).toList() + "; expected shape "
                    + Arrays.toString(expectedShape) + ")");
        }
        Safetensors.Entry e = st.entries().get(name);
        if (!Arrays.equals(e.shape(), expectedShape)) {
            throw new ModelFormatException("tensor '" + name + "' in " + st.path() + ": expected shape "
                    + Arrays.toString(expectedShape) + ", got " + Arrays.toString(e.shape()));
        }
        ArrayData a;
        try {
            a = Safetensors.tensor(st.path(), st.bytes(), e);
        } catch (FileFormatException ex) {
            throw new ModelFormatException(ex.getMessage(), ex);
        }
        return switch (a.type()) {
            case F32 -> new Weight(name, st.path().toString(), DType.F32, e.shape(), a.data());
            case BF16 -> new Weight(name, st.path().toString(), DType.BF16, e.shape(), a.data());
            case F16 -> widened.computeIfAbsent(name, k -> widen(a));
            default -> throw new ModelFormatException("tensor '" + name + "' in " + st.path() + ": dtype " + e.dtype()
                    + " is not supported (expected F32, BF16 or F16)");
        };
    }

    private Weight widen(ArrayData a) {
        long n = a.elementCount();
        MemorySegment out = arena.allocate(Math.max(4, 4 * n), 64).asSlice(0, 4 * n);
        for (long i = 0; i < n; i++) {
            out.setAtIndex(Layouts.F32_LE, i, a.getFloat(i));
        }
        return new Weight(a.name(), a.file().toString(), DType.F32, a.shape(), out);
    }

    @Override
    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    @Override
    public String description() {
        return dir.toString();
    }

    /** Unmaps every file and frees the widened copies. Idempotent. */
    @Override
    public synchronized void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    /**
     * Writes {@code weights} and {@code config} as a model directory: {@code config.json} plus one
     * {@code model.safetensors}, or, with {@code shards > 1}, {@code model-0000i-of-0000n.safetensors}
     * files and a {@code model.safetensors.index.json}.
     */
    public static void write(Path dir, LlamaConfig config, Map<String, Weight> weights, int shards) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config.toJson(), StandardCharsets.UTF_8);
        List<Weight> all = new ArrayList<>(weights.values());
        int n = Math.max(1, Math.min(shards, all.size()));
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        for (int s = 0; s < n; s++) {
            String file = n == 1 ? "model.safetensors" : String.format("model-%05d-of-%05d.safetensors", s + 1, n);
            Map<String, ArrayData> tensors = new LinkedHashMap<>();
            for (int i = s; i < all.size(); i += n) {
                Weight w = all.get(i);
                tensors.put(w.name(), ArrayData.of(ElementType.of(w.dtype()), w.shape(), w.data()));
                index.append(index.charAt(index.length() - 1) == '{' ? "" : ", ")
                        .append(Json.quote(w.name())).append(": ").append(Json.quote(file));
            }
            Safetensors.write(dir.resolve(file), tensors, Map.of("format", "pt"));
        }
        index.append("}}\n");
        if (n > 1) {
            Files.writeString(dir.resolve(ShardIndex.FILE_NAME), index.toString(), StandardCharsets.UTF_8);
        }
    }
}
