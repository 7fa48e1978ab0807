/**
 * Off-heap tensors in the layout {@code [tokens, heads, headDim]}, row-major, F32 or BF16 storage.
 *
 * <p>A {@link ringattn.engine.tensor.Tensor} created by {@code allocate} owns its memory (64-byte
 * aligned, in a shared arena) and frees it on {@code close}; views made with {@code tokens(start,
 * count)} share that memory and die with their owner. Tensors are not thread-safe for writes to the
 * same element; disjoint rows may be written from different threads.
 */
package ringattn.engine.tensor;
