package ringattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import ringattn.engine.tensor.DType;
import ringattn.io.Json;

/**
 * A hostile {@code model.safetensors.index.json} cannot make the loader read files outside the
 * model directory ({@code ..}, absolute paths, symbolic links leading out), and no file's bytes
 * reach an error message; legitimate sharded directories, Hugging Face cache snapshots included,
 * still load.
 */
class ShardIndexTest {
    static final LlamaConfig CONFIG = LlamaConfig.tiny().withLayers(1);
    static final String SHARD2 = "model-00002-of-00003.safetensors";
    static InMemoryWeights weights;

    @TempDir
    Path root;
    Path model;
    Path index;

    @BeforeAll
    static void setUpWeights() {
        weights = TinyLlama.weights(CONFIG, DType.F32, 5);
    }

    @AfterAll
    static void tearDown() {
        weights.close();
    }

    @BeforeEach
    void writeModel() throws IOException {
        model = root.resolve("model");
        SafetensorsWeights.write(model, CONFIG, weights.all(), 3);
        index = model.resolve(ShardIndex.FILE_NAME);
    }

    /** Moves the second shard to {@code target} and makes the index name it {@code name}. */
    void moveShard2(Path target, String name) throws IOException {
        Files.createDirectories(target.getParent());
        Files.move(model.resolve(SHARD2), target);
        renameInIndex(name);
    }

    void renameInIndex(String name) throws IOException {
        String text = Files.readString(index, StandardCharsets.UTF_8);
        Files.writeString(index, text.replace(Json.quote(SHARD2), Json.quote(name)), StandardCharsets.UTF_8);
    }

    ModelFormatException refused(String... expected) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(model).close());
        String msg = e.getMessage();
        assertTrue(msg.startsWith(index + ": weight_map entry 'model."), msg);
        for (String s : expected) {
            assertTrue(msg.contains(s), msg);
        }
        return e;
    }

    @Test
    void aLegitShardedIndexLoads() throws IOException {
        try (SafetensorsWeights w = SafetensorsWeights.open(model)) {
            for (Weight expected : weights.all().values()) {
                Weight back = w.get(expected.name(), expected.shape());
                assertEquals(-1L, expected.data().mismatch(back.data()), expected.name());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"../outside.safetensors", "./../outside.safetensors", "sub/../../outside.safetensors"})
    void dotDotIsRefused(String name) throws IOException {
        moveShard2(root.resolve("outside.safetensors"), name);
        refused("names '" + name + "'", "contains '..'");
    }

    @Test
    void anAbsolutePathIsRefused() throws IOException {
        Path outside = root.resolve("elsewhere/outside.safetensors").toAbsolutePath();
        moveShard2(outside, outside.toString());
        refused("names '" + outside.toString().substring(0, 16), "an absolute path");
    }

    @Test
    void aSymbolicLinkLeadingOutIsRefused() throws IOException {
        Path outside = root.resolve("outside.safetensors");
        Files.move(model.resolve(SHARD2), outside);
        Files.createSymbolicLink(model.resolve("link.safetensors"), outside);
        renameInIndex("link.safetensors");
        refused("names 'link.safetensors'", "symbolic link", outside.toRealPath().toString());
    }

    @Test
    void aSymbolicLinkToADirectoryOutsideIsRefused() throws IOException {
        moveShard2(root.resolve("elsewhere").resolve(SHARD2), "sub/" + SHARD2);
        Files.createSymbolicLink(model.resolve("sub"), root.resolve("elsewhere"));
        refused("names 'sub/" + SHARD2 + "'", "symbolic link");
    }

    @Test
    void aSymbolicLinkWithinTheDirectoryLoads() throws IOException {
        moveShard2(model.resolve("real").resolve(SHARD2), "alias.safetensors");
        Files.createSymbolicLink(model.resolve("alias.safetensors"), Path.of("real", SHARD2));
        SafetensorsWeights.open(model).close();
    }

    @Test
    void nonStringAndMissingEntriesAreRefused() throws IOException {
        String text = Files.readString(index, StandardCharsets.UTF_8);
        Files.writeString(index, text.replace(Json.quote(SHARD2), "[\"" + "x".repeat(100_000) + "\"]"));
        ModelFormatException e = refused("expected a file name, got [xxxx");
        assertTrue(e.getMessage().length() < 300, e.getMessage());
        Files.writeString(index, text.replace(Json.quote(SHARD2), "\"\""));
        refused("an empty file name");
        Files.writeString(index, text.replace(Json.quote(SHARD2), "\"sub\""));
        Files.createDirectory(model.resolve("sub"));
        refused("not a regular file");
        Files.write(index, new byte[] {'{', (byte) 0xFF, '}'});
        assertTrue(assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(model))
                .getMessage().endsWith(ShardIndex.FILE_NAME + ": not valid UTF-8"));
    }

    /**
     * A file in the directory that is not safetensors (here, text) is refused without its bytes in
     * the message: its first 8 bytes, read as the header length, used to be printed as a number.
     */
    @Test
    void aNamedFilesBytesAreNeverEchoed() throws IOException {
        byte[] secret = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
                .getBytes(StandardCharsets.US_ASCII);
        Files.write(model.resolve("notes.safetensors"), secret);
        renameInIndex("notes.safetensors");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(model));
        long first8 = ByteBuffer.wrap(secret).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String msg = e.getMessage();
        assertTrue(msg.contains("notes.safetensors: not a safetensors file"), msg);
        for (String leak : List.of(Long.toUnsignedString(first8), Long.toString(first8), "BEGIN", "b3Bl")) {
            assertFalse(msg.contains(leak), msg);
        }
    }

    /**
     * A Hugging Face cache snapshot: every file in {@code snapshots/REV} is a link to
     * {@code ../../blobs/HASH}. Those links leave the snapshot directory but stay in the cache's
     * blobs, so the model loads; a link to anywhere else in the cache is still refused.
     */
    @Test
    void aHubCacheSnapshotLoads() throws IOException {
        Path repo = root.resolve("hub/models--test--tiny");
        Path snapshot = repo.resolve("snapshots/0123abcd");
        Files.createDirectories(repo.resolve("blobs"));
        Files.createDirectories(snapshot);
        List<Path> files;
        try (Stream<Path> s = Files.list(model)) {
            files = s.toList();
        }
        for (Path f : files) {
            String blob = "blob-" + f.getFileName();
            Files.move(f, repo.resolve("blobs").resolve(blob));
            Files.createSymbolicLink(snapshot.resolve(f.getFileName()), Path.of("..", "..", "blobs", blob));
        }
        try (SafetensorsWeights w = SafetensorsWeights.open(snapshot)) {
            Weight expected = weights.all().values().iterator().next();
            assertEquals(-1L, expected.data().mismatch(w.get(expected.name(), expected.shape()).data()));
        }
        Path link = snapshot.resolve(SHARD2);
        Files.move(repo.resolve("blobs/blob-" + SHARD2), repo.resolve(SHARD2));
        Files.delete(link);
        Files.createSymbolicLink(link, Path.of("..", "..", SHARD2));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(snapshot));
        assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
    }
}
