package ringattn.transport.ucx;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import ringattn.engine.transport.TransportException;

/**
 * Everything a rank needs to join a UCX ring. Unset fields ({@code null}) are filled from the
 * environment by {@link #fromEnvironment(Map)}; the CLI fills the record from its own flags and
 * then calls {@link #withDefaultsFrom(Map)}.
 *
 * <p>Exactly one address exchange is used: {@code coordinator} (rank 0 serves {@code host:port}; it
 * binds that port on {@code bindAddress}) or {@code rendezvousDir} (a directory on a filesystem all
 * ranks share; rank 0 serves an ephemeral port on {@code bindAddress}). With neither, a single rank
 * ({@code worldSize == 1}) needs no exchange and larger jobs fail with a clear error.
 *
 * @param rank              this rank, or null to read it from the launcher's environment
 * @param worldSize         number of ranks, or null to read it from the environment
 * @param jobId             job id shared by all ranks, or null to read it from the environment
 * @param coordinator       {@code host:port} of rank 0's coordinator, or null
 * @param rendezvousDir     shared directory for the address exchange, or null
 * @param bindAddress       address or interface name (e.g. eth0) rank 0 binds its coordinator to
 *                          (default 127.0.0.1; set it for jobs across hosts)
 * @param host              this rank's host name for error messages (default: the local host name)
 * @param timeout           failure-detection bound: a rank that dies or stops answering (no
 *                          heartbeat) is reported within it (RINGATTN_TIMEOUT, default 30 s)
 * @param waitBound         the job's bound on a wait for another rank: joining the job, a
 *                          collective (default: {@code timeout}; a long job raises it, while a stopped
 *                          rank is still caught within {@code timeout} by the heartbeats)
 * @param heartbeatInterval heartbeat period on the control connections (default min(1 s, timeout/5))
 * @param secret            the job secret, or null (then {@code secretFile}, then RINGATTN_SECRET)
 * @param secretFile        a file holding the job secret (readable by its owner only), or null
 * @param insecure          allow a job of more than one rank without a secret (RINGATTN_INSECURE=1):
 *                          anyone who reaches the coordinator can then join
 * @param jobParams         opaque job parameters every rank must agree on (e.g. model, shapes), or ""
 * @param exchange          how ranks find each other: PMIx, a coordinator address, a rendezvous
 *                          directory, or AUTO (PMIx when the launcher provides it, else whichever of
 *                          the other two is set; RINGATTN_BOOTSTRAP)
 * @param dataPath          how K/V blocks move: tagged send/receive or RMA put
 * @param peerErrorMode     UCX peer-error handling on endpoints (forces TCP on loopback with UCX 1.13)
 * @param spinWait          how long a rank's thread that waits for a transfer progresses the UCX worker
 *                          itself (spinning, then yielding the core) before it sleeps until the progress
 *                          thread wakes it (RINGATTN_SPIN_US, microseconds, default 200; 0: sleep at once).
 *                          A message that lands within it is seen in microseconds instead of after two
 *                          thread wake-ups: the decoder's per-layer reduction waits on such messages
 */
