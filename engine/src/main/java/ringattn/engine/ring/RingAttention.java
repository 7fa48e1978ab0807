package ringattn.engine.ring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.Transfer;
import ringattn.engine.transport.TransportException;

/**
 * Exact ring attention for one rank. Every rank of the ring calls {@link #forward} (and
 * {@link #backward}) with its own shards of Q, K and V in the options' layout; the K/V blocks travel
 * around the ring while the kernel works on the current one (double buffering), and the fp32
 * online-softmax state is carried across steps, so O and LSE are rounded once, at the end.
 *
 * <p>Backward: K and V travel ahead as in the forward; the dK/dV accumulators of each block follow
 * one step behind, each rank adding its contribution in ring order, and finally return to the
 * block's owner; dQ stays home. The summation order is fixed, so results repeat bit for bit.
 *
 * <p>Ownership: borrows the transport and the kernel (the caller closes them after this object).
 * Transfer buffers are allocated once, by the first call, for the largest shard of that call.
 * Calls are collective (every rank makes the same sequence of calls) and not thread-safe.
 */
public final class RingAttention implements AutoCloseable {
    private final RingTransport transport;
    private final BlockKernel kernel;
    private final RingOptions options;
    private final RingAgreement agreement;
    private long capacityTokens = -1;
    private int kvHeads;
    private int headDim;
    private DType dtype;
    private int tag;
    private Tensor localDk;
    private Tensor localDv;
    private Tensor homeDk;
    private Tensor homeDv;

    public RingAttention(RingTransport transport, BlockKernel kernel, RingOptions options) {
        if (transport == null) {
            throw new IllegalArgumentException("transport: must not be null");
        }
        if (kernel == null) {
            throw new IllegalArgumentException("kernel: must not be null");
        }
        if (options == null) {
            throw new IllegalArgumentException("options: must not be null");
        }
        this.transport = transport;
        this.kernel = kernel;
        this.options = options;
        this.agreement = new RingAgreement(transport, options);
    }

    public RingOptions options() {
        return options;
    }

    /** The global positions of this rank's tokens for a sequence of {@code seqLen} tokens. */
    public Positions localPositions(int seqLen) {
        return options.layout().positions(transport.rank(), transport.worldSize(), seqLen);
    }

