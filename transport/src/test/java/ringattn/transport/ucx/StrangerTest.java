package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import ringattn.engine.transport.RankFailedException;
import ringattn.launch.LocalLauncher;

/**
 * The control plane attacked as a stranger on the same host would (loopback only, a handful of
 * sockets, every wait bounded): it must not be stalled, joined or fooled. Ranks here are bare
 * control planes with synthetic worker addresses (no UCX), so each case takes seconds.
 */
class StrangerTest {
    private static final byte[] ADDRESS_0 = address(0);
    private static final byte[] ADDRESS_1 = address(1);

    private static byte[] address(int salt) {
        byte[] a = new byte[64];
        Arrays.fill(a, (byte) (salt + 7));
        a[0] = 0x02; // the header byte's version nibble, equal on both ranks
        return a;
    }

    private static TransportOptions options(int rank, int port, Duration waitBound) {
        return InProcess.options(rank, 2, port, "tag").withTimeout(Duration.ofSeconds(3)).withWaitBound(waitBound)
                .withHeartbeatInterval(Duration.ofMillis(200));
    }

    private static CompletableFuture<ControlPlane> rank0(int port, Duration waitBound) {
        CompletableFuture<ControlPlane> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                f.complete(ControlPlane.join(options(0, port, waitBound), ADDRESS_0));
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    private static Socket connectWhenUp(int port) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                Socket s = new Socket();
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return s;
            } catch (IOException e) {
                if (System.nanoTime() > end) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }

    private static void closeBoth(ControlPlane member, ControlPlane coordinator) throws Exception {
        Thread t = Thread.ofPlatform().start(member::close);
        coordinator.close();
        t.join(10_000);
    }

    /** Finding 1: six idle sockets and one that trickles a byte every 1.5 s used to stall the join past its bound. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void silentAndTricklingStrangersDoNotStallTheJoin() throws Exception {
        int port = LocalLauncher.freePort();
        CompletableFuture<ControlPlane> zero = rank0(port, Duration.ofSeconds(10));
        List<Socket> idle = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            idle.add(connectWhenUp(port));
        }
        Socket trickler = connectWhenUp(port);
        AtomicBoolean cutOff = new AtomicBoolean();
        Thread trickle = Thread.ofPlatform().daemon().start(() -> {
            try (OutputStream out = trickler.getOutputStream(); InputStream in = trickler.getInputStream()) {
                for (int i = 0; i < 20; i++) {
                    out.write('R');
                    out.flush();
                    Thread.sleep(1500);
                }
            } catch (IOException e) {
                cutOff.set(true);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        ControlPlane one = ControlPlane.join(options(1, port, Duration.ofSeconds(10)), ADDRESS_1);
        ControlPlane coordinator = zero.get(15, TimeUnit.SECONDS);
        assertEquals(2, coordinator.peers().size());
        assertTrue(Arrays.equals(ADDRESS_1, coordinator.peer(1).workerAddress()));
        assertTrue(Arrays.equals(ADDRESS_0, one.peer(0).workerAddress()));
        closeBoth(one, coordinator);
        trickle.join(20_000);
        assertTrue(cutOff.get(), "the trickling stranger was never cut off");
        for (Socket s : idle) {
            s.close();
        }
    }

    /** Finding 2: a job of several ranks without a secret is refused unless asked for. */
    @Test
    void noSecretMeansNoJobUnlessInsecure() {
        TransportOptions open = TransportOptions.defaults().withRank(0, 2).withCoordinator("127.0.0.1:1")
                .withDefaultsFrom(java.util.Map.of());
        ConfigurationException e = assertThrows(ConfigurationException.class, open::validate);
        assertTrue(e.getMessage().startsWith("secret: a job of 2 ranks needs a job secret"), e.getMessage());
        assertTrue(e.getMessage().contains("--insecure"), e.getMessage());
        open.withInsecure(true).validate();
        TransportOptions.fromEnvironment(java.util.Map.of("RINGATTN_RANK", "0", "RINGATTN_WORLD_SIZE", "2",
                "RINGATTN_COORDINATOR", "127.0.0.1:1", "RINGATTN_INSECURE", "1")).validate();
    }

