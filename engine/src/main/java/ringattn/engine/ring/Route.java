package ringattn.engine.ring;

import ringattn.engine.kernel.Positions;

/**
 * Which rows of each rank's block travel one way round the ring ({@link RingPlan#route}): rows
 * {@code [from, from + tokens)} of the block's shard, the hull of what the ranks it reaches can see.
 * Without a window or documents that is the whole shard; under a causal window of W tokens, the
 * shard's last W − 1 rows. Rows outside are hidden from every rank the block reaches, so leaving them
 * at home changes no result. Immutable.
 */
final class Route {
    private final int[][] rows;
    private final Positions[] positions;
    /** The most rows any block sends this way (what a transfer slot must hold). */
    final int most;

    Route(int[][] rows, Positions[] positions) {
        this.rows = rows;
        this.positions = positions;
        int m = 0;
        for (int[] r : rows) {
            m = Math.max(m, r[1] - r[0]);
        }
        this.most = m;
    }

    /** The first travelling row of rank {@code rank}'s shard. */
    int from(int rank) {
        return rows[rank][0];
    }

    /** How many rows of rank {@code rank}'s block travel. */
    int tokens(int rank) {
        return rows[rank][1] - rows[rank][0];
    }

    /** The global positions of rank {@code rank}'s travelling rows. */
    Positions positions(int rank) {
        return positions[rank];
    }
}
