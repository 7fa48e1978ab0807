package ringattn.transport.ucx;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import ringattn.engine.transport.RankFailedException;
import ringattn.engine.transport.TransportException;

/**
 * The job's control plane: small TCP connections in a star around rank 0 (the coordinator). It
 * runs the bootstrap (HMAC challenge on the job secret, job-parameter checks, the table of hosts
 * and UCX worker addresses), small collectives (all-gather, barrier) and failure detection:
 * heartbeats both ways every {@code heartbeatInterval}, a read deadline of {@code timeout} on every
 * connection, and rank 0 broadcasting the first failure it sees to every other rank. A killed
 * process closes its sockets at once, so its death is seen within milliseconds; a stopped or
 * unreachable one within {@code timeout}.
 */
final class ControlPlane implements AutoCloseable {
    /** One rank's entry in the job table. */
    record Peer(int rank, String host, byte[] workerAddress) {
    }

    private static final byte[] MAGIC = "RATT1\n".getBytes(StandardCharsets.US_ASCII);
    private static final int HB = 1;
    private static final int GATHER = 2;
    private static final int GATHERED = 3;
    private static final int FAIL = 4;
    private static final int BYE = 5;
    private static final int ERROR = 6;
    private static final int TABLE = 7;
    private static final int JOIN = 8;

    private final TransportOptions options;
    private final int rank;
    private final int worldSize;
    private final byte[] secret;
    private final Duration timeout;
    private List<Peer> peers;
    private final List<Conn> clients = new CopyOnWriteArrayList<>(); // rank 0 only, index = rank - 1 after join
    private Conn hub; // ranks > 0
    private ServerSocket server;
    private Path rendezvousFile;
    private Path rendezvousJobDir;
    private Thread heartbeat;
    private final Map<Integer, CompletableFuture<byte[][]>> results = new ConcurrentHashMap<>();
    private final Map<Integer, Gather> gathers = new ConcurrentHashMap<>(); // rank 0 only
    private volatile RankFailedException failure;
    private final List<Consumer<RankFailedException>> failureListeners = new CopyOnWriteArrayList<>();
    private volatile boolean closing;
    private boolean declared; // guarded by this
    private int collectives;

    private ControlPlane(TransportOptions options) {
        this.options = options;
        this.rank = options.rank();
        this.worldSize = options.worldSize();
        this.secret = options.secretBytes();
        this.timeout = options.timeout();
    }

    /**
     * Joins the job: rank 0 serves, the others connect; returns once every rank's table entry is
     * known. Fails with a {@link TransportException} naming the problem within {@code timeout}.
     */
    static ControlPlane join(TransportOptions options, byte[] workerAddress) {
        ControlPlane cp = new ControlPlane(options);
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

    /** Called once with the first failure of any rank (on a control-plane thread). */
    void onFailure(Consumer<RankFailedException> listener) {
        failureListeners.add(listener);
        RankFailedException f = failure;
        if (f != null) {
            listener.accept(f);
        }
    }

    RankFailedException failure() {
        return failure;
    }

    // ---------------------------------------------------------------- bootstrap

    private void bootstrap(byte[] workerAddress) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Peer self = new Peer(rank, options.host(), workerAddress);
        if (worldSize == 1) {
            peers = List.of(self);
            return;
        }
        if (options.rendezvousDir() != null) {
            prepareRendezvousDir();
        }
        if (rank == 0) {
            serve(self, deadline);
        } else {
            connect(self, deadline);
        }
        startHeartbeats();
    }

    private void prepareRendezvousDir() {
        Path dir = options.rendezvousDir().resolve(options.jobId());
        try {
            Files.createDirectories(dir);
        } catch (IOException | SecurityException e) {
            throw new TransportException("rendezvousDir: cannot create " + dir + ": " + e, e);
        }
        if (!Files.isWritable(dir)) {
            throw new TransportException("rendezvousDir: " + dir + " is not writable");
        }
        rendezvousJobDir = dir;
    }