public record TransportOptions(
        Integer rank,
        Integer worldSize,
        String jobId,
        String coordinator,
        Path rendezvousDir,
        String bindAddress,
        String host,
        Duration timeout,
        Duration waitBound,
        Duration heartbeatInterval,
        String secret,
        Path secretFile,
        boolean insecure,
        String jobParams,
        AddressExchange exchange,
        DataPath dataPath,
        boolean peerErrorMode,
        Duration spinWait) {

    /** How ranks find each other at start (the {@code --bootstrap} choice). */
    public enum AddressExchange {
        /** PMIx when the launcher provides it (PMIX_RANK set), else the coordinator, else the rendezvous directory. */
        AUTO,
        /**
         * Through the launcher's PMIx server (mpirun, {@code srun --mpi=pmix}): rank 0 publishes its
         * coordinator's address (an ephemeral port) and, without a configured secret, a fresh random
         * one; no fixed port, no secret to distribute.
         */
        PMIX,
        /** Rank 0 serves {@code coordinator} (host:port); the others connect to it. */
        COORDINATOR,
        /** Entries in {@code rendezvousDir} on a filesystem every rank shares. */
        RENDEZVOUS
    }

    /** How a ring step moves its bytes. */
    public enum DataPath {
        /**
         * Per ring link: {@link #PUT} between ranks on the same host when shared memory is allowed
         * (UCX_TLS unset or naming a shared-memory transport) and peer-error mode is off;
         * {@link #TAG} otherwise (put is faster on shared memory, tag on TCP: see README). Messages of
         * at most 16 KiB go tagged on every link: one message beats put's ready/put/done exchange there.
         */
        AUTO,
        /** Tagged send into the receiver's posted receive (UCX picks eager or rendezvous/zero-copy). */
        TAG,
        /** Receiver signals "ready", sender puts into the receiver's UCX-allocated buffer, then "done". */
        PUT
    }

    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    /** The default {@code spinWait}: longer than a small message's round trip on one host (3–25 µs measured), short next to a ring step. */
    public static final Duration DEFAULT_SPIN_WAIT = Duration.ofNanos(200_000);

    /** The most {@code spinWait} may be: past it a sleeping wait costs less than the spin. */
    public static final Duration MAX_SPIN_WAIT = Duration.ofMillis(100);

    /** The job's bound on a wait for another rank: {@code waitBound} when set, else {@code timeout}. */
    @Override
    public Duration waitBound() {
        return waitBound != null ? waitBound : timeout;
    }
    /** The longest bound accepted for {@code timeout} and {@code waitBound}. */
    public static final Duration MAX_TIMEOUT = Duration.ofDays(7);

    /** Nothing set: everything from the environment or defaults. */
    public static TransportOptions defaults() {
        return new TransportOptions(null, null, null, null, null, null, null, null, null, null, null, null, false, null,
                null, null, false, null);
    }

    /** The environment's values: see {@link #withDefaultsFrom(Map)}. */
    public static TransportOptions fromEnvironment(Map<String, String> env) {
        return defaults().withDefaultsFrom(env);
    }

    /**
     * Fills unset fields: rank/worldSize/jobId from {@link RankInfo#fromEnvironment} (Slurm, Open
     * MPI, PMI or RINGATTN_RANK/RINGATTN_WORLD_SIZE/RINGATTN_JOB_ID); RINGATTN_COORDINATOR,
     * RINGATTN_RENDEZVOUS_DIR, RINGATTN_BIND, RINGATTN_HOST, RINGATTN_TIMEOUT (seconds, decimal),
     * RINGATTN_SECRET, RINGATTN_SECRET_FILE, RINGATTN_INSECURE (1|true), RINGATTN_JOB_PARAMS,
     * RINGATTN_BOOTSTRAP (auto|pmix|coordinator|rendezvous),
     * RINGATTN_DATA_PATH (auto|tag|put), RINGATTN_PEER_ERROR_MODE (true|false), RINGATTN_SPIN_US
     * (microseconds, integer); then the defaults.
     */
    public TransportOptions withDefaultsFrom(Map<String, String> env) {
        Integer r = rank;
        Integer n = worldSize;
        String job = jobId;
        if (r == null || n == null || job == null) {
            RankInfo info = RankInfo.fromEnvironment(env).orElse(null);
            if (info != null) {
                r = r == null ? info.rank() : r;
                n = n == null ? info.worldSize() : n;
                job = job == null ? info.jobId() : job;
            }
        }
        if (r == null && n == null) {
            r = 0;
            n = 1;
        }
        if (job == null) {
            job = "ringattn";
        }
        Duration t = timeout;
        if (t == null && env.containsKey("RINGATTN_TIMEOUT")) {
            t = seconds("RINGATTN_TIMEOUT", env.get("RINGATTN_TIMEOUT"));
        }
        if (t == null) {
            t = DEFAULT_TIMEOUT;
        }
        Duration hb = heartbeatInterval;
        if (hb == null) {
            long ms = Math.max(20, Math.min(1000, t.toMillis() / 5));
            hb = Duration.ofMillis(ms);
        }
        DataPath dp = dataPath != null ? dataPath : choice(env, "RINGATTN_DATA_PATH", DataPath.class);
        AddressExchange ex = exchange != null ? exchange : choice(env, "RINGATTN_BOOTSTRAP", AddressExchange.class);
        boolean pem = peerErrorMode || Boolean.parseBoolean(env.getOrDefault("RINGATTN_PEER_ERROR_MODE", "false"));
        String insecureVar = env.getOrDefault("RINGATTN_INSECURE", "").trim();
        boolean open = insecure || insecureVar.equals("1") || insecureVar.equalsIgnoreCase("true");
        String dir = env.get("RINGATTN_RENDEZVOUS_DIR");
        String secretFileVar = env.get("RINGATTN_SECRET_FILE");
        Duration spin = spinWait;
        if (spin == null && env.containsKey("RINGATTN_SPIN_US")) {
            spin = micros("RINGATTN_SPIN_US", env.get("RINGATTN_SPIN_US"));
        }
        return new TransportOptions(r, n, RankInfo.sanitize(job),
                coordinator != null ? coordinator : env.get("RINGATTN_COORDINATOR"),
                rendezvousDir != null ? rendezvousDir : dir == null ? null : Path.of(dir),
                bindAddress != null ? bindAddress : env.getOrDefault("RINGATTN_BIND", "127.0.0.1"),
                host != null ? host : env.getOrDefault("RINGATTN_HOST", localHostName()),
                t, waitBound, hb,
                secret != null ? secret : env.get("RINGATTN_SECRET"),
                secretFile != null ? secretFile : secretFileVar == null ? null : Path.of(secretFileVar),
                open,
                jobParams != null ? jobParams : env.getOrDefault("RINGATTN_JOB_PARAMS", ""),
                ex != null ? ex : AddressExchange.AUTO,
                dp != null ? dp : DataPath.AUTO,
                pem,
                spin != null ? spin : DEFAULT_SPIN_WAIT);
    }

    /** Checks the arguments; throws a {@link ConfigurationException} naming the first bad one. */
    public TransportOptions validate() {
        if (worldSize == null || rank == null) {
            throw new ConfigurationException("rank/worldSize: not set (no options, no Slurm/Open MPI/PMI environment)");
        }
        try {
            RankInfo.validate(rank, worldSize);
        } catch (TransportException e) {
            throw new ConfigurationException(e.getMessage());
        }
        checkBound("timeout", timeout);
        checkBound("waitBound", waitBound());
        if (heartbeatInterval == null || heartbeatInterval.isZero() || heartbeatInterval.isNegative()
                || heartbeatInterval.compareTo(timeout) >= 0) {
            throw new ConfigurationException("heartbeatInterval: must be positive and below timeout " + timeout
                    + ", got " + heartbeatInterval);
        }
        if (spinWait == null || spinWait.isNegative() || spinWait.compareTo(MAX_SPIN_WAIT) > 0) {
            throw new ConfigurationException("spinWait: must be between 0 and " + MAX_SPIN_WAIT.toMillis()
                    + " ms, got " + spinWait);
        }
        boolean pmix = exchange == AddressExchange.PMIX;
        if (worldSize > 1 && !pmix && coordinator == null && rendezvousDir == null) {
            throw new ConfigurationException("coordinator/rendezvousDir: a job of " + worldSize
                    + " ranks needs one (RINGATTN_COORDINATOR=host:port or RINGATTN_RENDEZVOUS_DIR=dir), or a PMIx "
                    + "launcher (mpirun, srun --mpi=pmix)");
        }
        if (worldSize > 1 && exchange == AddressExchange.COORDINATOR && coordinator == null) {
            throw new ConfigurationException("coordinator: --bootstrap coordinator needs RINGATTN_COORDINATOR=host:port");
        }
        if (worldSize > 1 && exchange == AddressExchange.RENDEZVOUS && rendezvousDir == null) {
            throw new ConfigurationException("rendezvousDir: --bootstrap rendezvous needs RINGATTN_RENDEZVOUS_DIR=dir");
        }
        if (coordinator != null) {
            coordinatorAddress();
        }
        if (worldSize > 1 && !pmix && secret == null && secretFile == null && !insecure) {
            throw new ConfigurationException("secret: a job of " + worldSize + " ranks needs a job secret "
                    + "(RINGATTN_SECRET or RINGATTN_SECRET_FILE, the same on every rank); without one anyone who "
                    + "reaches the coordinator can join: pass --insecure (RINGATTN_INSECURE=1) to allow that");
        }
        return this;
    }

    private static void checkBound(String name, Duration d) {
        if (d == null || d.isZero() || d.isNegative() || d.compareTo(MAX_TIMEOUT) > 0) {
            throw new ConfigurationException(name + ": must be positive and at most " + MAX_TIMEOUT.toDays()
                    + " days, got " + d);
        }
    }

    /** {@code coordinator} parsed into host and port. */
    java.net.InetSocketAddress coordinatorAddress() {
        int colon = coordinator.lastIndexOf(':');
        if (colon <= 0 || colon == coordinator.length() - 1) {
            throw new ConfigurationException("coordinator: expected host:port, got '" + Messages.cut(coordinator) + "'");
        }
        try {
            int port = Integer.parseInt(coordinator.substring(colon + 1));
            if (port < 1 || port > 65535) {
                throw new NumberFormatException();
            }
            String h = coordinator.substring(0, colon);
            if (h.startsWith("[") && h.endsWith("]")) {
                h = h.substring(1, h.length() - 1);
            }
            return java.net.InetSocketAddress.createUnresolved(h, port);
        } catch (NumberFormatException e) {
            throw new ConfigurationException("coordinator: bad port in '" + Messages.cut(coordinator) + "'");
        }
    }

    /**
     * The job secret bytes: {@code secret}, else {@code secretFile}'s trimmed content, else none
     * (empty). A secret file that its group or others may read is refused, as ssh refuses such keys.
     */
    byte[] secretBytes() {
        if (secret != null) {
            return secret.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
        if (secretFile != null) {
            return SecretFile.read(secretFile);
        }
        return new byte[0];
    }

    public TransportOptions withRank(int r, int n) {
        return with().rank(r).worldSize(n).build();
    }

    public TransportOptions withJobId(String id) {
        return with().jobId(id).build();
    }

    public TransportOptions withCoordinator(String hostPort) {
        return with().coordinator(hostPort).build();
    }

    public TransportOptions withRendezvousDir(Path dir) {
        return with().rendezvousDir(dir).build();
    }

    /** The failure-detection bound (see the record's javadoc). */
    public TransportOptions withTimeout(Duration t) {
        return with().timeout(t).build();
    }

    /** The job's bound on a wait for another rank (see the record's javadoc). */
    public TransportOptions withWaitBound(Duration w) {
        return with().waitBound(w).build();
    }

    public TransportOptions withHeartbeatInterval(Duration hb) {
        return with().heartbeatInterval(hb).build();
    }

    public TransportOptions withSecret(String s) {
        return with().secret(s).build();
    }

    public TransportOptions withSecretFile(Path f) {
        return with().secretFile(f).build();
    }

    /** Allows a job of several ranks without a secret (anyone who reaches the coordinator may join). */
    public TransportOptions withInsecure(boolean on) {
        return with().insecure(on).build();
    }

    public TransportOptions withJobParams(String p) {
        return with().jobParams(p).build();
    }

    public TransportOptions withExchange(AddressExchange e) {
        return with().exchange(e).build();
    }

    public TransportOptions withDataPath(DataPath d) {
        return with().dataPath(d).build();
    }

    public TransportOptions withPeerErrorMode(boolean on) {
        return with().peerErrorMode(on).build();
    }

    public TransportOptions withSpinWait(Duration d) {
        return with().spinWait(d).build();
    }

    public TransportOptions withBindAddress(String a) {
        return with().bindAddress(a).build();
    }

    public TransportOptions withHost(String h) {
        return with().host(h).build();
    }

    private Copy with() {
        return new Copy(this);
    }

    /** A mutable copy for the {@code with...} methods. */
    private static final class Copy {
        private Integer rank;
        private Integer worldSize;
        private String jobId;
        private String coordinator;
        private Path rendezvousDir;
        private String bindAddress;
        private String host;
        private Duration timeout;
        private Duration waitBound;
        private Duration heartbeatInterval;
        private String secret;
        private Path secretFile;
        private boolean insecure;
        private String jobParams;
        private AddressExchange exchange;
        private DataPath dataPath;
        private boolean peerErrorMode;
        private Duration spinWait;

        Copy(TransportOptions o) {
            rank = o.rank;
            worldSize = o.worldSize;
            jobId = o.jobId;
            coordinator = o.coordinator;
            rendezvousDir = o.rendezvousDir;
            bindAddress = o.bindAddress;
            host = o.host;
            timeout = o.timeout;
            waitBound = o.waitBound;
            heartbeatInterval = o.heartbeatInterval;
            secret = o.secret;
            secretFile = o.secretFile;
            insecure = o.insecure;
            jobParams = o.jobParams;
            exchange = o.exchange;
            dataPath = o.dataPath;
            peerErrorMode = o.peerErrorMode;
            spinWait = o.spinWait;
        }

        Copy rank(int v) { rank = v; return this; }
        Copy worldSize(int v) { worldSize = v; return this; }
        Copy jobId(String v) { jobId = v; return this; }
        Copy coordinator(String v) { coordinator = v; return this; }
        Copy rendezvousDir(Path v) { rendezvousDir = v; return this; }
        Copy bindAddress(String v) { bindAddress = v; return this; }
        Copy host(String v) { host = v; return this; }
        Copy timeout(Duration v) { timeout = v; return this; }
        Copy waitBound(Duration v) { waitBound = v; return this; }
        Copy heartbeatInterval(Duration v) { heartbeatInterval = v; return this; }
        Copy secret(String v) { secret = v; return this; }
        Copy secretFile(Path v) { secretFile = v; return this; }
        Copy insecure(boolean v) { insecure = v; return this; }
        Copy jobParams(String v) { jobParams = v; return this; }
        Copy exchange(AddressExchange v) { exchange = v; return this; }
        Copy dataPath(DataPath v) { dataPath = v; return this; }
        Copy peerErrorMode(boolean v) { peerErrorMode = v; return this; }
        Copy spinWait(Duration v) { spinWait = v; return this; }

        TransportOptions build() {
            return new TransportOptions(rank, worldSize, jobId, coordinator, rendezvousDir, bindAddress, host, timeout,
                    waitBound, heartbeatInterval, secret, secretFile, insecure, jobParams, exchange, dataPath, peerErrorMode,
                    spinWait);
        }
    }

    /** The constant of {@code type} that variable {@code name} names (any case), or null when unset. */
    private static <E extends Enum<E>> E choice(Map<String, String> env, String name, Class<E> type) {
        String v = env.get(name);
        if (v == null) {
            return null;
        }
        try {
            return Enum.valueOf(type, v.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            String names = java.util.Arrays.stream(type.getEnumConstants()).map(c -> c.name().toLowerCase(java.util.Locale.ROOT))
                    .collect(java.util.stream.Collectors.joining(", "));
            throw new ConfigurationException(name + ": must be one of " + names + ", got '" + Messages.cut(v) + "'");
        }
    }

    private static Duration seconds(String name, String v) {
        double s;
        try {
            s = Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new ConfigurationException(name + ": not a number of seconds: '" + Messages.cut(v) + "'");
        }
        if (!(s > 0) || s > MAX_TIMEOUT.toSeconds()) {
            throw new ConfigurationException(name + ": must be > 0 and at most " + MAX_TIMEOUT.toSeconds()
                    + " seconds, got '" + Messages.cut(v) + "'");
        }
        return Duration.ofMillis(Math.max(1, Math.round(s * 1000)));
    }

    private static Duration micros(String name, String v) {
        long us;
        try {
            us = Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new ConfigurationException(name + ": not a whole number of microseconds: '" + Messages.cut(v) + "'");
        }
        if (us < 0 || us > MAX_SPIN_WAIT.toNanos() / 1000) {
            throw new ConfigurationException(name + ": must be between 0 and " + MAX_SPIN_WAIT.toNanos() / 1000
                    + " microseconds, got '" + Messages.cut(v) + "'");
        }
        return Duration.ofNanos(us * 1000);
    }

    /**
     * This machine's name from the kernel (not {@code $HOSTNAME}: a batch step sets that to its
     * first node and srun copies it to every task).
     */
    static String localHostName() {
        try {
            String h = java.net.InetAddress.getLocalHost().getHostName();
            if (h != null && !h.isBlank()) {
                return h;
            }
        } catch (java.io.IOException e) {
            // fall through
        }
        try {
            String h = java.nio.file.Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
            if (!h.isEmpty()) {
                return h;
            }
        } catch (java.io.IOException | RuntimeException e) {
            // fall through
        }
        return "localhost";
    }
}