    /**
     * Forward pass over this rank's shards ({@code [shardTokens, heads, headDim]} for Q,
     * {@code [shardTokens, kvHeads, headDim]} for K and V, same dtype) of a global sequence of
     * {@code seqLen} tokens. Collective.
     */
    public ForwardResult forward(Tensor q, Tensor k, Tensor v, int seqLen) {
        long wallStart = System.nanoTime();
        RingPlan plan = agree("forward", q, k, v, null, seqLen);
        int rank = transport.rank();
        AttentionSpec spec = options.spec();
        // Blocks go reachForward ranks forward (buffers 0/1) and, with a two-way transport and a
        // window that needs later ranks too, reachBackward ranks backward (buffers 2/3).
        boolean twoWay = transport.reverseSupported() && plan.reachForward + plan.reachBackward < plan.steps - 1;
        int forwardSteps = twoWay ? plan.reachForward : plan.steps - 1;
        int backwardSteps = twoWay ? plan.reachBackward : 0;
        int n = 1 + forwardSteps + backwardSteps;
        long[] compute = new long[n];
        long[] wait = new long[n];
        long[] moved = new long[n];
        long[] bytes = new long[n];
        stageKv(k, v, transport.buffer(0));
        Arena arena = Arena.ofShared();
        try (ForwardPass pass = kernel.beginForward(q, plan.positions[rank], spec)) {
            for (int s = 0; s < n; s++) {
                // Step 0: the local block (buffer 0); steps 1..F: block r−s (buffers 0/1);
                // steps F+1..F+B: block r+t, t = s − F (buffers 2/3).
                boolean back = s > forwardSteps;
                int t = s - forwardSteps;
                int o = back ? plan.originBackward(rank, t) : plan.origin(rank, s);
                int index = back ? 2 + (t - 1) % 2 : s % 2;
                Transfer[] posted = new Transfer[4];
                long postedAt = System.nanoTime();
                int step = tag++;
                if (!back && s < forwardSteps) {
                    int next = plan.origin(rank, s + 1);
                    posted[0] = transport.receiveFromPrevious((s + 1) % 2, kvBytes(plan, next), step);
                    posted[1] = transport.sendToNext(s % 2, kvBytes(plan, o), step);
                    bytes[s] += kvBytes(plan, next);
                }
                if (backwardSteps > 0 && (s == 0 || (back && t < backwardSteps))) {
                    int distance = s == 0 ? 0 : t;
                    int next = plan.originBackward(rank, distance + 1);
                    posted[2] = transport.receiveFromNext(2 + distance % 2, kvBytes(plan, next), step);
                    posted[3] = transport.sendToPrevious(index, kvBytes(plan, o), step);
                    bytes[s] += kvBytes(plan, next);
                }
                long t0 = System.nanoTime();
                int tokens = plan.positions[o].size();
                MemorySegment buf = transport.buffer(index);
                pass.update(kvView(buf, tokens, 0), kvView(buf, tokens, 1), plan.positions[o]);
                long t1 = System.nanoTime();
                moved[s] = awaitAll(postedAt, posted);
                compute[s] = t1 - t0;
                wait[s] = System.nanoTime() - t1;
            }
            MemorySegment lse = arena.allocate(Math.max(4, (long) q.tokens() * q.heads() * 4), 64);
            Tensor out = Tensor.allocate(q.tokens(), q.heads(), q.headDim(), q.dtype());
            pass.finish(out, lse);
            RingStats stats = new RingStats(compute, wait, moved, bytes, System.nanoTime() - wallStart);
            return new ForwardResult(out, arena, lse, stats);
        } catch (RuntimeException | Error e) {
            arena.close();
            abortPeers(e);
            throw e;
        }
    }

    /** A local failure mid-pass: tell the other ranks at once instead of letting them time out. */
    private void abortPeers(Throwable e) {
        if (!(e instanceof TransportException)) {
            transport.abort(e);
        }
    }

