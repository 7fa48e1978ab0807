package ringattn.engine.ring;

import ringattn.engine.tensor.Tensor;

/**
 * One rank's backward output: dQ, dK, dV for its shards, in the shapes and dtypes of Q, K and V,
 * plus the timing. Owns the three tensors; close it when done.
 */
public record Gradients(Tensor dq, Tensor dk, Tensor dv, RingStats stats) implements AutoCloseable {
    @Override
    public void close() {
        dq.close();
        dk.close();
        dv.close();
    }
}
