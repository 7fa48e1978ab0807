package ringattn.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The PTX of the softmax kernels, shipped as the resource {@code ringattn/cuda/attention.ptx}
 * (generated from {@code src/main/cuda/attention.cu} by {@code build-ptx.sh}, which records the
 * source's SHA-256 in it), and the names of the entries {@link CublasKernel} launches.
 */
public final class Ptx {
    /** The resource, relative to this class's package. */
    public static final String RESOURCE = "attention.ptx";
    /** BF16 to fp32 conversion. */
    public static final String BF16_TO_F32 = "ra_bf16_to_f32";
    /** [a, b, inner] to [b, a, inner], 4-byte elements. */
    public static final String SWAP01_B32 = "ra_swap01_b32";
    /** [a, b, inner] to [b, a, inner], 2-byte elements. */
    public static final String SWAP01_B16 = "ra_swap01_b16";
    /** The masked online-softmax update of one score tile. */
    public static final String ONLINE_SOFTMAX = "ra_online_softmax";
    /** P and dS of one score tile in the backward pass. */
    public static final String BACKWARD_SCORES = "ra_backward_scores";
    /** Every entry the kernel launches. */
    public static final List<String> ENTRIES = List.of(BF16_TO_F32, SWAP01_B32, SWAP01_B16, ONLINE_SOFTMAX,
            BACKWARD_SCORES);

    private static final Pattern SOURCE_HASH = Pattern.compile("^// attention\\.cu sha256 ([0-9a-f]{64})$",
            Pattern.MULTILINE);
    private static final Pattern ENTRY = Pattern.compile("^\\.visible \\.entry ([A-Za-z_][A-Za-z0-9_]*)\\(",
            Pattern.MULTILINE);

    private Ptx() {
    }

    /** The PTX text; throws {@link IllegalStateException} when the resource is missing. */
    public static String text() {
        try (InputStream in = Ptx.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("PTX resource ringattn/cuda/" + RESOURCE
                        + " missing from the ringattn-cuda jar (regenerate with src/main/cuda/build-ptx.sh)");
            }
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalStateException("PTX resource ringattn/cuda/" + RESOURCE + ": " + e, e);
        }
    }

    /**
     * The SHA-256 (lower-case hex) of the {@code attention.cu} that {@code ptx} was generated from, as
     * {@code build-ptx.sh} records it in a comment line; null when the line is missing.
     */
    public static String sourceSha256(String ptx) {
        Matcher m = SOURCE_HASH.matcher(ptx);
        return m.find() ? m.group(1) : null;
    }

    /** The {@code .visible .entry} names declared in {@code ptx}. */
    public static List<String> entries(String ptx) {
        List<String> out = new ArrayList<>();
        Matcher m = ENTRY.matcher(ptx);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /**
     * The parameter kinds of entry {@code entry} in {@code ptx}, in {@code KernelArgs.kinds()}
     * notation: {@code l} for 64-bit ({@code .u64}, {@code .s64}, {@code .b64}), {@code i} for 32-bit
     * integers, {@code f} for {@code .f32}; null when the entry is absent.
     */
    public static String signature(String ptx, String entry) {
        Matcher m = Pattern.compile("\\.entry " + Pattern.quote(entry) + "\\((.*?)\\)", Pattern.DOTALL).matcher(ptx);
        if (!m.find()) {
            return null;
        }
        StringBuilder out = new StringBuilder();
        Matcher p = Pattern.compile("\\.param\\s+\\.(\\w+)").matcher(m.group(1));
        while (p.find()) {
            String t = p.group(1);
            out.append(t.endsWith("64") ? 'l' : t.equals("f32") ? 'f' : t.endsWith("32") ? 'i' : '?');
        }
        return out.toString();
    }

    /** The entries the kernel needs that {@code ptx} lacks (empty when complete). */
    public static List<String> missingEntries(String ptx) {
        List<String> have = entries(ptx);
        return ENTRIES.stream().filter(e -> !have.contains(e)).toList();
    }
}
