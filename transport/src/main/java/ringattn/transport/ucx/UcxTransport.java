package ringattn.transport.ucx;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;

import org.openucx.jucx.ucp.UcpContext;
import org.openucx.jucx.ucp.UcpEndpoint;
import org.openucx.jucx.ucp.UcpEndpointParams;
import org.openucx.jucx.ucp.UcpMemMapParams;
import org.openucx.jucx.ucp.UcpParams;
import org.openucx.jucx.ucp.UcpRequest;
import org.openucx.jucx.ucp.UcpWorker;
import org.openucx.jucx.ucp.UcpWorkerParams;

import ringattn.engine.transport.BufferAgreement;
import ringattn.engine.transport.RankFailedException;
import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.Transfer;
import ringattn.engine.transport.TransportException;

/**
 * One rank's end of a ring over UCX (jucx). One {@link UcpContext} and one {@link UcpWorker} per
 * transport, the worker owned by one progress thread ({@link ProgressLoop}); ring buffers are
 * allocated by UCX ({@code UcpMemMapParams.allocate()}) once, in {@link #allocateBuffers}.
 *
 * <p>K/V blocks move by {@linkplain TransportOptions.DataPath#TAG tagged send/receive} (default)
 * or by {@linkplain TransportOptions.DataPath#PUT RMA put} (receiver sends "ready", sender puts into
 * the receiver's buffer, flushes and sends "done"). Small collectives and failure detection run on
 * the TCP control plane around rank 0 ({@link ControlPlane}): when any rank dies or stops
 * answering, every pending and later wait fails with a {@link RankFailedException} naming it.
 *
 * <p>Create with {@link Bootstrap#connect(TransportOptions)}.
 */
public final class UcxTransport implements RingTransport {
    private static final System.Logger LOG = System.getLogger("ringattn.transport.ucx");

    private final TransportOptions options;
    /** {@code options.spinWait()} in nanoseconds. */
    private final long spinNanos;
    private final Pmix pmix; // null unless PMIx does the address exchange; finalized by the control plane
    private final int rank;
    private final int worldSize;
    private final int nextRank;
    private final int prevRank;
    private final ProgressLoop loop;
    private final UcpContext context;
    private UcpWorker worker;
    private ControlPlane control;
    private UcpEndpoint next;
    private UcpEndpoint prev;
    private RegisteredBuffers buffers;
    private final PutSlots slots = new PutSlots();
    final Set<UcxTransfer> pending = ConcurrentHashMap.newKeySet();
    private DataPaths paths;
    private static final Duration UCX_VERDICT_GRACE = Duration.ofMillis(300);
    private final Object failureLock = new Object();
    private volatile RankFailedException failure;
    private volatile boolean closed;
    /** Whether the link to the next rank (this rank sends) and from the previous one use RMA put. */
    private boolean sendByPut;
    private boolean receiveByPut;
    /** {@link TransportOptions.DataPath#AUTO}: messages up to {@link #SMALL_BY_TAG} bytes go tagged on put links too. */
    private boolean smallByTag;
    /**
     * Under AUTO, the largest message sent tagged on a put link: one tagged message beats put's
     * ready/put/done exchange up to about here (transport README, "Small messages"). Both ends choose
     * by the length they post, so they agree.
     */
    static final long SMALL_BY_TAG = 16 << 10;

    private UcxTransport(TransportOptions options, Pmix pmix) {
        this.pmix = pmix;
        this.options = options;
        this.spinNanos = options.spinWait().toNanos(); // validated: set and bounded
        this.rank = options.rank();
        this.worldSize = options.worldSize();
        this.nextRank = (rank + 1) % worldSize;
        this.prevRank = (rank - 1 + worldSize) % worldSize;
        UcpParams params = new UcpParams().requestTagFeature().requestRmaFeature().setMtWorkersShared(false)
                .setEstimatedNumEps(2);
        try {
            JucxLibrary.load(); // once per process: no exit, however abrupt, leaves its unpacked copy behind
            this.context = new UcpContext(params);
        } catch (RuntimeException | LinkageError e) {
            throw new TransportException("UCX: cannot create a context (is libucx0 / UCX >= 1.12 installed?): " + e, e);
        }
        this.loop = new ProgressLoop("ringattn-ucx-progress-rank" + rank);
        loop.inFlightFrom(pending::size);
    }

