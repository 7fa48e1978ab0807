/**
 * Tensor and metadata files shared by the command and the model: {@code .npy}, safetensors, GGUF, a strict
 * JSON reader, atomic and multi-process output files, the peak memory of a process. Below both {@code ringattn.cli} and
 * {@code ringattn.model}; depends only on the engine, whose {@code Tensor} and {@code DType} its API
 * uses (hence {@code requires transitive}).
 */
module ringattn.io {
    requires transitive ringattn.engine;
    requires jdk.management; // com.sun.management: heap high-water from GC notifications

    exports ringattn.io;
}
