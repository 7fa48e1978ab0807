package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ringattn.cuda.ffm.CudaLibraries;

/**
 * The PTX resource is in the jar, was generated from the current attention.cu, declares every entry
 * the kernel launches, with the right arity.
 */
class PtxTest {
    /** Parameters of each entry as CublasKernel passes them (keep in step with attention.cu). */
    private static final Map<String, Integer> ARITY = Map.of(
            Ptx.BF16_TO_F32, 3, Ptx.SWAP01_B32, 5, Ptx.SWAP01_B16, 5, Ptx.ONLINE_SOFTMAX, 19, Ptx.BACKWARD_SCORES, 17);

    @Test
    void resourceIsPresentAndComplete() {
        String ptx = Ptx.text();
        assertTrue(ptx.contains("\n.version "), "no .version directive");
        assertTrue(ptx.contains("\n.target sm_"), "no .target directive");
        assertTrue(ptx.contains("\n.address_size 64"), "not 64-bit PTX");
        assertEquals(java.util.List.of(), Ptx.missingEntries(ptx));
        assertTrue(ptx.endsWith("\n"), "truncated PTX");
    }

    /**
     * The PTX records the SHA-256 of the attention.cu it was generated from (build-ptx.sh): an edit of
     * the source without regenerating the PTX fails here. The test runs in the module's folder.
     */
    @Test
    void resourceWasGeneratedFromTheCurrentSource() throws Exception {
        Path source = Path.of("src/main/cuda/attention.cu");
        assertTrue(Files.isRegularFile(source), "attention.cu at " + source.toAbsolutePath());
        String recorded = Ptx.sourceSha256(Ptx.text());
        assertNotNull(recorded, "attention.ptx has no '// attention.cu sha256 ...' line: regenerate it with "
                + "src/main/cuda/build-ptx.sh");
        String now = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(source)));
        assertEquals(now, recorded, "attention.ptx is stale: generated from an attention.cu with sha256 " + recorded
                + ", the source's is " + now + "; regenerate with src/main/cuda/build-ptx.sh");
    }

    @Test
    void sourceHashIsReadFromItsOwnLineOnly() {
        String hash = "0123456789abcdef".repeat(4);
        assertEquals(hash, Ptx.sourceSha256("// Generated\n// attention.cu sha256 " + hash + "\n.version 7.0\n"));
        assertNull(Ptx.sourceSha256("// Generated\n.version 7.0\n"));
        assertNull(Ptx.sourceSha256("// attention.cu sha256 " + hash.substring(1) + "\n"), "63 digits");
    }

    @Test
    void signaturesReadFromThePtx() {
        String ptx = Ptx.text();
        assertEquals("liiiiilllliiillliii", Ptx.signature(ptx, Ptx.ONLINE_SOFTMAX));
        assertEquals("lliiiiilllliiillf", Ptx.signature(ptx, Ptx.BACKWARD_SCORES));
        assertEquals("lll", Ptx.signature(ptx, Ptx.BF16_TO_F32));
        assertEquals("lliii", Ptx.signature(ptx, Ptx.SWAP01_B32));
        assertEquals(null, Ptx.signature(ptx, "ra_nothing"));
    }

    @Test
    void entriesTakeTheArgumentsTheKernelPasses() {
        String ptx = Ptx.text();
        for (Map.Entry<String, Integer> e : ARITY.entrySet()) {
            Matcher m = Pattern.compile("\\.entry " + e.getKey() + "\\((.*?)\\)", Pattern.DOTALL).matcher(ptx);
            assertTrue(m.find(), e.getKey());
            int params = m.group(1).split("\\.param", -1).length - 1;
            assertEquals(e.getValue(), params, e.getKey() + " parameters");
        }
    }

    /** ptxas (from the CUDA toolkit, no GPU needed) assembles the resource for Turing, Ampere, Hopper. */
    @Test
    void ptxasAssemblesTheResource(@TempDir Path dir) throws Exception {
        Path ptxas = CudaLibraries.toolkitRoots().stream().map(r -> r.resolve("bin/ptxas"))
                .filter(Files::isExecutable).findFirst().orElse(null);
        assumeTrue(ptxas != null, "no ptxas under " + CudaLibraries.toolkitRoots());
        Path ptx = dir.resolve("attention.ptx");
        Files.writeString(ptx, Ptx.text());
        for (String arch : new String[] {"sm_75", "sm_80", "sm_90"}) {
            Process p = new ProcessBuilder(ptxas.toString(), "-arch=" + arch, ptx.toString(),
                    "-o", dir.resolve(arch + ".cubin").toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor(), "ptxas -arch=" + arch + ": " + out);
        }
    }
}
