package ringattn.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import ringattn.model.tokenizer.ByteLevelBpeTokenizer;
import ringattn.model.tokenizer.SentencePieceTokenizer;
import ringattn.model.tokenizer.Tokenizer;

/**
 * A model to run, opened from where it is kept: a Hugging Face-style directory ({@code config.json}
 * and safetensors, {@link SafetensorsWeights}) or a GGUF file ({@link GgufWeights}, config from its
 * metadata). Owns its weights: {@link #close()} unmaps them.
 *
 * @param path    the directory or file as given
 * @param config  the hyper-parameters
 * @param weights the weights, memory-mapped
 */
public record Checkpoint(Path path, LlamaConfig config, WeightSource weights) implements AutoCloseable {
    /**
     * Opens {@code path}: a directory as a Hugging Face model, a file as GGUF. Every problem is a
     * {@link ModelFormatException} naming the path (or the file in it) and what is wrong.
     */
    public static Checkpoint open(Path path) {
        if (Files.isDirectory(path)) {
            Path configFile = path.resolve("config.json");
            if (!Files.exists(configFile)) {
                throw new ModelFormatException(path + " has no config.json (a model is a directory with config.json "
                        + "and safetensors, or a .gguf file)");
            }
            try {
                LlamaConfig config = LlamaConfig.read(configFile);
                return new Checkpoint(path, config, SafetensorsWeights.open(path));
            } catch (IOException e) {
                throw new ModelFormatException(path + ": cannot read: " + e.getMessage(), e);
            }
        }
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file or directory (a model is a directory with config.json "
                    + "and safetensors, or a .gguf file)");
        }
        GgufWeights gguf = GgufWeights.open(path);
        return new Checkpoint(path, gguf.config(), gguf);
    }

    /**
     * The model's tokenizer, found beside its weights, or empty when it has none: for a GGUF file its
     * {@code tokenizer.ggml.*} metadata ({@code llama}: SentencePiece BPE; {@code gpt2}: byte-level BPE
     * with Llama 3's split); for a directory its {@code tokenizer.json} (byte-level BPE, the Llama 3
     * family) or a llama2.c {@code vocab.json} ({@code {"tokens": [...], "scores": [...]}}, SentencePiece,
     * as stories260K ships).
     *
     * @throws ModelFormatException naming the file when the tokenizer it holds cannot be used
     */
    public java.util.Optional<Tokenizer> tokenizer() {
        try {
            if (weights instanceof GgufWeights gguf) {
                TokenizerMetadata md = gguf.tokenizer();
                return switch (md.model()) {
                    case "llama" -> java.util.Optional.of(SentencePieceTokenizer.of(md.tokens(), md.scores(),
                            md.types().length > 0 ? md.types() : inferTypes(md.tokens()), md.bosId(), md.eosId()));
                    case "gpt2" -> java.util.Optional.of(ByteLevelBpeTokenizer.of(md.tokens(),
                            md.types().length > 0 ? md.types() : new int[md.tokens().size()], md.merges(),
                            ByteLevelBpeTokenizer.LLAMA3_SPLIT, true, md.bosId(), md.eosId()));
                    default -> throw new ModelFormatException(path + ": tokenizer.ggml.model '" + md.model()
                            + "' is not supported (llama or gpt2)");
                };
            }
            Path json = path.resolve("tokenizer.json");
            if (Files.isRegularFile(json)) {
                return java.util.Optional.of(ByteLevelBpeTokenizer.read(json));
            }
            Path vocab = path.resolve("vocab.json");
            if (Files.isRegularFile(vocab)) {
                return java.util.Optional.of(llama2cVocab(vocab));
            }
            return java.util.Optional.empty();
        } catch (ringattn.io.FileFormatException | IllegalArgumentException e) {
            throw new ModelFormatException(path + ": tokenizer: " + e.getMessage(), e);
        }
    }

    /** Token types by llama2.c's conventions: {@code <unk>} unknown, {@code <s>}/{@code </s>} control, {@code <0xNN>} byte. */
    private static int[] inferTypes(java.util.List<String> pieces) {
        int[] types = new int[pieces.size()];
        for (int i = 0; i < types.length; i++) {
            String p = pieces.get(i);
            types[i] = p.equals("<unk>") ? 2 : p.equals("<s>") || p.equals("</s>") ? 3
                    : p.matches("<0x[0-9A-F]{2}>") ? 6 : 1;
        }
        return types;
    }

    /** A llama2.c vocabulary ({@code tokens} and {@code scores}; BOS {@code <s>}, EOS {@code </s>}). */
    private static Tokenizer llama2cVocab(Path file) {
        Object parsed;
        try {
            if (Files.size(file) > 64L << 20) {
                throw new ModelFormatException(file + ": larger than 64 MiB");
            }
            parsed = ringattn.io.Json.parse(Files.readString(file, java.nio.charset.StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException(file + ": not a readable JSON vocabulary: " + e.getMessage(), e);
        }
        if (!(parsed instanceof java.util.Map<?, ?> m) || !(m.get("tokens") instanceof java.util.List<?> tokens)
                || !(m.get("scores") instanceof java.util.List<?> scores) || tokens.size() != scores.size()) {
            throw new ModelFormatException(file + ": expected {\"tokens\": [...], \"scores\": [...]} of equal length");
        }
        java.util.List<String> pieces = new java.util.ArrayList<>(tokens.size());
        float[] score = new float[tokens.size()];
        for (int i = 0; i < tokens.size(); i++) {
            if (!(tokens.get(i) instanceof String t) || !(scores.get(i) instanceof Number n)) {
                throw new ModelFormatException(file + ": entry " + i + " is not a string with a numeric score");
            }
            pieces.add(t);
            score[i] = n.floatValue();
        }
        return SentencePieceTokenizer.of(pieces, score, inferTypes(pieces), pieces.indexOf("<s>"), pieces.indexOf("</s>"));
    }

    @Override
    public void close() {
        weights.close();
    }
}