    /**
     * Backward pass: from this rank's shards of Q, K, V, its forward result and the gradient of O,
     * the gradients dQ, dK, dV of its shards (dtypes of Q, K and V). Collective.
     */
    public Gradients backward(Tensor q, Tensor k, Tensor v, ForwardResult fwd, Tensor dOut, int seqLen) {
        long wallStart = System.nanoTime();
        if (fwd == null) {
            throw new IllegalArgumentException("fwd: must not be null");
        }
        RingPlan plan = agree("backward", q, k, v, dOut, seqLen);
        int rank = transport.rank();
        int world = transport.worldSize();
        AttentionSpec spec = options.spec();
        // As in the forward: a leg in which blocks go forward (with the local block), and with a
        // two-way transport a second leg in which they go backward.
        boolean twoWay = transport.reverseSupported() && plan.reachForward + plan.reachBackward < plan.steps - 1;
        int n = twoWay ? plan.reachForward + 1 : plan.steps;
        int backLeg = twoWay ? plan.reachBackward : 0;
        // The last accumulator of each block sits n-1 ranks after its owner: it goes home forward
        // (P-n+1 hops) or, when the transport can, backward (n-1 hops: with a window, the short way).
        boolean reverse = transport.reverseSupported() && n - 1 < (world - n + 1) % world;
        int hops = reverse ? 0 : (world - n + 1) % world;
        long[] compute = new long[n + backLeg];
        long[] wait = new long[n + backLeg];
        long[] moved = new long[n + backLeg];
        long[] bytes = new long[n + backLeg];
        long[] accPosted = new long[2];
        int[] accStep = new int[2];
        stageKv(k, v, transport.buffer(0));
        int base = tag;
        tag += 2 * (n + hops) + 2 + (reverse ? n : 0);
        Transfer[] accSends = new Transfer[2];
        try (BackwardPass pass = kernel.beginBackward(q, plan.positions[rank], fwd.out(), dOut, fwd.lse(), spec)) {
            // This rank's own contributions to its dK/dV stay home (homeDk/homeDv); every other
            // block's accumulator starts at its first visitor and follows the K/V one step behind.
            Tensor sumDk = homeDk.tokens(0, k.tokens());
            Tensor sumDv = homeDv.tokens(0, v.tokens());
            for (int s = 0; s < n; s++) {
                int o = plan.origin(rank, s);
                int tokens = plan.positions[o].size();
                int accIndex = 2 + s % 2;
                awaitAndClear(accSends, s % 2, accPosted, accStep, moved);
                Transfer accRecv = s > 1 ? transport.receiveFromPrevious(accIndex, gradBytes(plan, o), base + 2 * s - 1) : null;
                Transfer kvSend = null;
                Transfer kvRecv = null;
                long posted = System.nanoTime();
                if (s < n - 1) {
                    int next = plan.origin(rank, s + 1);
                    kvRecv = transport.receiveFromPrevious((s + 1) % 2, kvBytes(plan, next), base + 2 * s);
                    kvSend = transport.sendToNext(s % 2, kvBytes(plan, o), base + 2 * s);
                    bytes[s] += kvBytes(plan, next);
                }
                long t0 = System.nanoTime();
                Tensor dk = s == 0 ? sumDk : localDk.tokens(0, tokens);
                Tensor dv = s == 0 ? sumDv : localDv.tokens(0, tokens);
                dk.zero();
                dv.zero();
                MemorySegment buf = transport.buffer(s % 2);
                pass.update(kvView(buf, tokens, 0), kvView(buf, tokens, 1), plan.positions[o], dk, dv);
                long waited = 0;
                if (s > 0) {
                    waited += addContribution(accRecv, transport.buffer(accIndex), dk, dv);
                    if (s < n - 1 || hops > 0) {
                        accPosted[s % 2] = System.nanoTime();
                        accStep[s % 2] = s;
                        accSends[s % 2] = transport.sendToNext(accIndex, gradBytes(plan, o), base + 2 * s + 1);
                        bytes[s] += gradBytes(plan, o);
                    }
                }
                long t3 = System.nanoTime();
                if (kvSend != null) {
                    kvSend.await(options.timeout());
                    kvRecv.await(options.timeout());
                    moved[s] += took(posted, kvSend, kvRecv);
                }
                long t4 = System.nanoTime();
                wait[s] = waited + (t4 - t3);
                compute[s] = (t4 - t0) - wait[s];
            }
            if (n > 1) {
                int homeIndex = 2 + (n - 1) % 2;
                for (int j = 1; j <= hops; j++) {
                    int vs = n - 1 + j;
                    int o = plan.origin(rank, vs);
                    int index = 2 + vs % 2;
                    awaitAndClear(accSends, vs % 2, accPosted, accStep, moved);
                    Transfer in = transport.receiveFromPrevious(index, gradBytes(plan, o), base + 2 * vs - 1);
                    in.await(options.timeout());
                    if (j < hops) {
                        accSends[vs % 2] = transport.sendToNext(index, gradBytes(plan, o), base + 2 * vs + 1);
                    }
                    homeIndex = index;
                }
                awaitAndClear(accSends, 0, accPosted, accStep, moved);
                awaitAndClear(accSends, 1, accPosted, accStep, moved);
                if (reverse) {
                    homeIndex = sendHomeBackward(plan, n, homeIndex, base + 2 * (n + hops) + 2, wait, moved, bytes);
                }
                addHome(transport.buffer(homeIndex), sumDk, sumDv);
            }
            if (backLeg > 0) {
                addHome(transport.buffer(backwardLeg(plan, pass, k, v, n, compute, wait, moved, bytes)), sumDk, sumDv);
            }
            Tensor dq = Tensor.allocate(q.tokens(), q.heads(), q.headDim(), q.dtype());
            Tensor dkOut = Tensor.allocate(k.tokens(), k.heads(), k.headDim(), k.dtype());
            Tensor dvOut = Tensor.allocate(v.tokens(), v.heads(), v.headDim(), v.dtype());
            pass.finish(dq);
            dkOut.copyFrom(sumDk);
            dvOut.copyFrom(sumDv);
            RingStats stats = new RingStats(compute, wait, moved, bytes, System.nanoTime() - wallStart);
            return new Gradients(dq, dkOut, dvOut, stats);
        } catch (RuntimeException | Error e) {
            abortPeers(e);
            throw e;
        }
    }

