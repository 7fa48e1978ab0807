/**
 * Minimal file formats for the model module: a JSON reader, memory-mapped safetensors reading and
 * writing, and {@code .npy} token/logit files. Written here because the CLI's {@code ringattn.cli.io}
 * had not landed when this module was written; replace with it once it has.
 */
package ringattn.model.io;
