package ringattn.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;
import ringattn.cuda.ffm.Cublas;
import ringattn.cuda.ffm.CudaDriver;
import ringattn.cuda.ffm.Cudart;
import ringattn.cuda.ffm.KernelArgs;

/**
 * {@link DeviceOps} on a CUDA GPU: the primary context of one device, one non-blocking stream, a
 * cuBLAS handle bound to it with its math mode pinned to fp32 ({@link CublasHandles}: no TF32), and
 * the PTX module loaded with {@code cuModuleLoadData}. Not thread-safe (the kernel serialises calls).
 */
final class CudaDeviceOps implements DeviceOps {
    private final int device;
    private final String description;
    private final long context;
    private final long stream;
    private final long cublas;
    private final long module;
    private final Map<String, Long> functions = new HashMap<>();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment scalars = arena.allocate(8, 4);

    CudaDeviceOps(int device) {
        this.device = device;
        CudaDriver.check(CudaDriver.initRaw(), "cuInit");
        Cudart.setDevice(device);
        Cudart.free(0); // creates the primary context and makes it current on this thread
        this.context = CudaDriver.currentContext();
        this.description = "cuda:" + device + " (" + CudaDriver.deviceName(device) + ")";
        long s = 0;
        long h = 0;
        long m = 0;
        try {
            s = Cudart.streamCreate(Cudart.STREAM_NON_BLOCKING);
            h = CublasHandles.open(CublasHandles.CUBLAS, s);
            m = CudaDriver.loadModule(Ptx.text());
            for (String entry : Ptx.ENTRIES) {
                functions.put(entry, CudaDriver.function(m, entry));
            }
        } catch (RuntimeException e) {
            release(s, h, m);
            arena.close();
            throw e;
        }
        this.stream = s;
        this.cublas = h;
        this.module = m;
    }

    private static void release(long stream, long cublas, long module) {
        try {
            if (module != 0) {
                CudaDriver.unloadModule(module);
            }
            if (cublas != 0) {
                Cublas.destroy(cublas);
            }
            if (stream != 0) {
                Cudart.streamDestroy(stream);
            }
        } catch (RuntimeException suppressed) {
            // the first error is the one to report
        }
    }

    int device() {
        return device;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public void makeCurrent() {
        CudaDriver.setCurrentContext(context);
    }

    @Override
    public long alloc(long bytes) {
        return Cudart.malloc(bytes);
    }

    @Override
    public void free(long pointer) {
        Cudart.free(pointer);
    }

    @Override
    public MemorySegment allocPinned(long bytes) {
        return Cudart.mallocHost(bytes);
    }

    @Override
    public void freePinned(MemorySegment pinned) {
        Cudart.freeHost(pinned);
    }

    @Override
    public void copyToDevice(long dst, MemorySegment pinned, long offset, long bytes) {
        checkRange(pinned, offset, bytes);
        Cudart.memcpyAsync(dst, pinned.address() + offset, bytes, Cudart.H2D, stream);
    }

    @Override
    public void copyToHost(MemorySegment pinned, long offset, long src, long bytes) {
        checkRange(pinned, offset, bytes);
        Cudart.memcpyAsync(pinned.address() + offset, src, bytes, Cudart.D2H, stream);
    }

    private static void checkRange(MemorySegment pinned, long offset, long bytes) {
        if (offset < 0 || bytes < 0 || offset + bytes > pinned.byteSize()) {
            throw new IndexOutOfBoundsException("pinned copy [" + offset + ", " + (offset + bytes) + ") outside "
                    + pinned.byteSize() + " bytes");
        }
    }

    @Override
    public void zero(long dst, long bytes) {
        Cudart.memsetAsync(dst, 0, bytes, stream);
    }

    @Override
    public void synchronize() {
        Cudart.streamSynchronize(stream);
    }

    @Override
    public void gemm(int transa, int transb, int m, int n, int k, float alpha,
                     long a, int aType, int lda, long strideA, long b, int bType, int ldb, long strideB,
                     float beta, long c, int ldc, long strideC, int batch) {
        scalars.set(ValueLayout.JAVA_FLOAT, 0, alpha);
        scalars.set(ValueLayout.JAVA_FLOAT, 4, beta);
        Cublas.gemmStridedBatched(cublas, transa, transb, m, n, k, scalars, a, aType, lda, strideA,
                b, bType, ldb, strideB, c, ldc, strideC, batch);
    }

    @Override
    public void launch(String entry, int grid, int block, KernelArgs args) {
        Long fn = functions.get(entry);
        if (fn == null) {
            throw new IllegalArgumentException("no PTX entry " + entry);
        }
        CudaDriver.launch(fn, grid, block, 0, stream, args.params(), entry);
    }

    @Override
    public void close() {
        makeCurrent();
        try {
            Cudart.streamSynchronize(stream);
        } finally {
            Cublas.destroy(cublas);
            CudaDriver.unloadModule(module);
            Cudart.streamDestroy(stream);
            arena.close();
        }
    }
}