    /** Bootstraps this rank: UCX worker, address exchange with the other ranks, ring endpoints. */
    static UcxTransport open(TransportOptions options) {
        return open(options, System.getenv());
    }

    /** {@link #open(TransportOptions)} with the launcher's environment {@code env} (PMIx detection). */
    static UcxTransport open(TransportOptions options, java.util.Map<String, String> env) {
        TransportOptions.AddressExchange exchange = chooseExchange(options, env);
        Pmix pmix = null;
        TransportOptions o = options.withExchange(exchange);
        if (exchange == TransportOptions.AddressExchange.PMIX) {
            pmix = Pmix.init(env);
            RankInfo fromEnv = RankInfo.fromEnvironment(env).orElse(null);
            if (fromEnv != null && (fromEnv.rank() != pmix.rank() || fromEnv.worldSize() != pmix.size())) {
                pmix.close();
                throw new ConfigurationException("rank: the launcher's environment (" + fromEnv.source() + ") says rank "
                        + fromEnv.rank() + " of " + fromEnv.worldSize() + ", PMIx says rank " + pmix.rank() + " of " + pmix.size());
            }
            o = o.withRank(pmix.rank(), pmix.size());
        }
        logExchange(o, pmix);
        try {
            o.validate();
        } catch (RuntimeException e) {
            if (pmix != null) {
                pmix.close();
            }
            throw e;
        }
        UcxTransport t = new UcxTransport(o, pmix);
        try {
            t.start();
            return t;
        } catch (RuntimeException e) {
            t.closeAfterFailedStart();
            throw e;
        }
    }

    /**
     * AUTO: a coordinator or rendezvous directory the user set wins; else PMIx when the launcher
     * provides it; else the coordinator (a single rank needs none).
     */
    static TransportOptions.AddressExchange chooseExchange(TransportOptions o, java.util.Map<String, String> env) {
        TransportOptions.AddressExchange e = o.exchange() == null ? TransportOptions.AddressExchange.AUTO : o.exchange();
        if (e != TransportOptions.AddressExchange.AUTO) {
            return e;
        }
        if (o.coordinator() != null) {
            return TransportOptions.AddressExchange.COORDINATOR;
        }
        if (o.rendezvousDir() != null) {
            return TransportOptions.AddressExchange.RENDEZVOUS;
        }
        return Pmix.launchedByPmix(env) ? TransportOptions.AddressExchange.PMIX : TransportOptions.AddressExchange.COORDINATOR;
    }

    private static boolean exchangeLogged;

    private static synchronized void logExchange(TransportOptions o, Pmix pmix) {
        if (exchangeLogged || o.worldSize() == null || o.worldSize() < 2) {
            return;
        }
        exchangeLogged = true;
        LOG.log(System.Logger.Level.INFO, "ringattn: rank " + o.rank() + ": bootstrap through "
                + switch (o.exchange()) {
                    case PMIX -> "PMIx (namespace " + pmix.namespace() + ")";
                    case RENDEZVOUS -> "the rendezvous directory " + o.rendezvousDir();
                    default -> "the coordinator at " + o.coordinator();
                });
    }

