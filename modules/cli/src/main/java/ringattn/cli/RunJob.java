package ringattn.cli;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.ring.RingOptions;
import ringattn.engine.ring.ShardLayout;
import ringattn.io.ArrayData;
import ringattn.io.ArraySpec;
import ringattn.io.ElementType;
import ringattn.io.FileFormatException;
import ringattn.io.OutputFile;
import ringattn.io.TensorFiles;

/**
 * A validated {@code run} job: the mapped inputs (valid while the arena given to {@link #load} is
 * open), the attention spec, and where each output goes. Every check happens here, before any
 * compute, and names the argument. Immutable after loading.
 */
public final class RunJob {
    /** Logical outputs and their default tensor names in safetensors files. */
    static final List<String> OUTPUTS = List.of("out", "lse", "dq", "dk", "dv");

    final Options options;
    /** {@code auto}, {@code cpu} or {@code cuda}. */
    final String device;
    final int ranks;
    final int threads;
    final Duration timeout;
    final ArrayData q;
    final ArrayData k;
    final ArrayData v;
    final ArrayData dOut;
    final int seqLen;
    final int heads;
    final int kvHeads;
    final int headDim;
    final AttentionSpec spec;
    final ShardLayout layout;
    /** Logical output → target spec string (only the outputs asked for). */
    final Map<String, String> outputSpecs = new LinkedHashMap<>();
    /** Logical output → its type and shape. */
    final Map<String, ArraySpec> outputArrays = new LinkedHashMap<>();

    static List<Option> options() {
        return List.of(
                Option.value("q", "FILE", "queries [S, Hq, D]: .npy (float32/float16) or x.safetensors[:name] (F32/F16/BF16)"),
                Option.value("k", "FILE", "keys [S, Hkv, D], Hkv dividing Hq, same dtype as Q"),
                Option.value("v", "FILE", "values [S, Hkv, D], same dtype as Q"),
                Option.value("out", "FILE", "output O [S, Hq, D] in Q's dtype (required)"),
                Option.value("lse", "FILE", "log-sum-exp [Hq, S] float32 (natural log; -inf for rows that see no key)"),
                Option.value("dout", "FILE", "gradient of O [S, Hq, D]: also computes dQ, dK, dV"),
                Option.value("dq", "FILE", "dQ output (with --dout), shape and dtype of Q"),
                Option.value("dk", "FILE", "dK output (with --dout), shape and dtype of K"),
                Option.value("dv", "FILE", "dV output (with --dout), shape and dtype of V"),
                Option.value("ranks", "N", "ring size (default 1)"),
                Option.flag("causal", "causal mask"),
                Option.flag("no-causal", "no causal mask (default)"),
                Option.value("window", "W", "sliding window of W >= 1 tokens (causal: i-W < j <= i; else |i-j| < W)"),
                Option.value("cu-seqlens", "FILE", "int32/int64 .npy [0, ..., S] of packed documents"),
                Option.value("scale", "X", "softmax scale (default 1/sqrt(D))"),
                Option.value("layout", "zigzag|contiguous|striped", "sharding (default: zigzag when causal without "
                        + "window, else contiguous)"),
                Option.value("timeout", "SECONDS", "rank-failure bound: a rank that dies or stops answering is "
                        + "reported within it (over UCX default: RINGATTN_TIMEOUT or 30); waits for another rank's data "
                        + "are bounded by the larger of it and 60, or 10x a pessimistic estimate of one ring step"),
                Option.value("threads", "T", "compute threads per rank (default: cores / ranks on this host, >= 1)"),
                Device.OPTION);
    }

