package ringattn.engine.kernel;

import java.util.Arrays;

/**
 * The global token positions of the rows of a block, strictly increasing. Immutable and thread-safe.
 * Positions are token indices in the global sequence (elements, not bytes).
 */
public final class Positions {
    private static final Positions EMPTY = new Positions(new int[0], true);

    private final int[] positions;
    private final boolean contiguous;

    private Positions(int[] positions, boolean contiguous) {
        this.positions = positions;
        this.contiguous = contiguous;
    }

    /** Positions {@code start, start+1, …, start+count-1}. */
    public static Positions range(int start, int count) {
        if (start < 0 || count < 0 || (long) start + count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("positions: bad range start=" + start + " count=" + count);
        }
        if (count == 0) {
            return EMPTY;
        }
        int[] p = new int[count];
        for (int i = 0; i < count; i++) {
            p[i] = start + i;
        }
        return new Positions(p, true);
    }

    /** Positions from an array (copied); must be non-negative and strictly increasing. */
    public static Positions of(int... positions) {
        int[] p = positions.clone();
        boolean contiguous = true;
        for (int i = 0; i < p.length; i++) {
            if (p[i] < 0) {
                throw new IllegalArgumentException("positions[" + i + "]: must be >= 0, got " + p[i]);
            }
            if (i > 0 && p[i] <= p[i - 1]) {
                throw new IllegalArgumentException("positions: must be strictly increasing, got "
                        + p[i - 1] + " then " + p[i] + " at index " + i);
            }
            if (i > 0 && p[i] != p[i - 1] + 1) {
                contiguous = false;
            }
        }
        return new Positions(p, contiguous);
    }

    /** Concatenation of several position lists; the result must still be strictly increasing. */
    public static Positions concat(Positions... parts) {
        int n = 0;
        for (Positions part : parts) {
            n += part.size();
        }
        int[] p = new int[n];
        int at = 0;
        for (Positions part : parts) {
            System.arraycopy(part.positions, 0, p, at, part.size());
            at += part.size();
        }
        return of(p);
    }

    public int size() {
        return positions.length;
    }

    public int get(int index) {
        return positions[index];
    }

    /** Smallest position; undefined for an empty list. */
    public int first() {
        return positions[0];
    }

    /** Largest position; undefined for an empty list. */
    public int last() {
        return positions[positions.length - 1];
    }

    /** True when the positions form one run {@code first, first+1, …}. */
    public boolean isContiguous() {
        return contiguous;
    }

    /** Positions of rows {@code [from, from+count)}. */
    public Positions slice(int from, int count) {
        if (from == 0 && count == positions.length) {
            return this;
        }
        int[] p = Arrays.copyOfRange(positions, from, from + count);
        boolean c = contiguous || count <= 1 || p[count - 1] - p[0] == count - 1;
        return new Positions(p, c);
    }

    /** A copy of the positions. */
    public int[] toArray() {
        return positions.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Positions other && Arrays.equals(positions, other.positions);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(positions);
    }

    @Override
    public String toString() {
        if (positions.length == 0) {
            return "Positions[]";
        }
        return contiguous ? "Positions[" + first() + ".." + last() + "]" : "Positions" + Arrays.toString(positions);
    }
}
