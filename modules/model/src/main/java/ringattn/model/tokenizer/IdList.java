package ringattn.model.tokenizer;

import java.util.Arrays;

/** A growable list of token ids, the output of encoding. Not thread-safe. */
final class IdList {
    private int[] ids = new int[16];
    private int size;

    void add(int id) {
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, 2 * size);
        }
        ids[size++] = id;
    }

    int[] toArray() {
        return Arrays.copyOf(ids, size);
    }
}