    /**
     * The backward pass's second leg (two-way transports): the K/V blocks of the next
     * {@code reachBackward} ranks come backward, each rank adds its contributions to their dK/dV
     * accumulators, which follow one step behind and finally go forward to their owners. Stats go
     * to entries {@code at, at+1, …}. Returns the buffer holding this rank's accumulated gradients.
     */
    private int backwardLeg(RingPlan plan, BackwardPass pass, Tensor k, Tensor v, int at,
                            long[] compute, long[] wait, long[] moved, long[] bytes) {
        int rank = transport.rank();
        int legSteps = plan.reachBackward;
        AttentionSpec spec = options.spec();
        int base = tag;
        tag += 4 * legSteps + 8;
        stageKv(k, v, transport.buffer(0));
        Transfer[] accSends = new Transfer[2];
        for (int t = 0; t <= legSteps; t++) {
            int o = plan.originBackward(rank, t);
            int tokens = plan.positions[o].size();
            int slot = Math.max(0, t - 1) + at;
            long posted = System.nanoTime();
            Transfer kvSend = null;
            Transfer kvRecv = null;
            if (t < legSteps) {
                int next = plan.originBackward(rank, t + 1);
                kvRecv = transport.receiveFromNext((t + 1) % 2, kvBytes(plan, next), base + 3 * t);
                kvSend = transport.sendToPrevious(t % 2, kvBytes(plan, o), base + 3 * t);
                bytes[slot] += kvBytes(plan, next);
            }
            long waited = 0;
            long t0 = System.nanoTime();
            if (t >= 1) {
                int accIndex = 2 + t % 2;
                if (accSends[t % 2] != null) {
                    accSends[t % 2].await(options.timeout());
                    accSends[t % 2] = null;
                }
                Transfer accRecv = t >= 2 ? transport.receiveFromNext(accIndex, gradBytes(plan, o), base + 3 * t + 1) : null;
                Tensor dk = localDk.tokens(0, tokens);
                Tensor dv = localDv.tokens(0, tokens);
                dk.zero();
                dv.zero();
                MemorySegment buf = transport.buffer(t % 2);
                pass.update(kvView(buf, tokens, 0), kvView(buf, tokens, 1), plan.positions[o], dk, dv);
                waited += addContribution(accRecv, transport.buffer(accIndex), dk, dv);
                if (t < legSteps) {
                    accSends[t % 2] = transport.sendToPrevious(accIndex, gradBytes(plan, o), base + 3 * (t + 1) + 1);
                    bytes[slot] += gradBytes(plan, o);
                }
            }
            long t3 = System.nanoTime();
            if (kvSend != null) {
                kvSend.await(options.timeout());
                kvRecv.await(options.timeout());
                moved[slot] += took(posted, kvSend, kvRecv);
            }
            long t4 = System.nanoTime();
            wait[slot] += waited + (t4 - t3);
            compute[slot] += (t4 - t0) - waited - (t4 - t3);
        }
        for (int i = 0; i < 2; i++) {
            if (accSends[i] != null) {
                accSends[i].await(options.timeout());
            }
        }
        // Rank r holds the finished accumulator of block r + legSteps: forward, legSteps hops, home.
        int holding = 2 + legSteps % 2;
        for (int j = 1; j <= legSteps; j++) {
            int free = holding == 2 ? 3 : 2;
            int arriving = plan.originBackward(rank, legSteps - j);
            int leaving = plan.originBackward(rank, legSteps - j + 1);
            long postedAt = System.nanoTime();
            Transfer in = transport.receiveFromPrevious(free, gradBytes(plan, arriving), base + 3 * (legSteps + 2) + j);
            Transfer out = transport.sendToNext(holding, gradBytes(plan, leaving), base + 3 * (legSteps + 2) + j);
            out.await(options.timeout());
            in.await(options.timeout());
            long took = System.nanoTime() - postedAt;
            wait[at + legSteps - 1] += took;
            moved[at + legSteps - 1] += took;
            bytes[at + legSteps - 1] += gradBytes(plan, leaving);
            holding = free;
        }
        return holding;
    }

