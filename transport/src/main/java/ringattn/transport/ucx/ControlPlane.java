package ringattn.transport.ucx;

import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

import ringattn.engine.transport.RankFailedException;
import ringattn.engine.transport.TransportException;
import ringattn.transport.ucx.ControlMessage.Peer;

/**
 * The job's control plane: authenticated TCP connections ({@link ControlChannel}) in a star
 * around rank 0. It runs the bootstrap ({@link Coordinator} on rank 0, {@link Member} on the
 * others, optionally through the {@link Rendezvous} directory), small collectives (all-gather,
 * barrier) and failure detection: heartbeats both ways every {@code heartbeatInterval}, a read
 * deadline of {@code timeout} on every connection, and rank 0 broadcasting the first failure it
 * sees to every other rank. A killed process closes its sockets at once, so its death is seen
 * within milliseconds; a stopped or unreachable one within {@code timeout}.
 *
 * <p>Thread-safety: {@link #allGather} and {@link #abort} from the rank's threads; the readers and
 * the heartbeat are its own daemon threads.
 */
final class ControlPlane implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("ringattn.transport.ucx");

    private final TransportOptions options;
    private final int rank;
    private final int worldSize;
    private final Duration timeout;
    private Handshake.JobKey key;
    private final Pmix pmix; // null unless the launcher's PMIx server does the address exchange
    private List<Peer> peers;
    private int tagSalt;
    private final List<ControlChannel> members = new CopyOnWriteArrayList<>(); // rank 0 only
    private ControlChannel hub; // ranks > 0
    private Rendezvous rendezvous;
    private Thread heartbeat;
    private final FailureState failures = new FailureState();
    private final Map<Integer, CompletableFuture<List<byte[]>>> results = new ConcurrentHashMap<>();
    private final Map<Integer, Gather> gathers = new ConcurrentHashMap<>(); // rank 0 only
    private volatile boolean closing;
    private boolean declared; // guarded by this
    private int collectives;

    private ControlPlane(TransportOptions options, Pmix pmix) {
        this.pmix = pmix;
        this.options = options;
        this.rank = options.rank();
        this.worldSize = options.worldSize();
        this.timeout = options.timeout();
        this.key = new Handshake.JobKey(options.secretBytes(), options.jobId());
        failures.listen(f -> results.values().forEach(r -> r.completeExceptionally(f)));
    }

    /**
     * Joins the job: rank 0 serves, the others connect; returns once every rank's table entry is
     * known. Fails within {@code waitBound} with a {@link RankFailedException} naming the missing
     * rank, or a {@link ConfigurationException} when this rank was refused.
     */
    static ControlPlane join(TransportOptions options, byte[] workerAddress) {
        return join(options, workerAddress, null);
    }

    /** {@link #join(TransportOptions, byte[])} with the address exchange through {@code pmix} (null: none). */
    static ControlPlane join(TransportOptions options, byte[] workerAddress, Pmix pmix) {
        ControlPlane cp = new ControlPlane(options, pmix);
        try {
            cp.bootstrap(workerAddress);
            return cp;
        } catch (RuntimeException e) {
            cp.closeQuietly();
            throw e;
        }
    }

    List<Peer> peers() {
        return peers;
    }

    Peer peer(int r) {
        return peers.get(r);
    }

    /** A random number every rank of this job shares (rank 0 drew it), for the data path's tags. */
    int tagSalt() {
        return tagSalt;
    }

    /** Called once with the first failure of any rank (on a control-plane thread). */
    void onFailure(Consumer<RankFailedException> listener) {
        failures.listen(listener);
    }

    RankFailedException failure() {
        return failures.get();
    }

    // ---------------------------------------------------------------- bootstrap

    private void bootstrap(byte[] workerAddress) {
        long deadline = System.nanoTime() + options.waitBound().toNanos();
        Peer self = new Peer(rank, options.host(), workerAddress);
        if (worldSize == 1) {
            peers = List.of(self);
            return;
        }
        if (pmix != null) {
            bootstrapThroughPmix(self, deadline);
            startHeartbeats();
            return;
        }
        if (key.secret().length == 0) {
            LOG.log(Level.WARNING, "ringattn: rank " + rank + ": job '" + options.jobId()
                    + "' runs without a secret (insecure): anyone who reaches the coordinator can join");
        }
        if (options.rendezvousDir() != null) {
            rendezvous = Rendezvous.open(options.rendezvousDir(), key, worldSize);
        }
        if (rank == 0) {
            InetAddress bind = bindAddress(options.bindAddress());
            ServerSocket server = bind(bind, options.coordinator() != null ? options.coordinatorAddress().getPort() : 0);
            if (rendezvous != null) {
                rendezvous.publish(0, self.host(), self.workerAddress(), bind.getHostAddress() + ":" + server.getLocalPort());
            }
            serve(server, self, deadline);
        } else {
            joinAsMember(options, self, deadline);
        }
        startHeartbeats();
    }

    private void joinAsMember(TransportOptions o, Peer self, long deadline) {
        Member.Joined j = new Member(o, key, rendezvous).join(self, deadline);
        hub = j.hub();
        peers = j.table().peers();
        tagSalt = j.table().tagSalt();
        hub.reader = Thread.ofPlatform().daemon().name("ringattn-control-hub").start(() -> read(hub));
    }

    /** PMIx keys rank 0 publishes: its control endpoint, and the job key when none was configured. */
    static final String PMIX_CONTROL = "ringattn.control";
    static final String PMIX_SECRET = "ringattn.secret";

    /**
     * The launcher's PMIx server carries rank 0's control endpoint (an ephemeral port: no two jobs
     * collide) and, without a configured secret, a fresh random one (so nobody has to distribute
     * one); the rest is the usual authenticated join.
     */
    private void bootstrapThroughPmix(Peer self, long deadline) {
        boolean configured = key.secret().length > 0;
        if (rank == 0) {
            InetAddress bind = bindAddress(options.bindAddress());
            String published;
            if (!pmix.allLocal() && bind.isLoopbackAddress()) {
                bind = bindAddress("0.0.0.0"); // ranks on other hosts must reach it; the job key guards it
            }
            ServerSocket server = bind(bind, 0);
            published = (bind.isAnyLocalAddress() ? TransportOptions.localHostName() : bind.getHostAddress())
                    + ":" + server.getLocalPort();
            if (!configured) {
                String secret = java.util.HexFormat.of().formatHex(Handshake.nonce()) + java.util.HexFormat.of().formatHex(Handshake.nonce());
                key = new Handshake.JobKey(secret.getBytes(java.nio.charset.StandardCharsets.UTF_8), options.jobId());
                pmix.put(PMIX_SECRET, secret);
            }
            pmix.put(PMIX_CONTROL, published);
            pmix.commitAndFence();
            serve(server, self, deadline);
        } else {
            pmix.commitAndFence();
            String endpoint = pmix.getString(0, PMIX_CONTROL);
            if (!configured) {
                key = new Handshake.JobKey(pmix.getString(0, PMIX_SECRET).getBytes(java.nio.charset.StandardCharsets.UTF_8),
                        options.jobId());
            }
            joinAsMember(options.withCoordinator(endpoint), self, deadline);
        }
    }

    private ServerSocket bind(InetAddress bind, int port) {
        ServerSocket server;
        try {
            server = new ServerSocket();
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(bind, port), 64);
        } catch (IOException e) {
            String why = "coordinator: cannot bind " + bind.getHostAddress() + ":" + port + ": " + e.getMessage();
            if (port != 0 && e instanceof java.net.BindException) { // the job's configuration: its port is taken
                throw new ConfigurationException(why + " (another job on this port? give each job its own port, or "
                        + "let PMIx or a rendezvous directory choose one)", e);
            }
            throw new TransportException(why, e);
        }
        return server;
    }

    private void serve(ServerSocket server, Peer self, long deadline) {
        Coordinator.Joined joined = new Coordinator(options, key, server, self).await(deadline,
                this::whyMissing);
        peers = joined.peers();
        tagSalt = Handshake.randomInt();
        ControlMessage.Table table = new ControlMessage.Table(peers, tagSalt);
        for (int r = 1; r < worldSize; r++) {
            ControlChannel c = joined.channels()[r];
            try {
                c.send(table);
                c.socket().setSoTimeout((int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
            } catch (IOException e) {
                joined.channels()[r].close();
                throw new RankFailedException(r, peers.get(r).host(), "connection lost during bootstrap: " + e.getMessage());
            }
            members.add(c);
        }
        for (ControlChannel c : members) {
            c.reader = Thread.ofPlatform().daemon().name("ringattn-control-rank" + c.peerRank).start(() -> read(c));
        }
    }

    /** What the rendezvous directory says of a rank that has not joined, or null without one. */
    private String whyMissing(int r) {
        if (rendezvous == null) {
            return null;
        }
        String problem = rendezvous.read(r).problem();
        return problem == null ? "entry written, did not connect" : problem;
    }

    /** An address, a host name or an interface name (e.g. eth0: its first IPv4 address). */
    static InetAddress bindAddress(String name) {
        try {
            java.net.NetworkInterface nif = java.net.NetworkInterface.getByName(name);
            if (nif != null) {
                return nif.inetAddresses().filter(a -> a instanceof java.net.Inet4Address).findFirst()
                        .or(() -> nif.inetAddresses().findFirst())
                        .orElseThrow(() -> new ConfigurationException("bindAddress: interface " + name + " has no address"));
            }
        } catch (java.net.SocketException e) {
            // not an interface name
        }
        try {
            return InetAddress.getByName(name);
        } catch (IOException e) {
            throw new ConfigurationException("bindAddress: '" + Messages.cut(name)
                    + "' is neither an interface nor a resolvable address: " + e.getMessage(), e);
        }
    }

    // ---------------------------------------------------------------- running

    private void startHeartbeats() {
        long periodMs = options.heartbeatInterval().toMillis();
        ControlMessage.Heartbeat hb = new ControlMessage.Heartbeat();
        heartbeat = Thread.ofPlatform().daemon().name("ringattn-heartbeat").start(() -> {
            while (!closing) {
                try {
                    Thread.sleep(periodMs);
                } catch (InterruptedException e) {
                    return;
                }
                if (hub != null) {
                    hub.sendQuietly(hb);
                }
                for (ControlChannel c : members) {
                    if (!c.gone) {
                        c.sendQuietly(hb);
                    }
                }
            }
        });
    }

    /** Reads one connection's frames until its peer says goodbye, dies or goes silent. */
    private void read(ControlChannel c) {
        int peer = c.peerRank;
        String host = peers.get(peer).host();
        try {
            while (true) {
                switch (c.receive()) {
                    case ControlMessage.Heartbeat h -> {
                    }
                    case ControlMessage.Gather g when rank == 0 -> contribute(g.seq(), peer, g.part());
                    case ControlMessage.Gathered g when rank != 0 -> {
                        if (g.parts().size() != worldSize) {
                            throw new IOException("all-gather result with " + g.parts().size() + " parts");
                        }
                        results.computeIfAbsent(g.seq(), k -> new CompletableFuture<>()).complete(g.parts());
                    }
                    case ControlMessage.Fail f when rank == 0 -> declareFailed(peer, host, Messages.cut(f.reason(), Messages.MAX_REASON));
                    case ControlMessage.Fail f -> failures.set(new RankFailedException(f.rank(), Messages.cut(f.host()),
                            Messages.cut(f.reason(), Messages.MAX_REASON)));
                    case ControlMessage.Bye y -> {
                        c.gone = true;
                        c.close();
                        return;
                    }
                    case ControlMessage m -> throw new IOException("unexpected " + m.getClass().getSimpleName() + " frame");
                }
            }
        } catch (SocketTimeoutException e) {
            if (!c.gone && !closing) {
                lost(peer, host, "no heartbeat for " + timeout);
            }
        } catch (IOException | RuntimeException e) {
            if (!c.gone && !closing) {
                lost(peer, host, (peer == 0 && rank != 0 ? "coordinator " : "") + "process exited or connection lost ("
                        + (e instanceof EOFException ? "closed" : Messages.cut(e.getMessage())) + ")");
            }
        } finally {
            c.gone = true;
            c.close();
        }
    }

    private void lost(int peer, String host, String why) {
        if (rank == 0) {
            declareFailed(peer, host, why);
        } else {
            failures.set(new RankFailedException(peer, host, why));
        }
    }

    /**
     * Rank 0: tells every other rank about the first failure, then records it here. In that order:
     * recording it wakes this rank's own waits, and its process may exit at once, closing the
     * connections before the news went out (the others would then blame rank 0).
     */
    private void declareFailed(int failed, String host, String reason) {
        boolean first;
        synchronized (this) {
            first = failures.get() == null && !declared;
            declared = true;
        }
        if (first) {
            ControlMessage.Fail f = new ControlMessage.Fail(failed, host, reason);
            for (ControlChannel c : members) {
                if (!c.gone && c.peerRank != failed) {
                    c.sendQuietly(f);
                }
            }
        }
        failures.set(new RankFailedException(failed, host, reason));
    }

    /** This rank gives up (its own error): every other rank fails naming it. */
    void abort(String reason) {
        if (worldSize == 1 || failures.get() != null || peers == null) {
            return;
        }
        if (rank == 0) {
            declareFailed(0, options.host(), reason);
        } else {
            hub.sendQuietly(new ControlMessage.Fail(rank, options.host(), reason));
            failures.set(new RankFailedException(rank, options.host(), reason));
        }
    }

    // ---------------------------------------------------------------- collectives

    private static final class Gather {
        final byte[][] parts;
        int arrived;

        Gather(int n) {
            parts = new byte[n][];
        }
    }

    /** Rank 0: adds one rank's part; on the last one sends the result to everyone. */
    private void contribute(int seq, int from, byte[] part) {
        List<byte[]> done = null;
        Gather g = gathers.computeIfAbsent(seq, k -> new Gather(worldSize));
        synchronized (g) {
            if (g.parts[from] == null) {
                g.parts[from] = part;
                if (++g.arrived == worldSize) {
                    done = List.of(g.parts);
                    gathers.remove(seq);
                }
            }
        }
        if (done != null) {
            ControlMessage.Gathered m = new ControlMessage.Gathered(seq, done);
            for (ControlChannel c : members) {
                if (!c.gone) {
                    c.sendQuietly(m);
                }
            }
            results.computeIfAbsent(seq, k -> new CompletableFuture<>()).complete(done);
        }
    }

    /** Every rank's bytes by rank; collectives are numbered in call order on every rank. */
    byte[][] allGather(byte[] local, Duration wait) {
        RankFailedException f = failures.get();
        if (f != null) {
            throw f;
        }
        int seq = collectives++;
        if (worldSize == 1) {
            return new byte[][] {local.clone()};
        }
        CompletableFuture<List<byte[]>> result = results.computeIfAbsent(seq, k -> new CompletableFuture<>());
        if (failures.get() != null) {
            result.completeExceptionally(failures.get());
        }
        if (rank == 0) {
            contribute(seq, 0, local.clone());
        } else if (!hub.sendQuietly(new ControlMessage.Gather(seq, local))) {
            failures.await(Duration.ofSeconds(2));
            throw failures.get() != null ? failures.get()
                    : new RankFailedException(0, peers.get(0).host(), "cannot reach the coordinator");
        }
        try {
            List<byte[]> parts = result.get(wait.toNanos(), TimeUnit.NANOSECONDS);
            byte[][] out = new byte[worldSize][];
            for (int r = 0; r < worldSize; r++) {
                out[r] = parts.get(r) == null ? new byte[0] : parts.get(r).clone();
            }
            return out;
        } catch (TimeoutException e) {
            if (rank == 0) {
                int missing = missingPart(seq);
                if (missing >= 0) {
                    declareFailed(missing, peers.get(missing).host(), "did not reach collective #" + seq + " within " + wait);
                }
            } else {
                failures.await(Duration.ofMillis(Math.min(2000, wait.toMillis())));
            }
            if (failures.get() != null) {
                throw failures.get();
            }
            throw new RankFailedException(0, peers.get(0).host(), "collective #" + seq + " not completed within " + wait);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof TransportException te ? te : new TransportException(String.valueOf(e.getCause()), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException("interrupted in collective #" + seq, e);
        } finally {
            results.remove(seq);
        }
    }

    private int missingPart(int seq) {
        Gather g = gathers.get(seq);
        if (g == null) {
            return -1;
        }
        synchronized (g) {
            for (int r = 0; r < worldSize; r++) {
                if (g.parts[r] == null) {
                    return r;
                }
            }
        }
        return -1;
    }

    // ---------------------------------------------------------------- leaving

    /**
     * Leaves the job. Rank 0 first waits (up to {@code waitBound}) for every other rank to leave,
     * so that no rank still working sees the coordinator vanish.
     */
    @Override
    public void close() {
        if (closing) {
            return;
        }
        if (rank != 0 && rendezvous != null) {
            rendezvous.remove(false); // before the goodbye, so that rank 0 finds the job directory empty
        }
        if (rank == 0 && !members.isEmpty() && failures.get() == null) {
            long end = System.nanoTime() + options.waitBound().toNanos();
            while (System.nanoTime() < end && failures.get() == null && members.stream().anyMatch(c -> !c.gone)) {
                Member.pause(5);
            }
        }
        closing = true;
        if (hub != null) {
            hub.sendQuietly(new ControlMessage.Bye());
        }
        closeQuietly();
    }

    private void closeQuietly() {
        closing = true;
        if (heartbeat != null) {
            heartbeat.interrupt();
        }
        if (hub != null) {
            hub.close();
        }
        for (ControlChannel c : members) {
            c.gone = true;
            c.close();
        }
        if (rendezvous != null) {
            rendezvous.remove(rank == 0);
        }
        if (pmix != null) {
            try {
                pmix.close();
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "ringattn: rank " + rank + ": PMIx_Finalize: " + e.getMessage());
            }
        }
    }

    /** The first failure of any rank and who wants to hear of it. Thread-safe. */
    private static final class FailureState {
        private volatile RankFailedException failure;
        private final List<Consumer<RankFailedException>> listeners = new CopyOnWriteArrayList<>();

        RankFailedException get() {
            return failure;
        }

        void listen(Consumer<RankFailedException> l) {
            listeners.add(l);
            RankFailedException f = failure;
            if (f != null) {
                l.accept(f);
            }
        }

        void set(RankFailedException f) {
            synchronized (this) {
                if (failure != null) {
                    return;
                }
                failure = f;
            }
            for (Consumer<RankFailedException> l : listeners) {
                try {
                    l.accept(f);
                } catch (RuntimeException ignored) {
                    // a listener must not stop the others
                }
            }
        }

        void await(Duration d) {
            long end = System.nanoTime() + d.toNanos();
            while (failure == null && System.nanoTime() < end) {
                Member.pause(10);
            }
        }
    }
}
