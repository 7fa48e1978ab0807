package ringattn.model;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import ringattn.io.Json;
import ringattn.io.Snippet;

/**
 * A sharded checkpoint's {@code model.safetensors.index.json}: which file holds each tensor. The
 * index is untrusted input, so every file it names is confined to the model directory: a name must
 * be relative, without {@code ..}, name an existing regular file, and that file's real path (symbolic
 * links followed) must lie in the directory's real path — or, for a Hugging Face cache snapshot
 * ({@code …/snapshots/REV}), in the cache's {@code …/blobs} folder its links point to. Anything else
 * is a {@link ModelFormatException} naming the index and the entry. Immutable.
 *
 * @param fileOf each tensor name mapped to its shard file (resolved against the directory, normalized)
 */
record ShardIndex(Map<String, Path> fileOf) {
    /** The index's file name in a model directory. */
    static final String FILE_NAME = "model.safetensors.index.json";
    /** Largest index accepted, bytes (a 405B-parameter model's index is about 100 KiB). */
    static final long MAX_BYTES = 16L << 20;

    /** The shard files, each once, in name order. */
    List<Path> files() {
        return List.copyOf(new TreeSet<>(fileOf.values()));
    }

    /** Reads and checks {@code dir}'s index. */
    static ShardIndex read(Path dir) throws IOException {
        Path index = dir.resolve(FILE_NAME);
        long size = Files.size(index);
        if (size > MAX_BYTES) {
            throw new ModelFormatException(index + ": " + size + " bytes, larger than the " + MAX_BYTES + " accepted");
        }
        Object parsed;
        try {
            parsed = Json.parse(Files.readString(index, StandardCharsets.UTF_8));
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(index + ": not valid UTF-8", e);
        } catch (Json.SyntaxException e) {
            throw new ModelFormatException(index + ": " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?> m) || !(m.get("weight_map") instanceof Map<?, ?> wm)) {
            throw new ModelFormatException(index + ": expected an object with a \"weight_map\"");
        }
        List<Path> roots = allowedRoots(dir);
        Map<String, Path> fileOf = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : wm.entrySet()) {
            String tensor = (String) e.getKey();
            String entry = index + ": weight_map entry '" + Snippet.of(tensor) + "'";
            if (!(e.getValue() instanceof String name)) {
                throw new ModelFormatException(entry + ": expected a file name, got " + Snippet.of(e.getValue()));
            }
            fileOf.put(tensor, confine(dir, roots, name, entry + " names '" + Snippet.of(name) + "'"));
        }
        return new ShardIndex(Collections.unmodifiableMap(fileOf));
    }

    /** Where a shard's real path may lie: the directory's real path, plus a cache snapshot's blobs. */
    private static List<Path> allowedRoots(Path dir) throws IOException {
        Path real = dir.toRealPath();
        Path parent = real.getParent();
        if (parent != null && parent.getFileName() != null && parent.getFileName().toString().equals("snapshots")
                && parent.getParent() != null) {
            return List.of(real, parent.getParent().resolve("blobs"));
        }
        return List.of(real);
    }

    /** {@code name} resolved in {@code dir}, or a refusal starting with {@code what}. */
    private static Path confine(Path dir, List<Path> roots, String name, String what) throws IOException {
        Path relative;
        try {
            relative = dir.getFileSystem().getPath(name);
        } catch (InvalidPathException e) {
            throw new ModelFormatException(what + ", which is not a valid file name");
        }
        if (name.isEmpty()) {
            throw new ModelFormatException(what + ": an empty file name");
        }
        if (relative.isAbsolute()) {
            throw new ModelFormatException(what + ", an absolute path; shards must be named relative to " + dir);
        }
        for (Path part : relative) {
            if (part.toString().equals("..")) {
                throw new ModelFormatException(what + ", which contains '..'; shards must lie in " + dir);
            }
        }
        Path file = dir.resolve(relative).normalize();
        if (!Files.exists(file)) {
            throw new ModelFormatException(what + ", which does not exist in " + dir);
        }
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException(what + ", which is not a regular file");
        }
        Path real = file.toRealPath();
        if (roots.stream().noneMatch(real::startsWith)) {
            throw new ModelFormatException(what + ", which leads (through a symbolic link) to " + real
                    + ", outside " + dir);
        }
        return file;
    }
}