    /**
     * Moves every rank's finished dK/dV accumulator n−1 ranks backward, to the block's owner: at hop
     * j, rank r receives block r−(n−1)+j from the next rank and sends what it held to the previous
     * one. Returns the buffer index that ends up holding this rank's own gradients. Its time and bytes
     * count to the last step (nothing overlaps them: they are all exposed).
     */
    private int sendHomeBackward(RingPlan plan, int n, int holding, int firstStep, long[] wait, long[] moved, long[] bytes) {
        int rank = transport.rank();
        for (int j = 1; j <= n - 1; j++) {
            int free = holding == 2 ? 3 : 2;
            int arriving = plan.origin(rank, n - 1 - j);
            int leaving = plan.origin(rank, n - j);
            long posted = System.nanoTime();
            Transfer in = transport.receiveFromNext(free, gradBytes(plan, arriving), firstStep + j);
            Transfer out = transport.sendToPrevious(holding, gradBytes(plan, leaving), firstStep + j);
            out.await(options.timeout());
            in.await(options.timeout());
            long took = System.nanoTime() - posted;
            wait[n - 1] += took;
            moved[n - 1] += took;
            bytes[n - 1] += gradBytes(plan, leaving);
            holding = free;
        }
        return holding;
    }

    /** Awaits the accumulator send in slot {@code i}, charging its duration to the step that posted it. */
    private void awaitAndClear(Transfer[] sends, int i, long[] posted, int[] step, long[] moved) {
        if (sends[i] != null) {
            sends[i].await(options.timeout());
            if (step[i] < moved.length) {
                moved[step[i]] += took(posted[i], sends[i]);
            }
            sends[i] = null;
        }
    }

    /**
     * Adds this rank's dK/dV contribution to a block's accumulator buffer (dK then dV, fp32): onto
     * the one arriving through {@code accRecv}, or as its first term when that is null. Returns the
     * nanoseconds spent waiting for the arrival.
     */
    private long addContribution(Transfer accRecv, MemorySegment acc, Tensor dk, Tensor dv) {
        long half = dk.segment().byteSize();
        if (accRecv == null) {
            MemorySegment.copy(dk.segment(), 0, acc, 0, half);
            MemorySegment.copy(dv.segment(), 0, acc, half, half);
            return 0;
        }
        long w0 = System.nanoTime();
        accRecv.await(options.timeout());
        long waited = System.nanoTime() - w0;
        addInto(acc, 0, dk.segment());
        addInto(acc, half, dv.segment());
        return waited;
    }

    /** Adds the dK/dV accumulator in {@code buffer} (dK then dV, fp32) to this rank's sums. */
    private static void addHome(MemorySegment buffer, Tensor sumDk, Tensor sumDv) {
        long half = sumDk.segment().byteSize();
        addInto(sumDk.segment(), 0, buffer.asSlice(0, half));
        addInto(sumDv.segment(), 0, buffer.asSlice(half, half));
    }

