package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import ringattn.launch.LocalLauncher;

/**
 * Two "hosts": network namespaces joined by a veth pair, UCX over TCP on the veth (the namespaces
 * share IPC, so UCX would otherwise use shared memory). Needs root and {@code ip netns}; skipped
 * with the reason otherwise. The namespaces are always deleted afterwards.
 */
class NetnsTest {
    private static final String TAG = Long.toString(ProcessHandle.current().pid() % 100000);
    private static final String NS_A = "ra-a-" + TAG;
    private static final String NS_B = "ra-b-" + TAG;
    private static final String VETH_A = "rva" + TAG;
    private static final String VETH_B = "rvb" + TAG;
    private static final String ADDR_A = "10.77.0.1";
    private static final String ADDR_B = "10.77.0.2";
    private static boolean created;

    @BeforeAll
    static void createNamespaces() throws Exception {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
                "network namespaces need root (running as " + System.getProperty("user.name") + ")");
        String probe = ip("netns", "add", NS_A);
        Assumptions.assumeTrue(probe == null, "ip netns add does not work here: " + probe);
        created = true;
        for (String[] cmd : new String[][] {
            {"netns", "add", NS_B},
            {"link", "add", VETH_A, "type", "veth", "peer", "name", VETH_B},
            {"link", "set", VETH_A, "netns", NS_A},
            {"link", "set", VETH_B, "netns", NS_B},
            {"-n", NS_A, "addr", "add", ADDR_A + "/24", "dev", VETH_A},
            {"-n", NS_B, "addr", "add", ADDR_B + "/24", "dev", VETH_B},
            {"-n", NS_A, "link", "set", VETH_A, "up"},
            {"-n", NS_B, "link", "set", VETH_B, "up"},
            {"-n", NS_A, "link", "set", "lo", "up"},
            {"-n", NS_B, "link", "set", "lo", "up"},
        }) {
            String err = ip(cmd);
            if (err != null) {
                deleteNamespaces();
                Assumptions.abort("setting up the namespaces failed: ip " + String.join(" ", cmd) + ": " + err);
            }
        }
    }

    @AfterAll
    static void deleteNamespaces() throws Exception {
        if (created) {
            ip("netns", "del", NS_A); // deleting a namespace deletes its veth end, and with it the pair
            ip("netns", "del", NS_B);
            created = false;
        }
    }

    /** Runs ip with the arguments; null on success, else its error output. */
    private static String ip(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            return e.getMessage();
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return "timed out";
        }
        return p.exitValue() == 0 ? null : out.trim();
    }

    private static Jobs.Outcome run(List<String> args) {
        int port = 20000 + (int) (ProcessHandle.current().pid() % 20000);
        Map<String, String> env = Map.of("RINGATTN_TIMEOUT", "5", "RINGATTN_COORDINATOR", ADDR_A + ":" + port,
                "UCX_TLS", "tcp");
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(RotationWorker.class.getName(), args, env,
                Duration.ofSeconds(60)).withFailureGrace(Duration.ofSeconds(15)).withRankPrefix(r -> List.of(
                        "ip", "netns", "exec", r == 0 ? NS_A : NS_B, "env",
                        "UCX_NET_DEVICES=" + (r == 0 ? VETH_A : VETH_B),
                        "RINGATTN_BIND=" + (r == 0 ? ADDR_A : ADDR_B),
                        "RINGATTN_HOST=" + (r == 0 ? "host-a" : "host-b")));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        LocalLauncher.Result r = LocalLauncher.run(spec, 2, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        Jobs.Outcome o = new Jobs.Outcome(r, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        System.out.println(r + "\n" + o.all());
        return o;
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void twoHostsOverTcpRotateEveryBlockIntact() {
        Jobs.Outcome o = run(List.of(RingRotationTest.SIZES));
        assertTrue(o.result().succeeded(), o.all());
        assertTrue(o.out().contains("[rank 0] OK rank 0 checked " + RingRotationTest.SIZE_COUNT + " blocks"), o.all());
        assertTrue(o.out().contains("[rank 1] OK rank 1 checked " + RingRotationTest.SIZE_COUNT + " blocks"), o.all());
        assertTrue(o.err().contains("[rank 1] rank 1/2 pid ") && o.err().contains(" host host-b"), o.all());
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void rankKilledOnTheOtherHostIsNamedWithItsHost() {
        Jobs.Outcome o = run(List.of("4096,1048576,4096,1048576", "kill:1:2"));
        assertTrue(o.err().contains("[rank 0] FAILED after"), o.all());
        assertTrue(o.err().contains("RankFailedException rank=1 host=host-b"), o.all());
        assertEquals(3, o.result().exitCodes().get(0));
    }
}
