/**
 * Tensor files: NumPy {@code .npy} (versions 1.0, 2.0 and 3.0, little-endian, C order),
 * safetensors and GGUF (versions 2 and 3, {@link ringattn.io.Gguf}). Inputs are memory-mapped into a caller-owned {@link java.lang.foreign.Arena}; outputs
 * are written to a temporary file in the target directory and atomically renamed when complete, so a
 * partial output file never appears. Every malformed input ends in a {@link ringattn.io.FileFormatException}
 * naming the file and the problem (exit code 2 in the command); nothing is allocated from a size
 * a file claims before that size has been checked against the file's length.
 *
 * <p>Classes here are stateless or immutable and thread-safe, except that a mapped
 * {@link ringattn.io.ArrayData} is valid only while its arena is open.
 */
package ringattn.io;
