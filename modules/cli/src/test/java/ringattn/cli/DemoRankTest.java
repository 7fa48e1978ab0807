package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import ringattn.engine.kernel.Positions;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

class DemoRankTest {
    static DemoJob job(boolean causal, int window, int seq) {
        return new DemoJob(2, seq, 2, 1, 8, causal, window, DType.F32, 7, 1, -1, ShardLayout.CONTIGUOUS,
                Duration.ofSeconds(10), 1, "cpu");
    }

    /** The chunked fp64 reference equals one ReferenceAttention call over all keys (to fp64 rounding). */
    @Test
    void chunkedReferenceMatchesTheWholeSequenceReference() {
        for (DemoJob job : new DemoJob[] {job(true, 0, 53), job(false, 0, 53), job(true, 5, 53), job(false, 9, 53)}) {
            Positions qPos = Positions.of(0, 3, 17, 30, 52);
            Positions all = Positions.range(0, job.seqLen());
            try (Tensor qs = DemoInputs.rows(job.seed(), DemoInputs.Q, qPos, job.heads(), job.headDim(), job.dtype());
                 Tensor k = DemoInputs.rows(job.seed(), DemoInputs.K, all, job.kvHeads(), job.headDim(), job.dtype());
                 Tensor v = DemoInputs.rows(job.seed(), DemoInputs.V, all, job.kvHeads(), job.headDim(), job.dtype())) {
                ReferenceAttention.Result whole = ReferenceAttention.forward(qs, qPos, k, v, all, job.spec());
                double[][] chunked = DemoRank.reference(job, qs, qPos, 7);
                assertArrayEquals(whole.out(), chunked[0], 1e-12, job.spec().toString());
                assertArrayEquals(whole.lse(), chunked[1], 1e-12, job.spec().toString());
            }
        }
    }

    /** A rank's rows depend only on the seed and global positions, so shards agree with the whole. */
    @Test
    void inputsDependOnlyOnSeedAndPosition() {
        try (Tensor whole = DemoInputs.rows(3, DemoInputs.K, Positions.range(0, 10), 2, 4, DType.F32);
             Tensor part = DemoInputs.rows(3, DemoInputs.K, Positions.of(4, 7), 2, 4, DType.F32)) {
            for (int d = 0; d < 4; d++) {
                assertEquals(whole.get(7, 1, d), part.get(1, 1, d));
            }
            float v = whole.get(0, 0, 0);
            assertTrue(v >= -1 && v < 1);
        }
        assertArrayEquals(DemoInputs.checkedRows(1, 5000, 64, 2048), DemoInputs.checkedRows(1, 5000, 64, 2048));
        assertEquals(64, DemoInputs.checkedRows(1, 5000, 64, 2048).length);
        assertEquals(100, DemoInputs.checkedRows(1, 100, 64, 2048).length, "every row of a short sequence");
    }
}