    private void start() {
        Duration wait = options.waitBound();
        byte[] address = loop.call(() -> {
            worker = context.newWorker(new UcpWorkerParams());
            loop.progressWith(() -> {
                try {
                    return worker.progress();
                } catch (Exception e) {
                    onProgressError(e);
                    return 1;
                }
            });
            ByteBuffer a = worker.getAddress();
            byte[] b = new byte[a.remaining()];
            a.get(b);
            return b;
        }, wait, "UCX worker");
        control = ControlPlane.join(options, address, pmix);
        control.onFailure(this::failAll);
        slots.salt(control.tagSalt());
        for (int peer : new int[] {nextRank, prevRank}) {
            if (peer != rank && !WorkerAddress.plausible(control.peer(peer).workerAddress(), address)) {
                throw new RankFailedException(peer, host(peer), "sent a malformed UCX worker address ("
                        + control.peer(peer).workerAddress().length + " bytes; another UCX version?)");
            }
        }
        chooseDataPaths();
        loop.call(() -> {
            next = endpoint(nextRank);
            prev = prevRank == nextRank ? next : endpoint(prevRank);
            paths = new DataPaths(this, worker, next, prev, slots);
            return null;
        }, wait, "UCX endpoints");
        // Nobody returns (and may close at once) before every rank has its endpoints: a neighbour
        // still connecting to shared memory its owner already released fails inside UCX.
        control.allGather(new byte[0], wait);
    }

    private static final java.util.regex.Pattern EP_NAME = java.util.regex.Pattern.compile("ringattn-\\d+-to-(\\d+)");

    /**
     * Without peer-error mode jucx reports a broken endpoint (e.g. "Connection reset by remote peer"
     * on TCP) by throwing from {@code progress()}: a second, faster failure signal besides the
     * control plane. The endpoint's name says which peer it was.
     */
    private void onProgressError(Exception e) {
        String msg = String.valueOf(e.getMessage());
        java.util.regex.Matcher m = EP_NAME.matcher(msg);
        if (m.find() && !closed) {
            int peer = Integer.parseInt(m.group(1));
            String why = msg.contains(" error: ") ? msg.substring(msg.lastIndexOf(" error: ") + 8) : msg;
            failFromUcx(new RankFailedException(peer, host(peer), "UCX endpoint error: " + why));
        } else if (!closed && failure == null) {
            LOG.log(System.Logger.Level.WARNING, "ringattn: rank " + rank + ": UCX progress: " + msg);
        }
    }

    /** Collective: every rank learns which links can use put (see {@link TransportOptions.DataPath#AUTO}). */
    private void chooseDataPaths() {
        TransportOptions.DataPath dp = options.dataPath();
        if (dp != TransportOptions.DataPath.AUTO) {
            sendByPut = receiveByPut = dp == TransportOptions.DataPath.PUT;
            return;
        }
        smallByTag = true;
        String tls = System.getenv().getOrDefault("UCX_TLS", "");
        boolean shm = tls.isBlank() || tls.matches(".*\\b(all|sm|shm|posix|sysv|cma|xpmem|knem)\\b.*");
        boolean canPut = shm && !options.peerErrorMode() && !tls.startsWith("^");
        byte[][] all = control.allGather((canPut ? "1" : "0").getBytes(StandardCharsets.UTF_8), options.waitBound());
        sendByPut = linkCanPut(all, rank, nextRank);
        receiveByPut = linkCanPut(all, prevRank, rank);
    }

    private boolean linkCanPut(byte[][] flags, int from, int to) {
        return flags[from].length == 1 && flags[from][0] == '1' && flags[to].length == 1 && flags[to][0] == '1'
                && host(from).equals(host(to));
    }

    /** True when the link to the next rank moves data by RMA put (else tagged send). */
    public boolean sendsByPut() {
        return sendByPut;
    }

