package ringattn.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import ringattn.engine.tensor.DType;

/** Weights held off-heap in this process (the tiny model). Owns its memory; close frees it. */
public final class InMemoryWeights implements WeightSource {
    private final Arena arena = Arena.ofShared();
    private final Map<String, Weight> weights = new LinkedHashMap<>();

    /** Allocates a zeroed tensor of this name, dtype and shape and returns it for filling. */
    public synchronized Weight allocate(String name, DType dtype, long... shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        MemorySegment seg = arena.allocate(Math.max(1, n * dtype.byteSize()), 64).asSlice(0, n * dtype.byteSize());
        Weight w = new Weight(name, "memory", dtype, shape.clone(), seg);
        weights.put(name, w);
        return w;
    }

    /** All tensors, in insertion order. */
    public Map<String, Weight> all() {
        return Collections.unmodifiableMap(weights);
    }

    /** Removes a tensor (tests: to make a model with a missing tensor). */
    public synchronized void remove(String name) {
        weights.remove(name);
    }

    @Override
    public Weight get(String name, long... expectedShape) {
        Weight w = weights.get(name);
        if (w == null) {
            throw new ModelFormatException("tensor '" + name + "' not found in " + description() + " (expected shape "
                    + Arrays.toString(expectedShape) + ")");
        }
        if (!Arrays.equals(w.shape(), expectedShape)) {
            throw new ModelFormatException("tensor '" + name + "' in " + description() + ": expected shape "
                    + Arrays.toString(expectedShape) + ", got " + w.shapeString());
        }
        return w;
    }

    @Override
    public boolean contains(String name) {
        return weights.containsKey(name);
    }

    @Override
    public String description() {
        return "in-memory weights";
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
