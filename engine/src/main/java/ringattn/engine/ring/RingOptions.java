package ringattn.engine.ring;

import java.time.Duration;
import ringattn.engine.kernel.AttentionSpec;

/**
 * Options of a ring: the attention spec (scale, causal, window, documents), the sharding layout and
 * the bound on any wait (rank-failure detection). Immutable.
 */
public record RingOptions(AttentionSpec spec, ShardLayout layout, Duration timeout) {
    public RingOptions {
        if (spec == null) {
            throw new IllegalArgumentException("spec: must not be null");
        }
        if (layout == null) {
            throw new IllegalArgumentException("layout: must not be null");
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout: must be positive, got " + timeout);
        }
    }

    /**
     * The default layout for a spec: zigzag for causal attention without a window (every rank gets the
     * same work), contiguous otherwise (a window keeps blocks near their owners); 30 s timeout.
     */
    public static RingOptions defaults(AttentionSpec spec) {
        ShardLayout layout = spec.causal() && spec.window() == 0 ? ShardLayout.ZIGZAG : ShardLayout.CONTIGUOUS;
        return new RingOptions(spec, layout, Duration.ofSeconds(30));
    }

    public RingOptions withLayout(ShardLayout newLayout) {
        return new RingOptions(spec, newLayout, timeout);
    }

    public RingOptions withTimeout(Duration newTimeout) {
        return new RingOptions(spec, layout, newTimeout);
    }
}