    private UcpEndpoint endpoint(int peer) {
        byte[] a = control.peer(peer).workerAddress();
        ByteBuffer addr = ByteBuffer.allocateDirect(a.length);
        addr.put(a).flip();
        UcpEndpointParams p = new UcpEndpointParams().setUcpAddress(addr).setName("ringattn-" + rank + "-to-" + peer);
        if (options.peerErrorMode()) {
            p.setPeerErrorHandlingMode().setErrorHandler((ep, status, message) -> failFromUcx(
                    new RankFailedException(peer, host(peer), "UCX endpoint error " + status + ": " + message)));
        }
        return worker.newEndpoint(p);
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int worldSize() {
        return worldSize;
    }

    @Override
    public String host() {
        return options.host();
    }

    /** The first failure of any rank this transport learned of, or null. */
    RankFailedException failure() {
        return failure;
    }

    /** The host of {@code peer} as it reported at bootstrap. */
    public String host(int peer) {
        return control == null ? "?" : control.peer(peer).host();
    }

    @Override
    public Duration timeout() {
        return options.timeout();
    }

    /** The options this transport was started with. */
    public TransportOptions options() {
        return options;
    }

    @Override
    public void allocateBuffers(int count, long lengthBytes) {
        checkOpen("allocateBuffers");
        if (buffers != null) {
            throw new IllegalStateException("allocateBuffers: already called on rank " + rank);
        }
        BufferAgreement.check(this, count, lengthBytes, options.waitBound());
        RegisteredBuffers mine = new RegisteredBuffers(count);
        buffers = mine; // set first: whatever gets mapped is unmapped by close(), even after a failure
        // Remote keys are always exchanged (the all-gather is collective; whether a link puts is not).
        byte[] table = loop.call(() -> mine.map(context, lengthBytes), options.waitBound(), "allocateBuffers");
        byte[][] tables = allGather(table, options.waitBound());
        if (sendByPut) {
            RegisteredBuffers.Table theirs;
            try {
                theirs = RegisteredBuffers.parse(tables[nextRank], count);
            } catch (IllegalArgumentException e) {
                throw new RankFailedException(nextRank, host(nextRank), "sent a malformed buffer table (" + e.getMessage() + ")");
            }
            loop.call(() -> {
                mine.unpackNext(next, theirs, () -> {
                    RankFailedException f = failure;
                    if (f != null) {
                        throw f; // the owner may be gone: do not let UCX touch its memory
                    }
                });
                return null;
            }, options.waitBound(), "allocateBuffers: remote keys");
        }
        // Nobody leaves allocateBuffers (and may close, unmapping its buffers) before every rank has
        // unpacked its neighbour's keys: UCX 1.13 crashes (SIGSEGV in uct_rkey_release) when it
        // unpacks the key of shared memory its owner already unmapped.
        barrier(options.waitBound());
    }

    @Override
    public MemorySegment buffer(int index) {
        checkOpen("buffer");
        if (buffers == null) {
            throw new IllegalStateException("buffer: allocateBuffers has not been called");
        }
        return buffers.segment(index);
    }

    private void checkOpen(String what) {
        if (closed) {
            throw new IllegalStateException(what + ": the transport of rank " + rank + " is closed");
        }
    }

    private void checkPost(int index, long lengthBytes) {
        if (closed) {
            throw new IllegalStateException("transport of rank " + rank + " is closed");
        }
        MemorySegment b = buffer(index);
        if (lengthBytes < 0 || lengthBytes > b.byteSize()) {
            throw new IllegalArgumentException("lengthBytes: must be in [0, " + b.byteSize() + "], got " + lengthBytes);
        }
    }

    @Override
    public Transfer sendToNext(int index, long lengthBytes, int step) {
        checkPost(index, lengthBytes);
        UcxTransfer t = new UcxTransfer(this, nextRank, "send of step " + step + " to rank " + nextRank);
        long addr = buffer(index).address();
        if (!sendByPut || smallByTag && lengthBytes <= SMALL_BY_TAG) {
            post(t, () -> paths.sendTagged(t, true, addr, lengthBytes, slots.tag(PutSlots.KIND_DATA, step)));
        } else {
            post(t, () -> paths.putWhenReady(t, buffers, addr, lengthBytes, step));
        }
        return t;
    }

    /** Always tagged: the put path's remote keys and ready/done slots serve the forward direction. */
    @Override
    public Transfer sendToPrevious(int index, long lengthBytes, int step) {
        checkPost(index, lengthBytes);
        UcxTransfer t = new UcxTransfer(this, prevRank, "reverse send of step " + step + " to rank " + prevRank);
        long addr = buffer(index).address();
        post(t, () -> paths.sendTagged(t, false, addr, lengthBytes, slots.tag(PutSlots.KIND_REVERSE, step)));
        return t;
    }

    @Override
    public Transfer receiveFromNext(int index, long lengthBytes, int step) {
        checkPost(index, lengthBytes);
        UcxTransfer t = new UcxTransfer(this, nextRank, "reverse receive of step " + step + " from rank " + nextRank);
        long addr = buffer(index).address();
        post(t, () -> paths.receiveTagged(t, addr, lengthBytes, slots.tag(PutSlots.KIND_REVERSE, step), nextRank));
        return t;
    }

    @Override
    public boolean reverseSupported() {
        return true;
    }

    @Override
    public Transfer receiveFromPrevious(int index, long lengthBytes, int step) {
        checkPost(index, lengthBytes);
        UcxTransfer t = new UcxTransfer(this, prevRank, "receive of step " + step + " from rank " + prevRank);
        long addr = buffer(index).address();
        if (!receiveByPut || smallByTag && lengthBytes <= SMALL_BY_TAG) {
            post(t, () -> paths.receiveTagged(t, addr, lengthBytes, slots.tag(PutSlots.KIND_DATA, step), prevRank));
        } else {
            post(t, () -> paths.receiveByPut(t, index, lengthBytes, step));
        }
        return t;
    }

    /**
     * Runs a post on the progress thread; if UCX throws there, the transfer fails with the error
     * (the thread goes on serving the others).
     */
    private void post(UcxTransfer t, Runnable action) {
        loop.runOrExecute(() -> {
            try {
                action.run();
            } catch (RuntimeException e) {
                t.fail(failure != null ? failure : new TransportException(t.what + " on rank " + rank + ": UCX: "
                        + e.getMessage(), e));
            }
        });
    }

    /**
     * Progresses the worker on the calling thread until {@code done} holds or the options'
     * {@code spinWait} has passed (then the caller sleeps on its future and the progress thread serves it).
     */
    void spinUntil(BooleanSupplier done) {
        if (spinNanos > 0) {
            loop.drive(done, spinNanos);
        }
    }

    RankFailedException ucxError(int peer, int status, String message) {
        RankFailedException f = failure;
        return f != null ? f : new RankFailedException(peer, host(peer), "UCX error " + status + ": " + message);
    }

    private void failAll(RankFailedException f) {
        synchronized (failureLock) { // not "this": close() holds that while it waits for the progress thread
            if (failure != null) {
                return;
            }
            failure = f;
        }
        for (UcxTransfer t : pending) {
            t.future.completeExceptionally(f);
        }
    }

    /**
     * A UCX endpoint error is a local view: the peer may only have exited because it learned of
     * another rank's death first. Give the control plane (which names the rank that died first) a
     * moment before blaming this peer.
     */
    RankFailedException preferControlVerdict(RankFailedException local) {
        if (control == null) {
            return local;
        }
        long end = System.nanoTime() + UCX_VERDICT_GRACE.toNanos();
        while (control.failure() == null && System.nanoTime() < end) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        RankFailedException c = control.failure();
        return c != null ? c : local;
    }

    private void failFromUcx(RankFailedException f) {
        if (failure != null || closed) {
            return;
        }
        Thread.ofVirtual().start(() -> {
            long end = System.nanoTime() + UCX_VERDICT_GRACE.toNanos();
            while (System.nanoTime() < end && control.failure() == null && failure == null) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    break;
                }
            }
            RankFailedException c = control.failure();
            failAll(c != null ? c : f);
        });
    }

    /**
     * Gives up because of this rank's own error: every other rank fails promptly with a
     * {@link RankFailedException} naming this rank, instead of waiting out the timeout.
     */
    public void abort(Throwable cause) {
        if (control != null) {
            control.abort(String.valueOf(cause));
        }
    }

    @Override
    public void barrier(Duration wait) {
        allGather(new byte[0], wait);
    }

    @Override
    public byte[][] allGather(byte[] local, Duration wait) {
        checkOpen("allGather");
        RankFailedException f = failure;
        if (f != null) {
            throw f;
        }
        return control.allGather(local, wait);
    }

    /** Closes in UCX's order: cancel, flush, rkeys, endpoints, memory, worker, then the context. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Duration bound = Duration.ofMillis(Math.min(options.timeout().toMillis(), 5000));
        boolean memoryReleased = false;
        try {
            memoryReleased = loop.call(() -> teardown(bound), bound.plusSeconds(10), "close");
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "ringattn: rank " + rank + ": UCX teardown incomplete: " + e.getMessage());
        }
        boolean stopped = loop.stop(Duration.ofSeconds(5));
        if (control != null) {
            control.close();
        }
        if (memoryReleased && stopped) {
            context.close();
            slots.close();
        } else {
            // UCX may still write into the ready/done slots of a request it did not cancel: leave them mapped too.
            LOG.log(System.Logger.Level.WARNING, "ringattn: rank " + rank + ": leaving the UCX context open (memory still mapped)");
        }
    }

    private void closeAfterFailedStart() {
        closed = true;
        boolean released = false;
        try {
            released = loop.call(() -> teardown(Duration.ofSeconds(2)), Duration.ofSeconds(5), "close");
        } catch (RuntimeException ignored) {
            // best effort
        }
        boolean stopped = loop.stop(Duration.ofSeconds(5));
        if (control == null && pmix != null) {
            pmix.close();
        }
        if (control != null) {
            control.abort("failed to start");
            control.close();
        }
        if (released && stopped) {
            context.close();
            slots.close();
        }
    }

    /**
     * Loop thread. Returns true when all mapped memory was released (the context may be closed).
     * Each step is guarded: a dead peer makes some of them fail, and the later ones must still run.
     */
    private boolean teardown(Duration bound) {
        boolean healthy = failure == null;
        if (paths != null) {
            paths.cancelOpen(step -> guard("cancel", step));
        }
        if (healthy && worker != null) {
            // Remote completion of everything this rank sent (a completed eager send may still sit
            // in UCX's own queue); endpoints can then be closed without flushing.
            guard("flush", () -> progressUntil(worker.flushNonBlocking(null), bound));
        }
        if (buffers != null) {
            buffers.releaseKeys(step -> guard("release rkey", step));
        }
        List<UcpEndpoint> eps = new ArrayList<>();
        if (next != null) {
            eps.add(next);
        }
        if (prev != null && prev != next) {
            eps.add(prev);
        }
        // After a failure an endpoint to the dead peer may never report its close (seen with
        // peer-error mode: 5 s per endpoint, in vain); the requests on it were cancelled above.
        Duration closeBound = healthy ? Duration.ofMillis(Math.min(2000, bound.toMillis())) : Duration.ofMillis(200);
        for (UcpEndpoint ep : eps) {
            guard("close endpoint", () -> progressUntil(ep.closeNonBlockingForce(), closeBound));
        }
        boolean released = buffers == null || buffers.unmap(step -> guard("unmap memory", step));
        if (worker != null && released) {
            guard("close worker", worker::close);
        }
        loop.progressWith(() -> 0);
        return released;
    }

    private boolean guard(String what, Runnable step) {
        try {
            step.run();
            return true;
        } catch (RuntimeException e) {
            // Closing an endpoint whose peer closed first fails harmlessly ("Invalid parameter").
            if (failure == null && !what.equals("close endpoint") && !what.equals("cancel")) {
                LOG.log(System.Logger.Level.WARNING, "ringattn: rank " + rank + ": " + what + " failed during close: " + e.getMessage());
            }
            return false;
        }
    }

    private void progressUntil(UcpRequest r, Duration bound) {
        long end = System.nanoTime() + bound.toNanos();
        while (r != null && !r.isCompleted() && System.nanoTime() < end) {
            try {
                worker.progress();
            } catch (Exception e) {
                // a dead peer's endpoint reports its error here; keep going until the deadline
            }
        }
    }
}