    /** Finding 2: a rank with the key but a malformed UCX worker address is refused before UCX sees it. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void malformedWorkerAddressIsRefusedAndTheJobGoesOn() throws Exception {
        int port = LocalLauncher.freePort();
        CompletableFuture<ControlPlane> zero = rank0(port, Duration.ofSeconds(20));
        byte[] junk = new byte[64];
        new java.util.Random(1).nextBytes(junk);
        junk[0] = 0x0f; // not this UCX's address version
        String refusal = joinAsStranger(port, "inproc", new ControlMessage.Join(1, 2, "", "stranger", junk));
        assertTrue(refusal.contains("malformed UCX worker address"), refusal);
        ControlPlane one = ControlPlane.join(options(1, port, Duration.ofSeconds(20)), ADDRESS_1);
        closeBoth(one, zero.get(15, TimeUnit.SECONDS));
    }

    /** Finding 8: a rank of another job (other world size, or another job id) is refused; the job goes on. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void mismatchedJoinsAreRefusedAndTheCoordinatorKeepsAccepting() throws Exception {
        int port = LocalLauncher.freePort();
        CompletableFuture<ControlPlane> zero = rank0(port, Duration.ofSeconds(20));
        String refusal = joinAsStranger(port, "inproc", new ControlMessage.Join(1, 3, "", "other-job", ADDRESS_1));
        assertTrue(refusal.startsWith("worldSize: rank 1 on other-job has 3, rank 0 has 2"), refusal);
        refusal = joinAsStranger(port, "inproc", new ControlMessage.Join(1, 2, "heads=8", "other-job", ADDRESS_1));
        assertTrue(refusal.startsWith("jobParams: rank 1 on other-job has 'heads=8'"), refusal);
        try (Socket s = connectWhenUp(port)) {
            s.setSoTimeout(5000);
            assertThrows(Handshake.OtherJobException.class, () -> Handshake.connect(s,
                    new Handshake.JobKey("s3cret".getBytes(), "another-job"), "test"));
        }
        ControlPlane one = ControlPlane.join(options(1, port, Duration.ofSeconds(20)), ADDRESS_1);
        ControlPlane coordinator = zero.get(15, TimeUnit.SECONDS);
        assertEquals(null, coordinator.failure());
        closeBoth(one, coordinator);
    }

    /** Finding 3: a relay without the secret injects a forged FAIL frame after the handshake. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void forgedFrameFromARelayIsNotBelieved() throws Exception {
        int port = LocalLauncher.freePort();
        CompletableFuture<ControlPlane> zero = rank0(port, Duration.ofSeconds(20));
        connectWhenUp(port).close();
        try (Relay relay = new Relay(port)) {
            ControlPlane one = ControlPlane.join(options(1, relay.port(), Duration.ofSeconds(20)), ADDRESS_1);
            ControlPlane coordinator = zero.get(15, TimeUnit.SECONDS);
            byte[] payload = new ControlMessage.Fail(2, "nowhere", "FORGED by a relay").encode();
            relay.injectTowardsCoordinator(payload);
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (coordinator.failure() == null && System.nanoTime() < end) {
                Thread.sleep(10);
            }
            RankFailedException f = coordinator.failure();
            assertNotNull(f, "the forged frame went unnoticed");
            assertFalse(f.getMessage().contains("FORGED"), f.getMessage());
            assertEquals(1, f.failedRank());
            // The injected bytes land between or inside the rank's frames: either way the MAC fails.
            assertTrue(f.getMessage().contains("failed authentication") || f.getMessage().contains("control frame of"),
                    f.getMessage());
            one.close();
            coordinator.close();
        }
    }

    /** Finding 7: a member that goes silent is reported within the failure bound, not the wait bound. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void silentMemberIsReportedWithinTheFailureBound() throws Exception {
        int port = LocalLauncher.freePort();
        CompletableFuture<ControlPlane> zero = rank0(port, Duration.ofSeconds(120));
        try (Socket s = connectWhenUp(port)) {
            s.setSoTimeout(10_000);
            ControlChannel c = Handshake.connect(s, new Handshake.JobKey("s3cret".getBytes(), "inproc"), "test");
            c.send(new ControlMessage.Join(1, 2, "", "frozen", ADDRESS_1));
            assertTrue(c.receive() instanceof ControlMessage.Table);
            ControlPlane coordinator = zero.get(15, TimeUnit.SECONDS);
            long joined = System.nanoTime();
            // This member never sends a heartbeat (a stopped process).
            long end = joined + TimeUnit.SECONDS.toNanos(30);
            while (coordinator.failure() == null && System.nanoTime() < end) {
                Thread.sleep(20);
            }
            RankFailedException f = coordinator.failure();
            assertNotNull(f, "a silent rank was not reported within 30 s (failure bound 3 s, wait bound 120 s)");
            assertTrue(f.getMessage().contains("no heartbeat for PT3S"), f.getMessage());
            coordinator.close();
        }
    }

    /** Handshakes with the right key, sends {@code join}, returns the coordinator's refusal. */
    private static String joinAsStranger(int port, String job, ControlMessage.Join join) throws Exception {
        try (Socket s = connectWhenUp(port)) {
            s.setSoTimeout(10_000);
            ControlChannel c = Handshake.connect(s, new Handshake.JobKey("s3cret".getBytes(), job), "test");
            c.send(join);
            ControlMessage m = c.receive();
            assertTrue(m instanceof ControlMessage.Refused, String.valueOf(m));
            return ((ControlMessage.Refused) m).reason();
        }
    }

    /** A TCP relay between one rank and the coordinator that can inject bytes. */
    private static final class Relay implements AutoCloseable {
        private final ServerSocket server = new ServerSocket(0, 4, java.net.InetAddress.getLoopbackAddress());
        private volatile OutputStream towardsCoordinator;
        private final List<Socket> sockets = new ArrayList<>();

        Relay(int coordinatorPort) throws IOException {
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    Socket in = server.accept();
                    Socket out = new Socket("127.0.0.1", coordinatorPort);
                    sockets.add(in);
                    sockets.add(out);
                    towardsCoordinator = out.getOutputStream();
                    Thread.ofPlatform().daemon().start(() -> pump(in, out));
                    pump(out, in);
                } catch (IOException e) {
                    // closed
                }
            });
        }

        int port() {
            return server.getLocalPort();
        }

        private void pump(Socket from, Socket to) {
            byte[] buf = new byte[8192];
            try (InputStream in = from.getInputStream()) {
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buf)) > 0) {
                    synchronized (this) {
                        out.write(buf, 0, n);
                        out.flush();
                    }
                }
            } catch (IOException e) {
                // closed
            }
        }

        /** A whole frame with a made-up MAC, written between the rank's own frames. */
        void injectTowardsCoordinator(byte[] payload) throws IOException {
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            java.io.DataOutputStream d = new java.io.DataOutputStream(b);
            d.writeInt(payload.length);
            d.write(payload);
            d.write(new byte[32]);
            synchronized (this) {
                towardsCoordinator.write(b.toByteArray());
                towardsCoordinator.flush();
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (Socket s : sockets) {
                s.close();
            }
        }
    }
}
