/**
 * The ringattn engine: off-heap tensors, the block-kernel port with scalar and Vector API
 * implementations, the fp64 reference attention, the ring algorithm and the transport port with its
 * in-JVM implementation. Depends on nothing of ours; the Vector API stays inside
 * {@code ringattn.engine.kernel.simd}, which is not exported.
 */
module ringattn.engine {
    requires static jdk.incubator.vector;
    requires java.logging;
    // Optional: read HotSpot's UseAVX to tell AVX2 (16 vector registers) from AVX-512 (32).
    requires static java.management;
    requires static jdk.management;

    exports ringattn.engine.tensor;
    exports ringattn.engine.kernel;
    exports ringattn.engine.reference;
    exports ringattn.engine.ring;
    exports ringattn.engine.transport;
    exports ringattn.engine.device;
    exports ringattn.engine.concurrent;

    uses ringattn.engine.device.KernelProvider;
}