    /** Awaits the non-null transfers; how long they took (0 when there were none). */
    private long awaitAll(long postedAt, Transfer... transfers) {
        long done = -1;
        for (Transfer t : transfers) {
            if (t != null) {
                t.await(options.timeout());
                long at = t.completedNanos();
                done = Math.max(done, at < 0 ? System.nanoTime() : at);
            }
        }
        return done < 0 ? 0 : Math.max(0, done - postedAt);
    }

    /** How long transfers posted at {@code posted} took: until the last completed (now if unknown). */
    private static long took(long posted, Transfer... transfers) {
        long done = 0;
        for (Transfer t : transfers) {
            long at = t.completedNanos();
            done = Math.max(done, at < 0 ? System.nanoTime() : at);
        }
        return Math.max(0, done - posted);
    }

    private static void addInto(MemorySegment acc, long offsetBytes, MemorySegment local) {
        long n = local.byteSize() / 4;
        for (long i = 0; i < n; i++) {
            long at = offsetBytes + i * 4;
            acc.set(ValueLayout.JAVA_FLOAT, at, acc.get(ValueLayout.JAVA_FLOAT, at) + local.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        }
    }

    private long kvBytes(RingPlan plan, int rank) {
        return 2L * plan.positions[rank].size() * kvHeads * headDim * dtype.byteSize();
    }

    private long gradBytes(RingPlan plan, int rank) {
        return 2L * plan.positions[rank].size() * kvHeads * headDim * 4;
    }

    private Tensor kvView(MemorySegment buf, int tokens, int which) {
        long bytes = (long) tokens * kvHeads * headDim * dtype.byteSize();
        return Tensor.wrap(buf.asSlice(which * bytes, bytes), tokens, kvHeads, headDim, dtype);
    }

    private void stageKv(Tensor k, Tensor v, MemorySegment buf) {
        long bytes = k.segment().byteSize();
        MemorySegment.copy(k.segment(), 0, buf, 0, bytes);
        MemorySegment.copy(v.segment(), 0, buf, bytes, bytes);
    }

    /** Agrees on the pass with every rank, then sizes the buffers (first call) or checks they fit. */
    private RingPlan agree(String pass, Tensor q, Tensor k, Tensor v, Tensor dOut, int seqLen) {
        RingPlan plan = agreement.agree(pass, q, k, v, dOut, seqLen);
        ensureBuffers(plan, k);
        return plan;
    }

    private void ensureBuffers(RingPlan plan, Tensor k) {
        if (capacityTokens < 0) {
            kvHeads = k.heads();
            headDim = k.headDim();
            dtype = k.dtype();
            capacityTokens = plan.maxShard;
            long kv = 2L * capacityTokens * kvHeads * headDim * dtype.byteSize();
            long grad = 2L * capacityTokens * kvHeads * headDim * 4;
            transport.allocateBuffers(4, Math.max(kv, grad));
            localDk = Tensor.allocate((int) capacityTokens, kvHeads, headDim, DType.F32);
            localDv = Tensor.allocate((int) capacityTokens, kvHeads, headDim, DType.F32);
            homeDk = Tensor.allocate((int) capacityTokens, kvHeads, headDim, DType.F32);
            homeDv = Tensor.allocate((int) capacityTokens, kvHeads, headDim, DType.F32);
        } else if (plan.maxShard > capacityTokens || k.heads() != kvHeads || k.headDim() != headDim || k.dtype() != dtype) {
            throw new TransportException("k: shape " + k.shapeString() + " / shard " + plan.maxShard
                    + " exceeds the buffers this ring allocated on its first call (" + capacityTokens + " tokens, "
                    + kvHeads + " K/V heads, headDim " + headDim + ", " + dtype + "); use a new transport");
        }
    }

    /** Frees this object's scratch; the transport and kernel stay open (the caller owns them). */
    @Override
    public void close() {
        if (localDk != null) {
            localDk.close();
            localDv.close();
            homeDk.close();
            homeDv.close();
        }
    }
}
