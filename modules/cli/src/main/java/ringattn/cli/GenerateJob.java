package ringattn.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.tensor.DType;
import ringattn.model.Checkpoint;
import ringattn.model.Generation;
import ringattn.model.LlamaConfig;
import ringattn.model.LlamaModel;
import ringattn.model.ModelFormatException;
import ringattn.model.Prefill;
import ringattn.model.Sampler;
import ringattn.model.TinyLlama;
import ringattn.model.WeightSource;
import ringattn.model.tokenizer.Tokenizer;

/**
 * A validated {@code generate} job: the model bound to its weights, its tokenizer (when the model
 * has one), the prompt's token ids and how to sample. Every check happens in {@link #load}, before
 * any compute, and names the option. Owns the weights: {@link #close()} unmaps them. Not thread-safe
 * to load or close; the model may be read by every local rank at once.
 */
final class GenerateJob implements AutoCloseable {
    final Options options;
    /** The model directory or file as given, or null for {@code --tiny}. */
    final Path modelPath;
    final LlamaModel model;
    private final WeightSource weights;
    /** Text ↔ ids, or null when the model has none (then {@code --tokens} only and ids are printed). */
    final Tokenizer codec;
    final int[] prompt;
    final int ranks;
    private final int threads;
    final ShardLayout layout;
    final Duration timeout;
    final Sampler.Options sampling;
    final int maxNew;
    final int[] stopTokens;

    static List<Option> options() {
        return List.of(
                Option.value("model", "DIR|FILE.gguf", "a Llama-style model: a directory (config.json and safetensors) "
                        + "or a GGUF file"),
                Option.flag("tiny", "the embedded tiny model instead (seeded random weights, vocab 512, no tokenizer)"),
                Option.value("prompt", "TEXT", "the prompt, tokenized with the model's tokenizer (BOS added)"),
                Option.value("prompt-file", "FILE", "the prompt from a UTF-8 text file"),
                Option.value("tokens", "FILE.npy", "the prompt as token ids: any integer .npy, shape [S] or [1, S]"),
                Option.value("max-new", "N", "most tokens to generate (default 128)"),
                Option.value("temperature", "T", "0: greedy; else sample from softmax(logits / T) (default 0.8)"),
                Option.value("top-k", "K", "sample among the K most likely tokens, 0: all (default 40)"),
                Option.value("top-p", "P", "then among the most likely up to probability P, in (0, 1] (default 0.95)"),
                Option.value("seed", "N", "the sampler's seed (default 1: the same output every run)"),
                Option.value("stop", "ID,...", "more token ids that end the generation (the model's EOS always does)"),
                Option.flag("ignore-eos", "do not stop at the model's EOS token"),
                Option.value("ranks", "N", "ring size (default 1)"),
                Option.value("threads", "T", "compute threads per rank (default: cores / ranks on this host, >= 1)"),
                Option.value("layout", "zigzag|contiguous|striped", "sharding of the prompt (default zigzag)"),
                Option.value("timeout", "SECONDS", "bound on any wait for another rank (default 120); over UCX also "
                        + "the rank-failure bound"));
    }