    /** Writes this rank's entry atomically (temp file + rename); the secret only as an HMAC. */
    private void writeEntry(String controlEndpoint, byte[] workerAddress) {
        Properties p = new Properties();
        p.setProperty("rank", Integer.toString(rank));
        p.setProperty("worldSize", Integer.toString(worldSize));
        p.setProperty("host", options.host());
        p.setProperty("pid", Long.toString(ProcessHandle.current().pid()));
        p.setProperty("worker", Base64.getEncoder().encodeToString(workerAddress));
        if (controlEndpoint != null) {
            p.setProperty("control", controlEndpoint);
        }
        p.setProperty("mac", entryMac(p));
        Path file = rendezvousJobDir.resolve("rank-" + rank);
        Path tmp = rendezvousJobDir.resolve(".rank-" + rank + ".tmp-" + ProcessHandle.current().pid());
        try {
            try (var out = Files.newOutputStream(tmp)) {
                p.store(out, "ringattn rendezvous entry");
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            rendezvousFile = file;
        } catch (IOException | SecurityException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort
            }
            throw new TransportException("rendezvousDir: cannot write " + file + ": " + e, e);
        }
    }

    private String entryMac(Properties p) {
        StringBuilder sb = new StringBuilder(options.jobId());
        for (String k : new String[] {"rank", "worldSize", "host", "pid", "worker", "control"}) {
            sb.append('\n').append(k).append('=').append(p.getProperty(k, ""));
        }
        return Base64.getEncoder().encodeToString(hmac(sb.toString().getBytes(StandardCharsets.UTF_8)));
    }

    private Properties readEntry(int r) {
        Path file = rendezvousJobDir.resolve("rank-" + r);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        Properties p = new Properties();
        try (var in = Files.newInputStream(file)) {
            p.load(in);
            return p;
        } catch (IOException e) {
            return null;
        }
    }

