/**
 * The ringattn engine: off-heap tensors, the block-kernel port with scalar and Vector API
 * implementations (kernel providers {@code scalar} and {@code simd}, chosen with accelerators'
 * providers by {@link ringattn.engine.device.Devices}), the worker pool, the fp64 reference
 * attention, the ring algorithm and the transport port with its in-JVM implementation. Depends on
 * nothing of ours; the Vector API stays inside {@code ringattn.engine.kernel.simd}, which is not
 * exported and is reached only through its provider, so the engine runs without the incubator module.
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
    // In order of preference for the CPU (the first usable wins); META-INF/services says the same
    // on the class path.
    provides ringattn.engine.device.KernelProvider with
            ringattn.engine.kernel.simd.PanamaKernelProvider,
            ringattn.engine.kernel.ScalarKernelProvider;
}