    private GenerateJob(Options o, int defaultRanks) {
        options = o;
        boolean tiny = o.flag("tiny");
        if (o.has("model") == tiny) {
            throw new UsageException("--model/--tiny", tiny ? "give one, not both" : "one is required");
        }
        int sources = (o.has("prompt") ? 1 : 0) + (o.has("prompt-file") ? 1 : 0) + (o.has("tokens") ? 1 : 0);
        if (sources != 1) {
            throw new UsageException("--prompt/--prompt-file/--tokens", sources == 0 ? "one is required"
                    : "give one, not several");
        }
        ranks = o.intValue("ranks", defaultRanks, 1, 4096);
        threads = o.intValue("threads", 0, 1, 4096);
        layout = ShardLayout.valueOf(o.choice("layout", "zigzag", "zigzag", "contiguous", "striped")
                .toUpperCase(Locale.ROOT));
        timeout = o.has("timeout") ? DemoJob.explicitTimeout(o) : Duration.ofSeconds(120);
        maxNew = o.intValue("max-new", 128, 0, 1 << 24);
        double temperature = o.doubleValue("temperature", 0.8);
        if (temperature < 0) {
            throw new UsageException("--temperature", "must be >= 0, got " + temperature);
        }
        int topK = o.intValue("top-k", 40, 0, Integer.MAX_VALUE);
        double topP = o.doubleValue("top-p", 0.95);
        if (!(topP > 0 && topP <= 1)) {
            throw new UsageException("--top-p", "must be in (0, 1], got " + topP);
        }
        sampling = new Sampler.Options(temperature, topK, topP, o.longValue("seed", 1));
        modelPath = tiny ? null : Path.of(o.required("model"));
        guardInputs(o);
        LlamaConfig config;
        Checkpoint checkpoint = null;
        if (modelPath == null) {
            config = LlamaConfig.tiny();
            weights = TinyLlama.weights(config, DType.F32, TinyLlama.DEFAULT_SEED);
        } else {
            checkpoint = PrefillJob.openCheckpoint(modelPath);
            config = checkpoint.config();
            weights = checkpoint.weights();
        }
        try {
            model = LlamaModel.load(config, weights);
            codec = checkpoint == null ? null : checkpoint.tokenizer().orElse(null);
            prompt = readPrompt(o);
            if (prompt.length == 0) {
                throw new UsageException(promptOption(o), "the prompt has no tokens");
            }
            try {
                model.checkTokens(prompt);
            } catch (IllegalArgumentException e) {
                throw new UsageException(promptOption(o), e.getMessage());
            }
            stopTokens = stopTokens(o, config);
        } catch (ModelFormatException e) {
            weights.close();
            throw new UsageException(modelPath != null ? "--model" : "--tiny", e.getMessage());
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /** Parses and checks the options, binds the model and tokenizes the prompt. */
    static GenerateJob load(Options o, int defaultRanks) {
        return new GenerateJob(o, defaultRanks);
    }

    private static String promptOption(Options o) {
        return o.has("tokens") ? "--tokens" : o.has("prompt-file") ? "--prompt-file" : "--prompt";
    }

    /** generate writes no file, but refuses a prompt file that is not a regular, readable file. */
    private static void guardInputs(Options o) {
        for (String name : List.of("prompt-file", "tokens")) {
            if (o.has(name)) {
                Path p = Path.of(o.required(name));
                if (!Files.isRegularFile(p) || !Files.isReadable(p)) {
                    throw new UsageException("--" + name, p + " is not a readable file");
                }
            }
        }
    }

    private int[] readPrompt(Options o) {
        if (o.has("tokens")) {
            return PrefillJob.readTokens(Path.of(o.required("tokens")));
        }
        String option = promptOption(o);
        if (codec == null) {
            throw new UsageException(option, "the model " + (modelPath == null ? "--tiny" : modelPath)
                    + " has no tokenizer; give token ids with --tokens");
        }
        String text;
        if (o.has("prompt-file")) {
            Path p = Path.of(o.required("prompt-file"));
            try {
                byte[] bytes = Files.readAllBytes(p);
                text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString();
            } catch (java.nio.charset.CharacterCodingException e) {
                throw new UsageException(option, p + " is not UTF-8 text");
            } catch (IOException e) {
                throw new UsageException(option, p + ": cannot read: " + e.getMessage());
            }
        } else {
            text = o.required("prompt");
        }
        return codec.encode(text, true);
    }

    private int[] stopTokens(Options o, LlamaConfig config) {
        List<Integer> stop = new ArrayList<>(o.intList("stop", List.of(), 0, config.vocabSize() - 1));
        if (!o.flag("ignore-eos")) {
            int eos = codec != null ? codec.eos() : -1;
            if (eos >= 0 && eos < config.vocabSize() && !stop.contains(eos)) {
                stop.add(eos);
            }
        }
        return stop.stream().mapToInt(Integer::intValue).toArray();
    }

    /** What the banners call the model: {@code tiny} or the path as given. */
    String modelName() {
        return modelPath == null ? "tiny" : modelPath.toString();
    }

    /** {@code --threads}, else the cores divided by {@code ranksHere}, at least 1. */
    int threadsPerRank(int ranksHere) {
        return threads > 0 ? threads : DemoJob.defaultThreads(ranksHere);
    }

    /** The model's generation options for a rank sharing this host with {@code ranksHere - 1} others. */
    Generation.Options generationOptions(int ranksHere) {
        return new Generation.Options(new Prefill.Options(threadsPerRank(ranksHere), layout, timeout, 0), sampling,
                maxNew, stopTokens);
    }

    /** The options for worker processes: all but the transport choice and --json, ranks/threads/timeout explicit. */
    List<String> workerArgs(int threadsPerRank) {
        return PrefillJob.workerArgs(options, ranks, threadsPerRank, timeout);
    }

    /** What every rank must agree on: the model, the prompt (a hash of its ids), sampling, ring size and layout. */
    String jobParams() {
        return "generate model=" + modelName() + " prompt=" + prompt.length + ":" + Integer.toHexString(Arrays.hashCode(prompt))
                + " max-new=" + maxNew + " sampling=" + sampling + " stop=" + Arrays.toString(stopTokens) + " ranks=" + ranks
                + " layout=" + layout.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public void close() {
        weights.close();
    }
}