    private void serve(Peer self, long deadline) {
        InetAddress bind = bindAddress(options.bindAddress());
        int port = options.coordinator() != null ? options.coordinatorAddress().getPort() : 0;
        try {
            server = new ServerSocket();
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(bind, port), worldSize);
        } catch (IOException e) {
            throw new TransportException("coordinator: cannot bind " + bind.getHostAddress() + ":" + port + ": " + e, e);
        }
        String endpoint = bind.getHostAddress() + ":" + server.getLocalPort();
        if (rendezvousJobDir != null) {
            writeEntry(endpoint, self.workerAddress());
        }
        Conn[] byRank = new Conn[worldSize];
        Peer[] table = new Peer[worldSize];
        table[0] = self;
        int joined = 1;
        List<String> refusals = new ArrayList<>();
        try {
            while (joined < worldSize) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw joinTimeout(table, refusals);
                }
                server.setSoTimeout((int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(left))));
                Socket s;
                try {
                    s = server.accept();
                } catch (SocketTimeoutException e) {
                    continue;
                }
                Conn c = new Conn(s);
                try {
                    s.setSoTimeout(2000); // a real rank answers the challenge at once; a stray must not stall the join
                    if (!serverHandshake(c)) {
                        String why = "refused a connection from " + s.getRemoteSocketAddress() + ": wrong job secret";
                        refusals.add(why);
                        System.err.println("ringattn: rank 0: " + why);
                        c.closeQuietly();
                        continue;
                    }
                    if (c.in.readInt() != JOIN) {
                        throw new IOException("expected JOIN");
                    }
                    int r = c.in.readInt();
                    int n = c.in.readInt();
                    String job = c.in.readUTF();
                    String params = c.in.readUTF();
                    String host = c.in.readUTF();
                    byte[] addr = readBytes(c.in);
                    String problem = null;
                    if (n != worldSize) {
                        problem = "worldSize: rank " + r + " on " + host + " has " + n + ", rank 0 has " + worldSize;
                    } else if (r < 1 || r >= worldSize) {
                        problem = "rank: " + r + " from " + host + " is out of range [1, " + worldSize + ")";
                    } else if (!job.equals(options.jobId())) {
                        problem = "jobId: rank " + r + " on " + host + " has '" + job + "', rank 0 has '" + options.jobId() + "'";
                    } else if (!params.equals(options.jobParams())) {
                        problem = "jobParams: rank " + r + " on " + host + " has '" + params + "', rank 0 has '" + options.jobParams() + "'";
                    } else if (byRank[r] != null) {
                        problem = "rank: " + r + " joined twice (from " + table[r].host() + " and " + host + ")";
                    }
                    if (problem != null) {
                        c.sendError(problem);
                        c.closeQuietly();
                        for (Conn other : byRank) {
                            if (other != null) {
                                other.sendError(problem);
                            }
                        }
                        throw new TransportException(problem);
                    }
                    c.rank = r;
                    byRank[r] = c;
                    table[r] = new Peer(r, host, addr);
                    joined++;
                } catch (IOException e) {
                    // A stray or broken connection: drop it, keep waiting for the real ranks.
                    refusals.add("dropped a connection from " + s.getRemoteSocketAddress() + ": " + e);
                    c.closeQuietly();
                }
            }
            peers = List.of(table);
            for (int r = 1; r < worldSize; r++) {
                Conn c = byRank[r];
                synchronized (c) {
                    c.out.writeInt(TABLE);
                    writeTable(c.out, table);
                    c.out.flush();
                }
                c.socket.setSoTimeout((int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
                clients.add(c);
            }
        } catch (IOException e) {
            throw new TransportException("coordinator: I/O error during bootstrap: " + e, e);
        } finally {
            try {
                server.close();
            } catch (IOException ignored) {
                // nothing to do
            }
        }
        for (Conn c : clients) {
            Thread t = Thread.ofPlatform().daemon().name("ringattn-control-rank" + c.rank).start(() -> serveClient(c));
            c.reader = t;
        }
    }

    /** An address, a host name or an interface name (e.g. eth0: its first IPv4 address). */
    static InetAddress bindAddress(String name) {
        try {
            java.net.NetworkInterface nif = java.net.NetworkInterface.getByName(name);
            if (nif != null) {
                return nif.inetAddresses().filter(a -> a instanceof java.net.Inet4Address).findFirst()
                        .or(() -> nif.inetAddresses().findFirst())
                        .orElseThrow(() -> new TransportException("bindAddress: interface " + name + " has no address"));
            }
        } catch (java.net.SocketException e) {
            // not an interface name
        }
        try {
            return InetAddress.getByName(name);
        } catch (IOException e) {
            throw new TransportException("bindAddress: '" + name + "' is neither an interface nor a resolvable address: " + e, e);
        }
    }

    private TransportException joinTimeout(Peer[] table, List<String> refusals) {
        StringBuilder missing = new StringBuilder();
        for (int r = 0; r < table.length; r++) {
            if (table[r] == null) {
                missing.append(missing.isEmpty() ? "" : ", ").append(r);
                if (rendezvousJobDir != null) {
                    Properties p = readEntry(r);
                    if (p == null) {
                        missing.append(" (no rendezvous entry)");
                    } else if (!entryMac(p).equals(p.getProperty("mac"))) {
                        missing.append(" (its rendezvous entry from ").append(p.getProperty("host"))
                                .append(" is signed with a different job secret)");
                    } else {
                        missing.append(" (entry from ").append(p.getProperty("host")).append(", did not connect)");
                    }
                }
            }
        }
        return new TransportException("bootstrap: ranks " + missing + " did not join within " + timeout
                + (refusals.isEmpty() ? "" : "; " + String.join("; ", refusals)));
    }

    private void connect(Peer self, long deadline) {
        String lastProblem = "no attempt";
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                String where = options.coordinator() != null ? "coordinator: cannot reach " + options.coordinator()
                        : "rendezvousDir: no usable entry of rank 0 in " + rendezvousJobDir;
                throw new TransportException(where + " within " + timeout + " (" + lastProblem + ")");
            }
            InetSocketAddress target;
            if (options.coordinator() != null) {
                InetSocketAddress u = options.coordinatorAddress();
                target = new InetSocketAddress(u.getHostString(), u.getPort());
            } else {
                if (rendezvousFile == null) {
                    writeEntry(null, self.workerAddress());
                }
                Properties p = readEntry(0);
                if (p == null || p.getProperty("control") == null) {
                    lastProblem = "no entry of rank 0 yet";
                    sleep(50);
                    continue;
                }
                String ep = p.getProperty("control");
                int colon = ep.lastIndexOf(':');
                target = new InetSocketAddress(ep.substring(0, colon), Integer.parseInt(ep.substring(colon + 1)));
            }
            if (target.isUnresolved()) {
                lastProblem = "cannot resolve " + target.getHostString();
                sleep(100);
                continue;
            }
            Socket s = new Socket();
            Conn c = null;
            try {
                s.connect(target, (int) Math.max(1, Math.min(1000, TimeUnit.NANOSECONDS.toMillis(left))));
                s.setSoTimeout((int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(left))));
                c = new Conn(s);
                clientHandshake(c);
                synchronized (c) {
                    c.out.writeInt(JOIN);
                    c.out.writeInt(rank);
                    c.out.writeInt(worldSize);
                    c.out.writeUTF(options.jobId());
                    c.out.writeUTF(options.jobParams());
                    c.out.writeUTF(options.host());
                    writeBytes(c.out, self.workerAddress());
                    c.out.flush();
                }
                int type = c.in.readInt();
                if (type == ERROR) {
                    String why = c.in.readUTF();
                    c.closeQuietly();
                    throw new TransportException("coordinator " + target + " refused rank " + rank + ": " + why);
                }
                if (type != TABLE) {
                    throw new IOException("unexpected frame " + type);
                }
                peers = readTable(c.in);
                s.setSoTimeout((int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
                hub = c;
                hub.rank = 0;
                hub.reader = Thread.ofPlatform().daemon().name("ringattn-control-hub").start(this::readHub);
                return;
            } catch (SocketTimeoutException e) {
                lastProblem = "no answer from " + target + " (" + e.getMessage() + ")";
                closeQuietly(c, s);
                if (c != null && c.handshakeDone) {
                    throw new TransportException("coordinator " + target + " accepted rank " + rank
                            + " but sent no job table within " + timeout);
                }
            } catch (IOException e) {
                lastProblem = target + ": " + e.getMessage();
                closeQuietly(c, s);
                sleep(100);
            }
        }
    }

    private static void closeQuietly(Conn c, Socket s) {
        if (c != null) {
            c.closeQuietly();
        }
        try {
            s.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    /** Server side of the HMAC challenge; false when the peer does not know the secret. */
    private boolean serverHandshake(Conn c) throws IOException {
        byte[] nonceS = nonce();
        c.out.write(MAGIC);
        c.out.write(nonceS);
        c.out.flush();
        byte[] magic = c.in.readNBytes(MAGIC.length);
        if (!MessageDigest.isEqual(magic, MAGIC)) {
            throw new IOException("not a ringattn rank (bad magic)");
        }
        byte[] nonceC = c.in.readNBytes(16);
        byte[] mac = c.in.readNBytes(32);
        if (!MessageDigest.isEqual(mac, hmac(concat("client".getBytes(StandardCharsets.US_ASCII), nonceS, nonceC)))) {
            c.out.writeByte(1);
            c.out.writeUTF("wrong job secret: the joining rank's RINGATTN_SECRET differs from rank 0's");
            c.out.flush();
            return false;
        }
        c.out.writeByte(0);
        c.out.write(hmac(concat("server".getBytes(StandardCharsets.US_ASCII), nonceC, nonceS)));
        c.out.flush();
        c.handshakeDone = true;
        return true;
    }

    private void clientHandshake(Conn c) throws IOException {
        byte[] magic = c.in.readNBytes(MAGIC.length);
        if (!MessageDigest.isEqual(magic, MAGIC)) {
            throw new IOException("not a ringattn coordinator (bad magic)");
        }
        byte[] nonceS = c.in.readNBytes(16);
        byte[] nonceC = nonce();
        c.out.write(MAGIC);
        c.out.write(nonceC);
        c.out.write(hmac(concat("client".getBytes(StandardCharsets.US_ASCII), nonceS, nonceC)));
        c.out.flush();
        int status = c.in.readUnsignedByte();
        if (status != 0) {
            String why = c.in.readUTF();
            c.closeQuietly();
            throw new TransportException("coordinator refused rank " + rank + ": " + why);
        }
        byte[] mac = c.in.readNBytes(32);
        if (!MessageDigest.isEqual(mac, hmac(concat("server".getBytes(StandardCharsets.US_ASCII), nonceC, nonceS)))) {
            c.closeQuietly();
            throw new TransportException("coordinator did not prove the job secret (wrong job secret on rank 0?)");
        }
        c.handshakeDone = true;
    }

    private byte[] hmac(byte[] data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            byte[] key = secret.length == 0 ? new byte[] {0} : secret;
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    private static byte[] nonce() {
        byte[] b = new byte[16];
        new SecureRandom().nextBytes(b);
        return b;
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    private static void writeTable(DataOutputStream out, Peer[] table) throws IOException {
        out.writeInt(table.length);
        for (Peer p : table) {
            out.writeUTF(p.host());
            writeBytes(out, p.workerAddress());
        }
    }

    private static List<Peer> readTable(DataInputStream in) throws IOException {
        int n = in.readInt();
        List<Peer> list = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            list.add(new Peer(r, in.readUTF(), readBytes(in)));
        }
        return List.copyOf(list);
    }

    private static void writeBytes(DataOutputStream out, byte[] b) throws IOException {
        out.writeInt(b.length);
        out.write(b);
    }

    private static byte[] readBytes(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > (64 << 20)) {
            throw new IOException("bad length " + n);
        }
        return in.readNBytes(n);
    }

    // ---------------------------------------------------------------- running

    private void startHeartbeats() {
        long periodMs = options.heartbeatInterval().toMillis();
        heartbeat = Thread.ofPlatform().daemon().name("ringattn-heartbeat").start(() -> {
            while (!closing) {
                try {
                    Thread.sleep(periodMs);
                } catch (InterruptedException e) {
                    return;
                }
                if (hub != null) {
                    hub.sendQuietly(HB);
                }
                for (Conn c : clients) {
                    if (!c.gone) {
                        c.sendQuietly(HB);
                    }
                }
            }
        });
    }

    /** Rank 0: reads one client's frames until it says BYE, dies or goes silent. */
    private void serveClient(Conn c) {
        try {
            while (true) {
                int type = c.in.readInt();
                switch (type) {
                    case HB -> {
                    }
                    case GATHER -> {
                        int seq = c.in.readInt();
                        contribute(seq, c.rank, readBytes(c.in));
                    }
                    case FAIL -> declareFailed(c.in.readInt(), c.in.readUTF(), c.in.readUTF());
                    case BYE -> {
                        c.gone = true;
                        c.closeQuietly();
                        return;
                    }
                    default -> throw new IOException("unexpected frame " + type);
                }
            }
        } catch (SocketTimeoutException e) {
            if (!c.gone) {
                declareFailed(c.rank, peers.get(c.rank).host(), "no heartbeat for " + timeout);
            }
        } catch (IOException e) {
            if (!c.gone) {
                declareFailed(c.rank, peers.get(c.rank).host(), "process exited or connection lost ("
                        + (e instanceof EOFException ? "closed" : e.getMessage()) + ")");
            }
        } finally {
            c.gone = true;
            c.closeQuietly();
        }
    }

    /** Ranks > 0: reads the coordinator's frames. */
    private void readHub() {
        Conn c = hub;
        String host0 = peers.get(0).host();
        try {
            while (true) {
                int type = c.in.readInt();
                switch (type) {
                    case HB -> {
                    }
                    case GATHERED -> {
                        int seq = c.in.readInt();
                        int n = c.in.readInt();
                        byte[][] parts = new byte[n][];
                        for (int i = 0; i < n; i++) {
                            parts[i] = readBytes(c.in);
                        }
                        results.computeIfAbsent(seq, k -> new CompletableFuture<>()).complete(parts);
                    }
                    case FAIL -> setFailure(new RankFailedException(c.in.readInt(), c.in.readUTF(), c.in.readUTF()));
                    case ERROR -> setFailure(new RankFailedException(0, host0, c.in.readUTF()));
                    default -> throw new IOException("unexpected frame " + type);
                }
            }
        } catch (SocketTimeoutException e) {
            if (!closing) {
                setFailure(new RankFailedException(0, host0, "no heartbeat from the coordinator for " + timeout));
            }
        } catch (IOException e) {
            if (!closing) {
                setFailure(new RankFailedException(0, host0, "coordinator process exited or connection lost ("
                        + (e instanceof EOFException ? "closed" : e.getMessage()) + ")"));
            }
        }
    }

    private void setFailure(RankFailedException f) {
        synchronized (this) {
            if (failure != null) {
                return;
            }
            failure = f;
        }
        results.values().forEach(r -> r.completeExceptionally(f));
        for (Consumer<RankFailedException> l : failureListeners) {
            try {
                l.accept(f);
            } catch (RuntimeException ignored) {
                // a listener must not stop the others
            }
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
            first = failure == null && !declared;
            declared = true;
        }
        if (first) {
            for (Conn c : clients) {
                if (!c.gone && c.rank != failed) {
                    c.sendFail(failed, host, reason);
                }
            }
        }
        setFailure(new RankFailedException(failed, host, reason));
    }

    /** This rank gives up (its own error): every other rank fails naming it. */
    void abort(String reason) {
        if (worldSize == 1 || failure != null) {
            return;
        }
        if (rank == 0) {
            declareFailed(0, options.host(), reason);
        } else {
            hub.sendFail(rank, options.host(), reason);
            setFailure(new RankFailedException(rank, options.host(), reason));
        }
    }

    private static final class Gather {
        final byte[][] parts;
        int arrived;

        Gather(int n) {
            parts = new byte[n][];
        }
    }

    /** Rank 0: adds one rank's part; on the last one sends the result to everyone. */
    private void contribute(int seq, int from, byte[] part) {
        byte[][] done = null;
        Gather g = gathers.computeIfAbsent(seq, k -> new Gather(worldSize));
        synchronized (g) {
            if (g.parts[from] == null) {
                g.parts[from] = part;
                if (++g.arrived == worldSize) {
                    done = g.parts;
                    gathers.remove(seq);
                }
            }
        }
        if (done != null) {
            for (Conn c : clients) {
                if (!c.gone) {
                    c.sendGathered(seq, done);
                }
            }
            results.computeIfAbsent(seq, k -> new CompletableFuture<>()).complete(done);
        }
    }

    /** Every rank's bytes by rank; collectives are numbered in call order on every rank. */
    byte[][] allGather(byte[] local, Duration wait) {
        RankFailedException f = failure;
        if (f != null) {
            throw f;
        }
        int seq = collectives++;
        if (worldSize == 1) {
            return new byte[][] {local.clone()};
        }
        CompletableFuture<byte[][]> result = results.computeIfAbsent(seq, k -> new CompletableFuture<>());
        if (failure != null) {
            result.completeExceptionally(failure);
        }
        if (rank == 0) {
            contribute(seq, 0, local.clone());
        } else if (!hub.sendGather(seq, local)) {
            awaitFailure(Duration.ofSeconds(2));
            throw failure != null ? failure
                    : new RankFailedException(0, peers.get(0).host(), "cannot reach the coordinator");
        }
        try {
            return result.get(wait.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            if (rank == 0) {
                Gather g = gathers.get(seq);
                int missing = -1;
                if (g != null) {
                    synchronized (g) {
                        for (int r = 0; r < worldSize && missing < 0; r++) {
                            if (g.parts[r] == null) {
                                missing = r;
                            }
                        }
                    }
                }
                if (missing >= 0) {
                    declareFailed(missing, peers.get(missing).host(), "did not reach collective #" + seq + " within " + wait);
                }
            } else {
                awaitFailure(Duration.ofMillis(Math.min(2000, wait.toMillis())));
            }
            if (failure != null) {
                throw failure;
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

    private void awaitFailure(Duration d) {
        long end = System.nanoTime() + d.toNanos();
        while (failure == null && System.nanoTime() < end) {
            sleep(10);
        }
    }

    /**
     * Leaves the job. Rank 0 first waits (up to {@code timeout}) for every other rank to leave, so
     * that no rank still working sees the coordinator vanish.
     */
    @Override
    public void close() {
        if (closing) {
            return;
        }
        if (rank != 0) {
            deleteEntry(); // before BYE, so that rank 0 finds the job directory empty and removes it
        }
        if (rank == 0 && !clients.isEmpty() && failure == null) {
            long end = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < end && failure == null && clients.stream().anyMatch(c -> !c.gone)) {
                sleep(5);
            }
        }
        closing = true;
        if (hub != null) {
            hub.sendQuietly(BYE);
        }
        closeQuietly();
    }

    private void closeQuietly() {
        closing = true;
        if (heartbeat != null) {
            heartbeat.interrupt();
        }
        if (hub != null) {
            hub.closeQuietly();
        }
        for (Conn c : clients) {
            c.gone = true;
            c.closeQuietly();
        }
        if (server != null) {
            try {
                server.close();
            } catch (IOException ignored) {
                // nothing to do
            }
        }
        deleteEntry();
    }

    private synchronized void deleteEntry() {
        if (rendezvousFile == null) {
            return;
        }
        try {
            Files.deleteIfExists(rendezvousFile);
            rendezvousFile = null;
            if (rank == 0) {
                try (var s = Files.list(rendezvousJobDir)) {
                    if (s.findAny().isEmpty()) {
                        Files.deleteIfExists(rendezvousJobDir);
                    }
                }
            }
        } catch (IOException ignored) {
            // best effort
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException("interrupted", e);
        }
    }

    /** One control connection; frames are written under its monitor. */
    private static final class Conn {
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;
        volatile int rank = -1;
        volatile boolean gone;
        boolean handshakeDone;
        Thread reader;

        Conn(Socket s) throws IOException {
            socket = s;
            s.setTcpNoDelay(true);
            in = new DataInputStream(new BufferedInputStream(s.getInputStream()));
            out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream()));
        }

        synchronized void sendQuietly(int type) {
            try {
                out.writeInt(type);
                out.flush();
            } catch (IOException ignored) {
                // the reader notices a dead connection
            }
        }

        synchronized boolean sendGather(int seq, byte[] part) {
            try {
                out.writeInt(GATHER);
                out.writeInt(seq);
                writeBytes(out, part);
                out.flush();
                return true;
            } catch (IOException e) {
                return false;
            }
        }

        synchronized void sendGathered(int seq, byte[][] parts) {
            try {
                out.writeInt(GATHERED);
                out.writeInt(seq);
                out.writeInt(parts.length);
                for (byte[] p : parts) {
                    writeBytes(out, p);
                }
                out.flush();
            } catch (IOException ignored) {
                // the reader notices a dead connection
            }
        }

        synchronized void sendFail(int failed, String host, String reason) {
            try {
                out.writeInt(FAIL);
                out.writeInt(failed);
                out.writeUTF(host);
                out.writeUTF(reason);
                out.flush();
            } catch (IOException ignored) {
                // the reader notices a dead connection
            }
        }

        synchronized void sendError(String message) {
            try {
                out.writeInt(ERROR);
                out.writeUTF(message);
                out.flush();
            } catch (IOException ignored) {
                // best effort
            }
        }

        void closeQuietly() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // nothing to do
            }
        }
    }
}
