package ringattn.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.SplittableRandom;
import ringattn.io.ArrayData;
import ringattn.io.ElementType;
import ringattn.io.Npy;
import ringattn.model.Checkpoint;
import ringattn.model.LlamaConfig;
import ringattn.model.LlamaModel;
import ringattn.model.WeightSource;

/**
 * The model and prompts of {@link DecodeBench}: a checkpoint opened once, and for a context length a
 * seeded prompt of BOS then random token ids (the same ids for every rank count, written as an int64
 * .npy for llama.cpp's driver). Owns the weights (closed by {@link #close}); read-only after
 * construction, so ranks may share it.
 *
 * @param model   the model, borrowing {@code weights}
 * @param weights the open checkpoint
 */
record DecodeModel(LlamaModel model, WeightSource weights) implements AutoCloseable {
    /** Llama-2 family (SentencePiece) begin-of-text id. */
    static final int BOS = 1;
    /** Random prompt ids start above unknown (0), BOS (1) and end-of-text (2). */
    static final int FIRST_ORDINARY_ID = 3;
    private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Opens a checkpoint: a Hugging Face directory or a GGUF file ({@link Checkpoint#open}). */
    static DecodeModel open(Path checkpoint) {
        Checkpoint c = Checkpoint.open(checkpoint);
        try {
            return new DecodeModel(LlamaModel.load(c.config(), c.weights()), c.weights());
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    LlamaConfig config() {
        return model.config();
    }

    /**
     * {@code context} tokens: BOS, then {@code context − 1} ids drawn uniformly from
     * [{@value #FIRST_ORDINARY_ID}, vocab) by a generator seeded with {@code seed}; the same for every
     * rank count and run.
     */
    int[] prompt(int context, long seed) {
        if (context < 1) {
            throw new IllegalArgumentException("context: must be >= 1, got " + context);
        }
        int vocab = config().vocabSize();
        SplittableRandom random = new SplittableRandom(seed);
        int[] p = new int[context];
        p[0] = BOS;
        for (int i = 1; i < context; i++) {
            p[i] = random.nextInt(FIRST_ORDINARY_ID, vocab);
        }
        return p;
    }

    /** Writes {@code tokens} as a 1-D int64 .npy file (atomically). */
    static void writeTokens(Path file, int[] tokens) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(8L * tokens.length, 8);
            for (int i = 0; i < tokens.length; i++) {
                data.setAtIndex(I64_LE, i, tokens[i]);
            }
            Npy.write(file, ArrayData.of(ElementType.I64, new long[] {tokens.length}, data));
        }
    }

    @Override
    public void close() {
        weights.close();
    }
}