    private RunJob(Options o, int defaultRanks, boolean ranksOnThisHost, Arena arena) {
        options = o;
        device = Device.choice(o);
        ranks = o.intValue("ranks", defaultRanks, 1, 4096);
        threads = o.intValue("threads", DemoJob.defaultThreads(ranksOnThisHost ? ranks : DemoJob.ranksPerNode()), 1, 4096);
        int window = o.intValue("window", 0, 1, Integer.MAX_VALUE);
        Float scale = null;
        if (o.has("scale")) {
            double s = o.doubleValue("scale", 0);
            if (s == 0 || !Float.isFinite((float) s)) {
                throw new UsageException("--scale", "must be finite and non-zero, got " + o.string("scale", ""));
            }
            scale = (float) s;
        }
        boolean grads = o.has("dout") || o.has("dq") || o.has("dk") || o.has("dv");
        if (grads) {
            for (String g : List.of("dout", "dq", "dk", "dv")) {
                o.required(g.equals("dout") ? "dout" : g); // all four or none
            }
        }
        o.required("out");
        q = read(o, "q", arena);
        k = read(o, "k", arena);
        v = read(o, "v", arena);
        dOut = grads ? read(o, "dout", arena) : null;
        long[] qs = q.shape();
        check(q, "--q");
        check(k, "--k");
        check(v, "--v");
        if (k.type() != q.type() || v.type() != q.type()) {
            throw new UsageException(k.type() != q.type() ? "--k" : "--v", "dtype " + (k.type() != q.type() ? k.type() : v.type())
                    + " differs from --q's " + q.type());
        }
        if (k.shape()[0] != qs[0] || k.shape()[2] != qs[2]) {
            throw new UsageException("--k", "shape " + k.shapeString() + " does not fit --q " + q.shapeString()
                    + " (expected [S, Hkv, D] with the same S and D)");
        }
        if (!java.util.Arrays.equals(v.shape(), k.shape())) {
            throw new UsageException("--v", "shape " + v.shapeString() + " differs from --k " + k.shapeString());
        }
        if (qs[1] % k.shape()[1] != 0) {
            throw new UsageException("--k", k.shape()[1] + " heads do not divide --q's " + qs[1] + " heads");
        }
        if (qs[0] < 1) {
            throw new UsageException("--q", "the sequence is empty");
        }
        if (dOut != null) {
            check(dOut, "--dout");
            if (!java.util.Arrays.equals(dOut.shape(), qs) || dOut.type() != q.type()) {
                throw new UsageException("--dout", dOut.type() + " " + dOut.shapeString() + " differs from --q "
                        + q.type() + " " + q.shapeString());
            }
        }
        seqLen = (int) qs[0];
        heads = (int) qs[1];
        kvHeads = (int) k.shape()[1];
        headDim = (int) qs[2];
        AttentionSpec s = AttentionSpec.of(headDim).withCausal(o.toggle("causal", false));
        if (window > 0) {
            s = s.withWindow(window);
        }
        if (scale != null) {
            s = s.withScale(scale);
        }
        if (o.has("cu-seqlens")) {
            long[] cu;
            try {
                cu = read(o, "cu-seqlens", arena).toLongs("--cu-seqlens");
            } catch (FileFormatException e) {
                throw new UsageException("--cu-seqlens", e.getMessage());
            }
            checkCuSeqlens(cu, seqLen);
            s = s.withDocuments(cu);
        }
        spec = s;
        timeout = DemoJob.timeout(o, seqLen, ranks, heads, headDim, threads);
        layout = o.has("layout") ? ShardLayout.valueOf(o.choice("layout", "zigzag", "zigzag", "contiguous", "striped")
                .toUpperCase(Locale.ROOT)) : RingOptions.defaults(spec).layout();
        if ((long) seqLen * heads * headDim * 4 / ranks > (1L << 34)) {
            throw new UsageException("--q", "a shard would need more than 16 GiB; use more ranks");
        }
        planOutputs(o);
    }

    /** Parses the options, maps and validates every input; outputs are checked but not created. */
    static RunJob load(Options o, int defaultRanks, boolean ranksOnThisHost, Arena arena) {
        return new RunJob(o, defaultRanks, ranksOnThisHost, arena);
    }

    private static ArrayData read(Options o, String name, Arena arena) {
        String spec = o.required(name);
        try {
            return TensorFiles.read(spec, arena);
        } catch (FileFormatException e) {
            throw new UsageException("--" + name, e.getMessage());
        }
    }

