package ringattn.engine.kernel;

/** How a mask treats a tile of (query rows × key rows): all hidden, all visible, or cut. */
public enum TileVisibility {
    /** No query in the tile sees any key in it: skip without touching memory. */
    HIDDEN,
    /** Every query sees every key: no per-element mask needed. */
    VISIBLE,
    /** The mask cuts the tile: evaluate it per element. */
    PARTIAL
}
