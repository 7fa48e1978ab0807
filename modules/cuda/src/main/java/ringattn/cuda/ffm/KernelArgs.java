package ringattn.cuda.ffm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The {@code void** kernelParams} of {@code cuLaunchKernel}: one 8-byte slot per argument holding its
 * value, and an array of pointers to the slots. Reused across launches ({@link #reset()}); not
 * thread-safe.
 */
public final class KernelArgs {
    private static final int MAX_ARGS = 32;
    private final MemorySegment slots;
    private final MemorySegment pointers;
    private final char[] kinds = new char[MAX_ARGS];
    private int count;

    public KernelArgs(Arena arena) {
        this.slots = arena.allocate(8L * MAX_ARGS, 8);
        this.pointers = arena.allocate(ValueLayout.ADDRESS, MAX_ARGS);
    }

    /** Forgets the arguments of the previous launch. */
    public KernelArgs reset() {
        count = 0;
        return this;
    }

    /** A pointer or a {@code long long} argument. */
    public KernelArgs ptr(long value) {
        int i = next();
        kinds[i] = 'l';
        slots.setAtIndex(ValueLayout.JAVA_LONG, i, value);
        return this;
    }

    /** A {@code long long} argument. */
    public KernelArgs i64(long value) {
        return ptr(value);
    }

    /** A {@code float} argument. */
    public KernelArgs f32(float value) {
        i32(Float.floatToRawIntBits(value));
        kinds[count - 1] = 'f';
        return this;
    }

    /** An {@code int} argument. */
    public KernelArgs i32(int value) {
        int i = next();
        kinds[i] = 'i';
        slots.set(ValueLayout.JAVA_INT, 8L * i, value);
        return this;
    }

    private int next() {
        if (count == MAX_ARGS) {
            throw new IllegalStateException("more than " + MAX_ARGS + " kernel arguments");
        }
        pointers.setAtIndex(ValueLayout.ADDRESS, count, slots.asSlice(8L * count, 8));
        return count++;
    }

    /** How many arguments were added since {@link #reset()}. */
    public int count() {
        return count;
    }

    /**
     * The kinds of the arguments in order: {@code l} (8 bytes: pointer or {@code long long}),
     * {@code i} ({@code int}), {@code f} ({@code float}); compare with {@code Ptx.signature}.
     */
    public String kinds() {
        return new String(kinds, 0, count);
    }

    /** Argument {@code index} read back as a pointer or {@code long long}. */
    public long longAt(int index) {
        return slots.getAtIndex(ValueLayout.JAVA_LONG, checkIndex(index));
    }

    /** Argument {@code index} read back as an {@code int}. */
    public int intAt(int index) {
        return slots.get(ValueLayout.JAVA_INT, 8L * checkIndex(index));
    }

    private int checkIndex(int index) {
        if (index < 0 || index >= count) {
            throw new IndexOutOfBoundsException("argument " + index + " of " + count);
        }
        return index;
    }

    /** The {@code void**} to pass to {@code cuLaunchKernel}. */
    public MemorySegment params() {
        return pointers;
    }
}
