package ringattn.cli;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Map;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.ring.ForwardResult;
import ringattn.engine.ring.Gradients;
import ringattn.engine.ring.RingAttention;
import ringattn.engine.ring.RingOptions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.RingTransport;
import ringattn.io.ArrayData;
import ringattn.io.ElementType;
import ringattn.io.HeapHighWater;
import ringattn.io.PeakMemory;

/**
 * One rank of a {@code run}: copies its rows of the mapped inputs (float16 widened to float32,
 * bfloat16 kept), runs the forward (and backward) ring, and writes its rows of every output straight
 * into the output files' mappings, converting to the output's element type. Ranks write disjoint
 * bytes, so threads and processes can share the mappings. Stateless.
 */
public final class RunRank {
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private RunRank() {
    }

    /** Runs this rank's part; {@code outputs} maps logical output names to their read-write data. Collective. */
    public static RankReport run(RunJob job, Map<String, MemorySegment> outputs, RingTransport transport) {
        return run(job, outputs, transport, RingProgress.none());
    }

    /** As {@link #run(RunJob, Map, RingTransport)}, telling {@code progress} of every pass and ring step. */
    static RankReport run(RunJob job, Map<String, MemorySegment> outputs, RingTransport transport,
                          RingProgress progress) {
        int rank = transport.rank();
        RingOptions options = job.ringOptions();
        Positions mine = job.layout.positions(rank, job.ranks, job.seqLen);
        Devices.Selection device = Devices.select(job.device, KernelOptions.defaults(job.threads));
        try (BlockKernel kernel = progress.wrap(device.kernel());
             Tensor q = rows(job.q, mine);
             Tensor k = rows(job.k, mine);
             Tensor v = rows(job.v, mine);
             Tensor dOut = job.dOut == null ? null : rows(job.dOut, mine);
             RingAttention ring = new RingAttention(transport, kernel, options)) {
            transport.barrier(options.timeout());
            DemoRank.crashIfAsked(rank);
            int passes = dOut == null ? 1 : 2;
            progress.startPass("forward", 1, passes, 1);
            try (ForwardResult fwd = ring.forward(q, k, v, job.seqLen)) {
                long backwardNanos = 0;
                if (dOut != null) {
                    progress.startPass("backward", 2, passes, Flops.BACKWARD_FACTOR);
                    try (Gradients g = ring.backward(q, k, v, fwd, dOut, job.seqLen)) {
                        backwardNanos = g.stats().wallNanos();
                        writeRows(g.dq(), mine, outputs.get("dq"), job.q.type());
                        writeRows(g.dk(), mine, outputs.get("dk"), job.k.type());
                        writeRows(g.dv(), mine, outputs.get("dv"), job.v.type());
                    }
                }
                long peak = PeakMemory.highWaterBytes();
                long heapPeak = HeapHighWater.bytes();
                writeRows(fwd.out(), mine, outputs.get("out"), job.q.type());
                if (outputs.containsKey("lse")) {
                    writeLse(fwd, mine, job.seqLen, outputs.get("lse"));
                }
                for (MemorySegment s : outputs.values()) {
                    if (s.isMapped()) {
                        s.force(); // visible to other hosts on a shared filesystem before the barrier
                    }
                }
                var st = fwd.stats();
                return new RankReport(rank, ProcessHandle.current().pid(), transport.host(), st.wallNanos(), backwardNanos,
                        st.totalComputeNanos(), st.totalBytes(), st.hiddenFraction(), peak, heapPeak, 0, 0, 0, device.device());
            }
        }
    }

    /** A new tensor of the rows of {@code a} at {@code positions}; F16 becomes F32. Caller owns it. */
    static Tensor rows(ArrayData a, Positions positions) {
        long[] s = a.shape();
        int heads = (int) s[1];
        int headDim = (int) s[2];
        long rowElems = (long) heads * headDim;
        DType storage = a.type() == ElementType.BF16 ? DType.BF16 : DType.F32;
        Tensor t = Tensor.allocate(positions.size(), heads, headDim, storage);
        for (int i = 0; i < positions.size(); i++) {
            long src = positions.get(i) * rowElems;
            if (a.type() == ElementType.F16) {
                for (long e = 0; e < rowElems; e++) {
                    t.setFlat(i * rowElems + e, a.getFloat(src + e));
                }
            } else {
                long rowBytes = rowElems * storage.byteSize();
                MemorySegment.copy(a.data(), src * storage.byteSize(), t.segment(), i * rowBytes, rowBytes);
            }
        }
        return t;
    }

    /** Writes the rows of {@code shard} to their global rows in {@code dst} (element type {@code type}). */
    static void writeRows(Tensor shard, Positions positions, MemorySegment dst, ElementType type) {
        long rowElems = (long) shard.heads() * shard.headDim();
        for (int i = 0; i < positions.size(); i++) {
            long at = positions.get(i) * rowElems;
            boolean same = (type == ElementType.F32 && shard.dtype() == DType.F32)
                    || (type == ElementType.BF16 && shard.dtype() == DType.BF16);
            if (same) {
                long rowBytes = rowElems * type.byteSize();
                MemorySegment.copy(shard.segment(), i * rowBytes, dst, at * type.byteSize(), rowBytes);
                continue;
            }
            for (long e = 0; e < rowElems; e++) {
                float x = shard.getFlat(i * rowElems + e);
                switch (type) {
                    case F32 -> dst.setAtIndex(F32_LE, at + e, x);
                    case F16 -> dst.setAtIndex(I16_LE, at + e, Float.floatToFloat16(x));
                    case BF16 -> dst.setAtIndex(I16_LE, at + e, DType.floatToBf16(x));
                    default -> throw new IllegalStateException("output type " + type);
                }
            }
        }
    }

    /** Writes this rank's LSE columns into the global {@code [heads, S]} float32 array. */
    static void writeLse(ForwardResult fwd, Positions positions, int seqLen, MemorySegment dst) {
        int heads = fwd.out().heads();
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < positions.size(); i++) {
                dst.setAtIndex(F32_LE, (long) h * seqLen + positions.get(i), fwd.lse(h, i));
            }
        }
    }
}