    private static void check(ArrayData a, String arg) {
        if (!a.type().isFloat()) {
            throw new UsageException(arg, a.source() + ": expected float32, float16 or bfloat16, got " + a.type());
        }
        if (a.rank() != 3) {
            throw new UsageException(arg, a.source() + ": expected 3 dimensions [S, heads, D], got shape " + a.shapeString());
        }
        long[] s = a.shape();
        if (s[0] > Integer.MAX_VALUE || s[1] < 1 || s[1] > Integer.MAX_VALUE || s[2] < 1 || s[2] > Integer.MAX_VALUE) {
            throw new UsageException(arg, a.source() + ": unsupported shape " + a.shapeString());
        }
    }

    static void checkCuSeqlens(long[] cu, int seqLen) {
        if (cu.length < 2 || cu[0] != 0 || cu[cu.length - 1] != seqLen) {
            throw new UsageException("--cu-seqlens", "must run from 0 to S=" + seqLen + " with at least 2 entries, got "
                    + (cu.length == 0 ? "[]" : "[" + cu[0] + ", ..., " + cu[cu.length - 1] + "] (" + cu.length + " entries)"));
        }
        for (int i = 1; i < cu.length; i++) {
            if (cu[i] <= cu[i - 1]) {
                throw new UsageException("--cu-seqlens", "must be strictly increasing; entry " + i + " is " + cu[i]
                        + " after " + cu[i - 1]);
            }
        }
    }

    private void planOutputs(Options o) {
        ElementType io = q.type();
        put("out", o, new ArraySpec(io, q.shape()));
        if (o.has("lse")) {
            put("lse", o, new ArraySpec(ElementType.F32, new long[] {heads, seqLen}));
        }
        if (dOut != null) {
            put("dq", o, new ArraySpec(io, q.shape()));
            put("dk", o, new ArraySpec(io, k.shape()));
            put("dv", o, new ArraySpec(io, v.shape()));
        }
        OutputGuard guard = new OutputGuard();
        for (String in : List.of("q", "k", "v", "dout", "cu-seqlens")) {
            if (o.has(in)) {
                TensorFiles.Spec s = TensorFiles.Spec.parse(o.required(in));
                guard.input("--" + in, s.file().toString(), s.file());
            }
        }
        Map<String, String> names = new LinkedHashMap<>();
        for (var e : outputSpecs.entrySet()) {
            TensorFiles.Spec s = TensorFiles.Spec.parse(e.getValue());
            String arg = "--" + e.getKey();
            Path dir = s.file().toAbsolutePath().getParent();
            if (dir == null || !java.nio.file.Files.isDirectory(dir)) {
                throw new UsageException(arg, "directory " + dir + " does not exist");
            }
            if (!s.safetensors() && outputArrays.get(e.getKey()).type().npyDescr() == null) {
                throw new UsageException(arg, "NumPy cannot store " + outputArrays.get(e.getKey()).type()
                        + " (the inputs' dtype); write x.safetensors instead");
            }
            guard.output(arg, s.file().toString(), s.file(), s.safetensors());
            if (s.safetensors()) {
                String key = OutputGuard.entry(s.file()) + ":" + tensorName(e.getKey());
                String earlier = names.putIfAbsent(key, arg);
                if (earlier != null) {
                    throw new UsageException(arg, "writes the same tensor '" + tensorName(e.getKey()) + "' of "
                            + s.file() + " as " + earlier);
                }
            }
        }
        if (o.has("report")) { // worker run: rank 0's reports
            Path report = Path.of(o.required("report"));
            guard.output("--report", report.toString(), report, false);
        }
        guard.check();
    }

    private void put(String name, Options o, ArraySpec a) {
        outputSpecs.put(name, o.required(name));
        outputArrays.put(name, a);
    }

    /** The tensor name of a logical output inside a safetensors file. */
    String tensorName(String output) {
        TensorFiles.Spec s = TensorFiles.Spec.parse(outputSpecs.get(output));
        return s.name() != null ? s.name() : output;
    }

    /**
     * One output file: the path as first given, the option that named it first, its format and its
     * arrays by name in the file (tensor name, or the logical output for npy), and the logical
     * outputs it holds.
     */
    private record Target(Path file, String option, boolean safetensors, Map<String, ArraySpec> arrays,
                          Map<String, String> arrayOf) {
    }

