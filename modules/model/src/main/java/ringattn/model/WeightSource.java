package ringattn.model;

/**
 * Where a model's weights come from, by Hugging Face tensor name. Implementations: memory-mapped
 * safetensors ({@link SafetensorsWeights}), a GGUF file ({@link GgufWeights}) and in-memory tensors
 * ({@link InMemoryWeights}, the tiny model). Thread-safe for reading; closing invalidates every {@link Weight} handed out.
 */
public interface WeightSource extends AutoCloseable {
    /**
     * The tensor {@code name}, checked against {@code expectedShape}. Throws a
     * {@link ModelFormatException} naming the tensor, the file (or directory) and the expected and
     * actual shape when it is missing, has another shape, or has an unsupported dtype.
     */
    Weight get(String name, long... expectedShape);

    /** Whether a tensor of this name exists. */
    boolean contains(String name);

    /** Where the weights come from, for messages. */
    String description();

    @Override
    void close();
}
