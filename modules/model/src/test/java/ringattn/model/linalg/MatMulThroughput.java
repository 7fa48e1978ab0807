package ringattn.model.linalg;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import ringattn.engine.tensor.DType;

/**
 * A quick throughput measurement of the matmul kernels on the tiny model's MLP shape (a benchmark
 * main, not a test): prints GFLOP/s per kernel and weight type. Run it from the test classpath.
 */
final class MatMulThroughput {
    private MatMulThroughput() {
    }

    public static void main(String[] args) {
        int n = 1024;
        int k = 256;
        int m = 688;
        try (Arena arena = Arena.ofShared(); Workers pool = new Workers(1, "bench")) {
            MemorySegment x = arena.allocate(4L * n * k, 64);
            MemorySegment y = arena.allocate(4L * n * m, 64);
            for (DType dt : DType.values()) {
                MemorySegment w = arena.allocate((long) dt.byteSize() * m * k, 64);
                for (int bits : new int[] {-1, 256, 512}) {
                    MatMul mm = MatMul.create(bits);
                    int reps = bits == -1 ? 2 : 20;
                    for (int i = 0; i < reps; i++) {
                        mm.multiply(x, n, k, w, dt, m, y, pool);
                    }
                    long t0 = System.nanoTime();
                    for (int i = 0; i < reps; i++) {
                        mm.multiply(x, n, k, w, dt, m, y, pool);
                    }
                    double s = (System.nanoTime() - t0) / 1e9;
                    System.out.printf("%s %s: %.1f GFLOP/s%n", mm.name(), dt, 2.0 * n * k * m * reps / s / 1e9);
                }
            }
        }
    }
}
