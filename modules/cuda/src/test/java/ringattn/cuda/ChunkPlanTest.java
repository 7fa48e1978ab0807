package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.Positions;

/** How CublasKernel splits a block into query chunks and skips hidden key tiles (no GPU needed). */
class ChunkPlanTest {
    private static List<CublasKernel.Chunk> plan(Positions q, Positions k, AttentionSpec spec, int keyTile,
                                                int maxRows) {
        return CublasKernel.plan(q, spec.documentsOf(q), k, spec.documentsOf(k), spec, 4, keyTile, maxRows,
                Long.MAX_VALUE);
    }

    @Test
    void unmaskedIsOneChunkPerRowRunOverAllKeys() {
        var chunks = plan(Positions.range(0, 100), Positions.range(0, 300), AttentionSpec.of(64), 64, 1024);
        assertEquals(List.of(new CublasKernel.Chunk(0, 100, 0, 300)), chunks);
    }

    @Test
    void causalDiagonalSkipsTheUpperTriangleByChunk() {
        var chunks = plan(Positions.range(0, 256), Positions.range(0, 256), AttentionSpec.of(64).withCausal(true), 64, 64);
        assertEquals(List.of(new CublasKernel.Chunk(0, 64, 0, 64), new CublasKernel.Chunk(64, 128, 0, 128),
                new CublasKernel.Chunk(128, 192, 0, 192), new CublasKernel.Chunk(192, 256, 0, 256)), chunks);
    }

    @Test
    void hiddenBlockHasNoChunks() {
        var spec = AttentionSpec.of(64).withCausal(true);
        assertTrue(plan(Positions.range(0, 64), Positions.range(64, 64), spec, 32, 1024).isEmpty());
        var docs = AttentionSpec.of(64).withDocuments(new long[] {0, 64, 128});
        assertTrue(plan(Positions.range(0, 64), Positions.range(64, 64), docs, 32, 1024).isEmpty());
    }

    @Test
    void windowTrimsKeysOnBothSides() {
        var spec = AttentionSpec.of(64).withCausal(true).withWindow(16);
        var chunks = plan(Positions.range(512, 32), Positions.range(0, 1024), spec, 32, 1024);
        // queries 512..543 see keys 497..543: key tiles [480, 512) and [512, 544)
        assertEquals(List.of(new CublasKernel.Chunk(0, 32, 480, 544)), chunks);
    }

    @Test
    void earlyRowsThatSeeNothingAreLeftOut() {
        var spec = AttentionSpec.of(64).withCausal(true);
        var chunks = plan(Positions.range(0, 128), Positions.range(64, 64), spec, 32, 32);
        assertEquals(List.of(new CublasKernel.Chunk(64, 96, 0, 32), new CublasKernel.Chunk(96, 128, 0, 64)), chunks);
    }

    @Test
    void scoreBudgetLimitsChunkRows() {
        var q = Positions.range(0, 100);
        var k = Positions.range(0, 1000);
        var spec = AttentionSpec.of(64);
        // 4 heads · 1000 keys · 4 bytes = 16000 bytes per row; 40000 bytes → 2 rows per chunk
        var chunks = CublasKernel.plan(q, spec.documentsOf(q), k, spec.documentsOf(k), spec, 4, 256, 1024, 40_000);
        assertEquals(50, chunks.size());
        assertEquals(new CublasKernel.Chunk(0, 2, 0, 1000), chunks.get(0));
    }
}
