package ringattn.engine.ring;

import java.lang.foreign.MemorySegment;
import ringattn.engine.kernel.ElementwiseF32;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.TransportException;

/**
 * The ring's memory, sized once, by the first pass, for the largest shard of that pass and the K/V
 * shape of its tensors: the transport's {@value #SLOTS} buffers ("slots"), each big enough for the K
 * and V of a block in the input dtype or for its dK and dV accumulators in fp32, and fp32 scratch for
 * this rank's dK/dV. A slot holds K then V, or dK then dV, each {@code [tokens, kvHeads, headDim]}.
 *
 * <p>Ownership: the transport allocates the slots ({@link RingTransport#allocateBuffers}, collective)
 * and frees them when it closes; slots are fetched from it at each use, so a closed transport fails
 * cleanly. This object owns the scratch and frees it in {@link #close}. Not thread-safe.
 */
final class RingMemory implements AutoCloseable {
    static final int SLOTS = 4;

    private final RingTransport transport;
    private final int capacityTokens;
    private final int kvHeads;
    private final int headDim;
    private final DType dtype;
    private final Tensor contributionDk;
    private final Tensor contributionDv;
    private final Tensor homeDk;
    private final Tensor homeDv;

    private RingMemory(RingTransport transport, int capacityTokens, Tensor k, long minSlotBytes) {
        this.transport = transport;
        this.capacityTokens = capacityTokens;
        this.kvHeads = k.heads();
        this.headDim = k.headDim();
        this.dtype = k.dtype();
        transport.allocateBuffers(SLOTS, Math.max(minSlotBytes, Math.max(kvBytes(capacityTokens), gradBytes(capacityTokens))));
        contributionDk = Tensor.allocate(capacityTokens, kvHeads, headDim, DType.F32);
        contributionDv = Tensor.allocate(capacityTokens, kvHeads, headDim, DType.F32);
        homeDk = Tensor.allocate(capacityTokens, kvHeads, headDim, DType.F32);
        homeDv = Tensor.allocate(capacityTokens, kvHeads, headDim, DType.F32);
    }

    /**
     * Collective: allocates the slots (at least {@code minSlotBytes} each) and scratch for
     * {@code plan}'s largest shard and {@code k}'s shape.
     */
    static RingMemory allocate(RingTransport transport, RingPlan plan, Tensor k, long minSlotBytes) {
        return new RingMemory(transport, plan.maxShard, k, minSlotBytes);
    }

    /**
     * This memory, when {@code plan} and {@code k} fit in it.
     *
     * @throws TransportException when they do not (the transport's buffers cannot grow)
     */
    RingMemory checkFits(RingPlan plan, Tensor k) {
        if (plan.maxShard > capacityTokens || k.heads() != kvHeads || k.headDim() != headDim || k.dtype() != dtype) {
            throw new TransportException("k: shape " + k.shapeString() + " / shard " + plan.maxShard
                    + " exceeds the buffers this ring allocated on its first call (" + capacityTokens + " tokens, "
                    + kvHeads + " K/V heads, headDim " + headDim + ", " + dtype + "); use a new transport");
        }
        return this;
    }

    /** Slot {@code index} (0 to {@value #SLOTS} − 1). */
    MemorySegment slot(int index) {
        return transport.buffer(index);
    }

    /** Bytes of the K and V of a block of {@code tokens} tokens, input dtype. */
    long kvBytes(int tokens) {
        return 2L * tokens * kvHeads * headDim * dtype.byteSize();
    }

    /** Bytes of the dK and dV accumulators of a block of {@code tokens} tokens, fp32. */
    long gradBytes(int tokens) {
        return 2L * tokens * kvHeads * headDim * 4;
    }

    /** Copies K and V into {@code slot}. */
    void stage(Tensor k, Tensor v, MemorySegment slot) {
        long bytes = k.segment().byteSize();
        MemorySegment.copy(k.segment(), 0, slot, 0, bytes);
        MemorySegment.copy(v.segment(), 0, slot, bytes, bytes);
    }

    /** The K of the block of {@code tokens} tokens in {@code slot}. */
    Tensor keys(MemorySegment slot, int tokens) {
        return Tensor.wrap(slot.asSlice(0, kvBytes(tokens) / 2), tokens, kvHeads, headDim, dtype);
    }

    /** The V of the block of {@code tokens} tokens in {@code slot}. */
    Tensor values(MemorySegment slot, int tokens) {
        long bytes = kvBytes(tokens) / 2;
        return Tensor.wrap(slot.asSlice(bytes, bytes), tokens, kvHeads, headDim, dtype);
    }

    /** Scratch for this rank's contribution to the gradients of a block of {@code tokens} tokens. */
    BlockGradients contribution(int tokens) {
        return new BlockGradients(contributionDk.tokens(0, tokens), contributionDv.tokens(0, tokens));
    }

    /** The sums of the gradients of this rank's own block ({@code tokens} tokens). */
    BlockGradients home(int tokens) {
        return new BlockGradients(homeDk.tokens(0, tokens), homeDv.tokens(0, tokens));
    }

    /**
     * fp32 dK and dV of one block ({@code [tokens, kvHeads, headDim]} each), views of this memory's
     * scratch. An accumulator slot holds the same as dK then dV.
     */
    record BlockGradients(Tensor dk, Tensor dv) {
        void zero() {
            dk.zero();
            dv.zero();
        }

        /** Adds these gradients to the accumulator in {@code slot}; stores them there when they are its {@code first} term. */
        void addTo(MemorySegment slot, boolean first) {
            long half = dk.segment().byteSize();
            if (first) {
                MemorySegment.copy(dk.segment(), 0, slot, 0, half);
                MemorySegment.copy(dv.segment(), 0, slot, half, half);
            } else {
                ElementwiseF32.addInto(slot.asSlice(0, half), dk.segment());
                ElementwiseF32.addInto(slot.asSlice(half, half), dv.segment());
            }
        }

        /** Adds the accumulator in {@code slot} to these gradients. */
        void add(MemorySegment slot) {
            long half = dk.segment().byteSize();
            ElementwiseF32.addInto(dk.segment(), slot.asSlice(0, half));
            ElementwiseF32.addInto(dv.segment(), slot.asSlice(half, half));
        }
    }

    /** Frees the scratch; the slots stay with the transport. */
    @Override
    public void close() {
        contributionDk.close();
        contributionDv.close();
        homeDk.close();
        homeDv.close();
    }
}
