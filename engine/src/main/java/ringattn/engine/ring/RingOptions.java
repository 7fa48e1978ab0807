package ringattn.engine.ring;

import java.time.Duration;
import ringattn.engine.kernel.AttentionSpec;

/**
 * Options of a ring: the attention spec (scale, causal, window, documents), the sharding layout, the
 * bound on any wait (rank-failure detection), the least size of the transport's slots in bytes
 * (the ring sizes them for its largest K/V block; a caller that reuses them after the ring, as the
 * decoder does for its reductions, may need more), and whether the ring will run backward passes
 * (when not, it allocates only what forward passes use: two transfer slots instead of four on a
 * one-way ring, sized for K/V rather than fp32 gradients, and no gradient scratch). Immutable.
 *
 * @param backwardPasses whether {@link RingAttention#backward} may be called (default true); false
 *                       makes it fail on every rank with an {@link IllegalArgumentException} naming
 *                       the option (ranks that disagree on it fail alike, before any data moves)
 */
public record RingOptions(AttentionSpec spec, ShardLayout layout, Duration timeout, long minSlotBytes,
                          boolean backwardPasses) {
    public RingOptions(AttentionSpec spec, ShardLayout layout, Duration timeout) {
        this(spec, layout, timeout, 0, true);
    }

    /** Options for a ring that may run backward passes. */
    public RingOptions(AttentionSpec spec, ShardLayout layout, Duration timeout, long minSlotBytes) {
        this(spec, layout, timeout, minSlotBytes, true);
    }

    public RingOptions {
        if (minSlotBytes < 0) {
            throw new IllegalArgumentException("minSlotBytes: must be >= 0, got " + minSlotBytes);
        }
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
        return new RingOptions(spec, newLayout, timeout, minSlotBytes, backwardPasses);
    }

    public RingOptions withTimeout(Duration newTimeout) {
        return new RingOptions(spec, layout, newTimeout, minSlotBytes, backwardPasses);
    }

    /** The same options with the transport's slots at least {@code bytes} long. */
    public RingOptions withMinSlotBytes(long bytes) {
        return new RingOptions(spec, layout, timeout, bytes, backwardPasses);
    }

    /** The same options for a ring that runs forward passes only (see the class comment). */
    public RingOptions forwardOnly() {
        return new RingOptions(spec, layout, timeout, minSlotBytes, false);
    }
}