    /** The output files in a fixed order, grouped by directory entry (several outputs may share one safetensors file). */
    private List<Target> targets() {
        Map<Path, Target> byEntry = new LinkedHashMap<>();
        for (var e : outputSpecs.entrySet()) {
            TensorFiles.Spec s = TensorFiles.Spec.parse(e.getValue());
            Target t = byEntry.computeIfAbsent(OutputGuard.entry(s.file()), x -> new Target(s.file(), "--" + e.getKey(),
                    s.safetensors(), new LinkedHashMap<>(), new LinkedHashMap<>()));
            String array = s.safetensors() ? tensorName(e.getKey()) : e.getKey();
            t.arrays.put(array, outputArrays.get(e.getKey()));
            t.arrayOf.put(e.getKey(), array);
        }
        return new ArrayList<>(byEntry.values());
    }

    /**
     * Creates every output's temporary file, in {@link #targets()} order; on failure none is left.
     * Errors name the output's option and path.
     */
    List<OutputFile> createOutputs() {
        List<OutputFile> files = new ArrayList<>();
        try {
            for (Target t : targets()) {
                try {
                    files.add(OutputFile.create(t.file, t.safetensors, t.arrays));
                } catch (FileFormatException e) {
                    throw new UsageException(t.option, e.getMessage());
                }
            }
        } catch (RuntimeException ex) {
            files.forEach(OutputFile::close);
            throw ex;
        }
        return files;
    }

    /** The temporary ids of {@code files} ({@link #createOutputs()}), for {@link #openOutputs}: comma-separated. */
    static String tempIds(List<OutputFile> files) {
        return String.join(",", files.stream().map(OutputFile::tempId).toList());
    }

    /** Opens the outputs another process created, given its {@link #tempIds}. */
    List<OutputFile> openOutputs(String tempIds) {
        List<Target> targets = targets();
        String[] ids = tempIds.split(",", -1);
        if (ids.length != targets.size()) {
            throw new IllegalStateException("outputs: " + ids.length + " temporary ids for " + targets.size() + " files");
        }
        List<OutputFile> files = new ArrayList<>();
        try {
            for (int i = 0; i < ids.length; i++) {
                Target t = targets.get(i);
                try {
                    files.add(OutputFile.open(t.file, ids[i], t.safetensors, t.arrays));
                } catch (FileFormatException e) {
                    throw new UsageException(t.option, e.getMessage());
                }
            }
        } catch (RuntimeException ex) {
            files.forEach(OutputFile::close);
            throw ex;
        }
        return files;
    }

    /** Read-write mappings of every logical output's data; {@code files} in {@link #targets()} order. */
    Map<String, java.lang.foreign.MemorySegment> mapOutputs(List<OutputFile> files, Arena arena) {
        List<Target> targets = targets();
        Map<String, java.lang.foreign.MemorySegment> out = new LinkedHashMap<>();
        for (int i = 0; i < targets.size(); i++) {
            for (var e : targets.get(i).arrayOf.entrySet()) {
                out.put(e.getKey(), files.get(i).map(e.getValue(), arena));
            }
        }
        return out;
    }

    /** Progress of this job's passes on {@code err} ({@code name} first in the text). */
    RingProgress progress(String name, Progress err) {
        return new RingProgress(err, System::nanoTime, name, seqLen, RingProgress.ringSteps(ranks, spec.window()),
                dOut == null ? 1 : 1 + Flops.BACKWARD_FACTOR);
    }

    /** Ring options. */
    RingOptions ringOptions() {
        RingOptions o = RingOptions.defaults(spec).withLayout(layout).withTimeout(timeout);
        return dOut == null ? o.forwardOnly() : o;
    }

    /** The options to pass to worker processes (everything but the transport choice and reports). */
    List<String> workerArgs() {
        List<String> a = new ArrayList<>();
        for (String s : options.toArgs()) {
            if (!s.startsWith("--transport=") && !s.equals("--json")) {
                a.add(s);
            }
        }
        if (!options.has("ranks")) {
            a.add("--ranks=" + ranks);
        }
        if (!options.has("threads")) {
            a.add("--threads=" + threads);
        }
        return a;
    }
}
