package ringattn.engine.ring;

import java.lang.foreign.MemorySegment;
import ringattn.engine.kernel.ElementwiseF32;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.TransportException;

/**
 * The ring's memory, sized once, by the first pass, for the K/V shape of its tensors: the
 * transport's {@value #SLOTS} buffers ("slots"; 2 for a forward-only ring whose blocks go one way),
 * each big enough for the K and V of the most rows any block sends ({@link Route#most}: a whole
 * shard without a window, the window's reach with one) in the input dtype or, unless the ring is
 * forward-only, for their dK and dV accumulators in fp32; and fp32 scratch for this rank's dK/dV
 * (its largest shard), allocated by the first backward pass. A slot holds K then V, or dK then dV,
 * each {@code [tokens, kvHeads, headDim]}.
 *
 * <p>Ownership: the transport allocates the slots ({@link RingTransport#allocateBuffers}, collective)
 * and frees them when it closes; slots are fetched from it at each use, so a closed transport fails
 * cleanly. This object owns the scratch and frees it in {@link #close}. Not thread-safe.
 */
final class RingMemory implements AutoCloseable {
    static final int SLOTS = 4;

    private final RingTransport transport;
    /** Rows a slot holds (the most travelling rows of a block). */
    private final int capacityTokens;
    /** Rows of this rank's own gradient sums (the largest shard). */
    private final int homeTokens;
    private final int kvHeads;
    private final int headDim;
    private final DType dtype;
    /** Slots allocated: {@value #SLOTS}, or 2 for a forward-only one-way ring. */
    private final int slots;
    /** Whether the slots hold a block's fp32 gradients (a ring that runs backward passes). */
    private final boolean gradients;
    // Gradient scratch, allocated by the first backward pass.
    private Tensor contributionDk;
    private Tensor contributionDv;
    private Tensor homeDk;
    private Tensor homeDv;

    private RingMemory(RingTransport transport, int capacityTokens, int homeTokens, Tensor k, long minSlotBytes, int slots,
                       boolean gradients) {
        this.transport = transport;
        this.capacityTokens = capacityTokens;
        this.homeTokens = homeTokens;
        this.kvHeads = k.heads();
        this.headDim = k.headDim();
        this.dtype = k.dtype();
        this.slots = slots;
        this.gradients = gradients;
        long bytes = Math.max(minSlotBytes, Math.max(kvBytes(capacityTokens), gradients ? gradBytes(capacityTokens) : 0));
        transport.allocateBuffers(slots, bytes);
    }

    /**
     * Collective: allocates the slots (at least {@code minSlotBytes} each) for blocks of
     * {@code travellingTokens} rows in {@code k}'s shape, {@value #SLOTS} of them for a ring that
     * runs {@code backward} passes or sends blocks both ways, else 2; gradient scratch (for those rows
     * and for {@code plan}'s largest shard) comes with the first backward pass.
     */
    static RingMemory allocate(RingTransport transport, RingPlan plan, int travellingTokens, Tensor k, long minSlotBytes,
                               boolean backward, boolean twoWay) {
        return new RingMemory(transport, travellingTokens, plan.maxShard, k, minSlotBytes, backward || twoWay ? SLOTS : 2,
                backward);
    }

    /**
     * This memory, when {@code plan}, blocks of {@code travellingTokens} rows and {@code k} fit in it,
     * and it has the slots a {@code twoWay} pass needs.
     *
     * @throws TransportException when they do not (the transport's buffers cannot grow)
     */
    RingMemory checkFits(RingPlan plan, int travellingTokens, Tensor k, boolean twoWay) {
        if (travellingTokens > capacityTokens || plan.maxShard > homeTokens || k.heads() != kvHeads
                || k.headDim() != headDim || k.dtype() != dtype || twoWay && slots < SLOTS) {
            throw new TransportException("k: shape " + k.shapeString() + " / shard " + plan.maxShard + " ("
                    + travellingTokens + " rows travelling" + (twoWay ? ", both ways" : "")
                    + ") exceeds the buffers this ring allocated on its first call (" + homeTokens + " tokens, "
                    + capacityTokens + " travelling, " + slots + " slots, " + kvHeads + " K/V heads, headDim "
                    + headDim + ", " + dtype + "); use a new transport");
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

    /** Copies K and V (all their rows) into {@code slot}: K, then V from {@code k}'s byte size on. */
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
        allocateGradients();
        return new BlockGradients(contributionDk.tokens(0, tokens), contributionDv.tokens(0, tokens));
    }

    /** The sums of the gradients of this rank's own block ({@code tokens} tokens). */
    BlockGradients home(int tokens) {
        allocateGradients();
        return new BlockGradients(homeDk.tokens(0, tokens), homeDv.tokens(0, tokens));
    }

    private void allocateGradients() {
        if (!gradients) { // not reached through RingAttention: its agreement refuses a forward-only ring's backward
            throw new IllegalStateException("backward: this ring's slots were sized for forward passes only");
        }
        if (homeDv == null) {
            Tensor[] made = new Tensor[4];
            try {
                made[0] = Tensor.allocate(capacityTokens, kvHeads, headDim, DType.F32);
                made[1] = Tensor.allocate(capacityTokens, kvHeads, headDim, DType.F32);
                made[2] = Tensor.allocate(homeTokens, kvHeads, headDim, DType.F32);
                made[3] = Tensor.allocate(homeTokens, kvHeads, headDim, DType.F32);
            } catch (RuntimeException | Error e) {
                for (Tensor t : made) {
                    if (t != null) {
                        t.close();
                    }
                }
                throw e;
            }
            contributionDk = made[0];
            contributionDv = made[1];
            homeDk = made[2];
            homeDv = made[3];
        }
    }

    /**
     * fp32 dK and dV of one block ({@code [tokens, kvHeads, headDim]} each), views of this memory's
     * scratch. An accumulator slot holds the same as dK then dV.
     */
    record BlockGradients(Tensor dk, Tensor dv) {
        /** These gradients' rows {@code [from, from + count)}. */
        BlockGradients rows(int from, int count) {
            return new BlockGradients(dk.tokens(from, count), dv.tokens(from, count));
        }

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
        for (Tensor t : new Tensor[] {contributionDk, contributionDv, homeDk, homeDv}) {
            if (t != null) {
                t.close();
            }
        }
    }
}
