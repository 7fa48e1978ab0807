package ringattn.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model to run, opened from where it is kept: a Hugging Face-style directory ({@code config.json}
 * and safetensors, {@link SafetensorsWeights}) or a GGUF file ({@link GgufWeights}, config from its
 * metadata). Owns its weights: {@link #close()} unmaps them.
 *
 * @param path    the directory or file as given
 * @param config  the hyper-parameters
 * @param weights the weights, memory-mapped
 */
public record Checkpoint(Path path, LlamaConfig config, WeightSource weights) implements AutoCloseable {
    /**
     * Opens {@code path}: a directory as a Hugging Face model, a file as GGUF. Every problem is a
     * {@link ModelFormatException} naming the path (or the file in it) and what is wrong.
     */
    public static Checkpoint open(Path path) {
        if (Files.isDirectory(path)) {
            Path configFile = path.resolve("config.json");
            if (!Files.exists(configFile)) {
                throw new ModelFormatException(path + " has no config.json (a model is a directory with config.json "
                        + "and safetensors, or a .gguf file)");
            }
            try {
                LlamaConfig config = LlamaConfig.read(configFile);
                return new Checkpoint(path, config, SafetensorsWeights.open(path));
            } catch (IOException e) {
                throw new ModelFormatException(path + ": cannot read: " + e.getMessage(), e);
            }
        }
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file or directory (a model is a directory with config.json "
                    + "and safetensors, or a .gguf file)");
        }
        GgufWeights gguf = GgufWeights.open(path);
        return new Checkpoint(path, gguf.config(), gguf);
    }

    @Override
    public void close() {
        weights.close();
    }
}
