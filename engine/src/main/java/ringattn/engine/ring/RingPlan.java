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
    private final AttentionSpec spec;
    /** The spec's document offsets (null without documents), copied once. */
    private final long[] cuSeqlens;
    /** Each shard as a few [first, last] runs ({@link #runs()}). */
    private final List<int[]>[] runs;
    /** Whether each shard's positions ascend (only then can its travelling rows be found by search). */
    private final boolean[] ascending;
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
        this.runs = runs();
        this.ascending = new boolean[worldSize];
        for (int r = 0; r < worldSize; r++) {
            ascending[r] = ascending(positions[r]);
        }
        this.steps = stepsNeeded(spec);
        this.spec = spec;
        this.cuSeqlens = spec.cuSeqlens();
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

    /**
     * The rows of each rank's block that travel {@code direction} when blocks go {@code hops} hops
     * that way: for each block, the hull of the rows that a query of one of the ranks it reaches can
     * see. For a run of queries {@code [qf, ql]} the visible keys lie in {@code [qf − W + 1, ql]}
     * (causal, window W), {@code [qf − W + 1, ql + W − 1]} (two-sided window), and within the
     * documents of {@code qf} and {@code ql}; a shard whose positions do not ascend travels whole.
     */
    Route route(Direction direction, int hops) {
        int[][] rows = new int[worldSize][];
        Positions[] travelling = new Positions[worldSize];
        for (int o = 0; o < worldSize; o++) {
            rows[o] = travellingRows(o, direction, hops);
            travelling[o] = positions[o].slice(rows[o][0], rows[o][1] - rows[o][0]);
        }
        return new Route(rows, travelling);
    }

    private int[] travellingRows(int o, Direction direction, int hops) {
        Positions keys = positions[o];
        int n = keys.size();
        if (hops == 0 || n == 0) {
            return new int[] {0, 0};
        }
        if (!ascending[o]) {
            return new int[] {0, n};
        }
        long[] cu = cuSeqlens;
        long w = spec.window();
        int from = n;
        int to = 0;
        for (int d = 1; d <= Math.min(hops, worldSize - 1) && (from > 0 || to < n); d++) {
            // the rank that holds o's block d hops on
            int r = Math.floorMod(direction == Direction.TO_NEXT ? o + d : o - d, worldSize);
            for (int[] run : runs[r]) {
                long lo = Long.MIN_VALUE;
                long hi = Long.MAX_VALUE;
                if (w > 0) {
                    lo = run[0] - w + 1;
                    hi = spec.causal() ? hi : run[1] + w - 1;
                }
                if (spec.causal()) {
                    hi = Math.min(hi, run[1]);
                }
                if (cu != null) {
                    lo = Math.max(lo, cu[spec.documentOf(run[0])]);
                    hi = Math.min(hi, cu[spec.documentOf(run[1]) + 1] - 1);
                }
                int a = firstAtLeast(keys, lo);
                int b = hi == Long.MAX_VALUE ? n : firstAtLeast(keys, hi + 1);
                if (a < b) {
                    from = Math.min(from, a);
                    to = Math.max(to, b);
                }
            }
        }
        return from < to ? new int[] {from, to} : new int[] {0, 0};
    }

    private static boolean ascending(Positions p) {
        for (int i = 1; i < p.size(); i++) {
            if (p.get(i) <= p.get(i - 1)) {
                return false;
            }
        }
        return true;
    }

    /** The first index of ascending {@code p} whose position is at least {@code x} ({@code p.size()} when none). */
    private static int firstAtLeast(Positions p, long x) {
        int lo = 0;
        int hi = p.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (p.get(mid) < x) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
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
