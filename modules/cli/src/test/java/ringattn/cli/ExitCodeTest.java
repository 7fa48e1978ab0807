package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.RankFailedException;
import ringattn.io.ArrayData;
import ringattn.io.Npy;

/** Bad usage and bad input end with exit 2 and one {@code error:} line naming the argument or file. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ExitCodeTest {
    @TempDir
    Path dir;

    Path npy(String name, int s, int h, int d) {
        try (Tensor t = RunCommandTest.random(s, h, d, DType.F32, name.hashCode())) {
            Path p = dir.resolve(name);
            Npy.write(p, ArrayData.of(t));
            return p;
        }
    }

    static void assertUsage(CliRun r, String prefix) {
        assertEquals(ExitCode.USAGE, r.code(), r.toString());
        assertEquals(1, r.errorLines().size(), r.toString());
        assertTrue(r.errorLines().getFirst().startsWith("error: " + prefix), r.toString());
        assertFalse(r.err().contains("\tat "), "no stack trace without --debug: " + r);
    }

    String[] run(String... extra) {
        String[] base = {"run", "--q", npy("q.npy", 8, 2, 4).toString(), "--k", npy("k.npy", 8, 2, 4).toString(),
                "--v", npy("v.npy", 8, 2, 4).toString(), "--out", dir.resolve("o.npy").toString()};
        String[] all = new String[base.length + extra.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return all;
    }

    @Test
    void usageErrorsNameTheArgument() {
        assertUsage(CliRun.of("frobnicate"), "unknown command 'frobnicate'");
        assertUsage(CliRun.of("demo", "--bogus"), "--bogus: unknown option");
        assertUsage(CliRun.of("demo", "--seq"), "--seq: needs a value");
        assertUsage(CliRun.of("demo", "--seq", "lots"), "--seq: expected an integer");
        assertUsage(CliRun.of("demo", "--heads", "6", "--kv-heads", "4", "--transport", "local"), "--kv-heads");
        assertUsage(CliRun.of("demo", "--transport", "carrier-pigeon"), "--transport");
        if (!ringattn.engine.device.Devices.probe("cuda").available()) { // on a GPU machine cuda is a valid choice
            assertUsage(CliRun.of("demo", "--device", "cuda"), "--device cuda: no CUDA GPU support in this build/machine");
        }
        assertUsage(CliRun.of("demo", "--device", "tpu"), "--device: expected one of auto|cpu|cuda");
        assertUsage(CliRun.of("run", "--k", "x.npy"), "--out: is required");
        assertUsage(CliRun.of(run("--window", "0")), "--window: must be in [1,");
        assertUsage(CliRun.of(run("--scale", "0")), "--scale");
        assertUsage(CliRun.of(run("--dout", dir.resolve("o.npy").toString())), "--dq: is required");
        assertUsage(CliRun.of("bench", "--seqs", "1024,x"), "--seqs");
    }

    @Test
    void badInputFilesNameTheFile() throws Exception {
        String[] args = run();
        args[4] = npy("k3.npy", 8, 3, 4).toString();
        args[6] = npy("v3.npy", 8, 3, 4).toString();
        assertUsage(CliRun.of(args), "--k: 3 heads do not divide");
        args = run();
        args[6] = npy("v9.npy", 9, 2, 4).toString();
        assertUsage(CliRun.of(args), "--v: shape [9, 2, 4] differs");
        Path bad = dir.resolve("bad.npy");
        Files.write(bad, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        args = run();
        args[2] = bad.toString();
        assertUsage(CliRun.of(args), "--q: " + bad + ": not an .npy file");
        args[2] = dir.resolve("missing.npy").toString();
        assertUsage(CliRun.of(args), "--q: " + dir.resolve("missing.npy") + ": no such file");
        Path cu = dir.resolve("cu.npy");
        Npy.write(cu, ArrayData.of(ringattn.io.ElementType.I64, new long[] {3},
                java.lang.foreign.MemorySegment.ofArray(new long[] {0, 5, 7})));
        assertUsage(CliRun.of(run("--cu-seqlens", cu.toString())), "--cu-seqlens: must run from 0 to S=8");
        assertUsage(CliRun.of(run("--cu-seqlens", args[4])), "--cu-seqlens: " + args[4] + ": expected int32");
        assertUsage(CliRun.of(run("--lse", dir.resolve("nodir/lse.npy").toString())), "--lse: directory");
        assertFalse(Files.exists(dir.resolve("o.npy")), "no output after a failed validation");
    }

    @Test
    void bf16InputsCannotBeWrittenToNpy() {
        try (Tensor q = RunCommandTest.random(4, 1, 4, DType.BF16, 1)) {
            Path in = dir.resolve("in.safetensors");
            ringattn.io.Safetensors.write(in, java.util.Map.of("q", ArrayData.of(q)));
            CliRun r = CliRun.of("run", "--q", in + ":q", "--k", in + ":q", "--v", in + ":q", "--out",
                    dir.resolve("o.npy").toString());
            assertUsage(r, "--out: NumPy cannot store bf16");
        }
    }

    @Test
    void debugShowsTheStackTrace() {
        CliRun r = CliRun.of("demo", "--bogus", "--debug");
        assertEquals(ExitCode.USAGE, r.code());
        assertTrue(r.err().contains("\tat "), r.toString());
    }

    @Test
    void rankFailuresMapToExitThree() {
        assertEquals(ExitCode.RANK_FAILED, Main.exitCode(new RankFailure(2, "rank 2 failed")));
        assertEquals(ExitCode.RANK_FAILED, Main.exitCode(new RuntimeException(new RankFailedException(1, "h", "gone"))));
        assertEquals(ExitCode.FAILURE, Main.exitCode(new IllegalStateException("bug")));
    }

    @Test
    void helpForEveryCommand() {
        for (String c : new String[] {"demo", "run", "worker", "bench"}) {
            CliRun r = CliRun.of(c, "--help");
            assertEquals(0, r.code(), r.toString());
            assertTrue(r.out().startsWith("usage: ringattn " + c), r.out());
            assertTrue(r.out().contains("--threads"), c + " documents --threads: " + r.out());
        }
        assertEquals(0, CliRun.of("--help").code());
    }
}
