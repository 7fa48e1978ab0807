package ringattn.engine.ring;

import java.util.ArrayList;
import java.util.List;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.Positions;
import ringattn.engine.kernel.TileVisibility;

/**
 * What every rank knows about a pass without talking: the global positions of every shard, and how
 * many ring steps are needed — a K/V block travels only as far as some query can still see it, so
 * with a sliding window (or documents) communication scales with the window, not the sequence.
 * Immutable.
 */
final class RingPlan {
    private static final int MAX_RUNS = 8;

    final int worldSize;
    final int seqLen;
    final Positions[] positions;
    final int steps;
    final int maxShard;
    /**
     * For a transport that moves data both ways: blocks go {@code reachForward} ranks forward and
     * {@code reachBackward} ranks backward (a non-causal window needs both neighbours, not the
     * whole ring). {@code reachForward = steps − 1, reachBackward = 0} when that is no better.
     */
    final int reachForward;
    final int reachBackward;
    private static final int MAX_TWO_WAY_RANKS = 256;

    RingPlan(int worldSize, int seqLen, ShardLayout layout, AttentionSpec spec) {
        this.worldSize = worldSize;
        this.seqLen = seqLen;
        this.positions = new Positions[worldSize];
        int max = 0;
        for (int r = 0; r < worldSize; r++) {
            positions[r] = layout.positions(r, worldSize, seqLen);
            max = Math.max(max, positions[r].size());
        }
        this.maxShard = max;
        this.steps = stepsNeeded(spec);
        int[] reach = twoWayReach(spec);
        this.reachForward = reach[0];
        this.reachBackward = reach[1];
    }

    /** The rank whose block rank {@code rank} holds {@code distance} steps into the backward leg. */
    int originBackward(int rank, int distance) {
        return Math.floorMod(rank + distance, worldSize);
    }

    /** The cheapest (forward, backward) reach that brings every block to every rank that sees it. */
    private int[] twoWayReach(AttentionSpec spec) {
        if (worldSize == 1 || steps == 1 || worldSize > MAX_TWO_WAY_RANKS) {
            return new int[] {steps - 1, 0};
        }
        List<int[]>[] runs = runs();
        boolean[][] needs = new boolean[worldSize][worldSize]; // [r][d]: r sees the block of r − d
        for (int r = 0; r < worldSize; r++) {
            for (int d = 1; d < worldSize; d++) {
                needs[r][d] = sees(spec, runs[r], runs[Math.floorMod(r - d, worldSize)]);
            }
        }
        int bestForward = steps - 1;
        int bestBackward = 0;
        for (int forward = 0; forward < steps - 1; forward++) {
            int backward = 0;
            for (int r = 0; r < worldSize; r++) {
                for (int d = forward + 1; d < worldSize; d++) {
                    if (needs[r][d]) {
                        backward = Math.max(backward, worldSize - d);
                    }
                }
            }
            if (forward + backward < bestForward + bestBackward) {
                bestForward = forward;
                bestBackward = backward;
            }
        }
        return new int[] {bestForward, bestBackward};
    }

    /** The rank whose block rank {@code rank} holds at step {@code step}. */
    int origin(int rank, int step) {
        return Math.floorMod(rank - step, worldSize);
    }

    private int stepsNeeded(AttentionSpec spec) {
        if (worldSize == 1) {
            return 1;
        }
        List<int[]>[] runs = runs();
        int needed = 1;
        for (int r = 0; r < worldSize; r++) {
            for (int d = worldSize - 1; d >= needed; d--) {
                int o = Math.floorMod(r - d, worldSize);
                if (sees(spec, runs[r], runs[o])) {
                    needed = d + 1;
                    break;
                }
            }
        }
        return needed;
    }

    private static boolean sees(AttentionSpec spec, List<int[]> queries, List<int[]> keys) {
        for (int[] q : queries) {
            for (int[] k : keys) {
                if (spec.classify(q[0], q[1], spec.documentOf(q[0]), spec.documentOf(q[1]),
                        k[0], k[1], spec.documentOf(k[0]), spec.documentOf(k[1])) != TileVisibility.HIDDEN) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Each shard as a few [first, last] runs (one span when it has many runs). */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private List<int[]>[] runs() {
        List<int[]>[] out = new List[worldSize];
        for (int r = 0; r < worldSize; r++) {
            Positions p = positions[r];
            List<int[]> list = new ArrayList<>();
            if (p.size() > 0) {
                int start = p.get(0);
                for (int i = 1; i <= p.size(); i++) {
                    if (i == p.size() || p.get(i) != p.get(i - 1) + 1) {
                        list.add(new int[] {start, p.get(i - 1)});
                        if (i < p.size()) {
                            start = p.get(i);
                        }
                    }
                }
                if (list.size() > MAX_RUNS) {
                    list = List.of(new int[] {p.first(), p.last()});
                }
            }
            out[r] = list;
        }
        return out;
    }
}
