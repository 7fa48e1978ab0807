package ringattn.transport.ucx;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import ringattn.engine.transport.RankFailedException;
import ringattn.transport.ucx.ControlMessage.Join;
import ringattn.transport.ucx.ControlMessage.Peer;

/**
 * Rank 0's side of the bootstrap: accepts connections on its server socket until every rank has
 * joined. Each connection gets its own thread and one deadline for the whole handshake and join
 * ({@link #HANDSHAKE_BOUND}, after which its socket is closed), at most {@link #MAX_HANDSHAKES} at
 * once; so a silent or trickling stranger costs the job nothing. A connection that fails the
 * handshake or joins with the wrong world size, rank or job parameters is refused (told why,
 * closed, logged) and the coordinator keeps accepting.
 *
 * <p>Used by one thread (the bootstrapping one); its handshake threads are its own.
 */
final class Coordinator {
    /** How long a connection may take from accept to a complete join. */
    static final Duration HANDSHAKE_BOUND = Duration.ofSeconds(5);
    /** Handshakes served at once; further connections are closed at once. */
    static final int MAX_HANDSHAKES = 32;
    /** Refusals logged one by one; after that only counted. */
    private static final int LOGGED_REFUSALS = 5;
    private static final System.Logger LOG = System.getLogger("ringattn.transport.ucx");

    private final TransportOptions options;
    private final Handshake.JobKey key;
    private final ServerSocket server;
    private final int worldSize;
    private final ControlChannel[] byRank;
    private final Peer[] table;
    private int joined = 1; // guarded by this
    private final List<String> refusals = new ArrayList<>(); // guarded by this
    private int refusalCount; // guarded by this
    /** How often the join looks at the missing ranks' rendezvous entries. */
    private static final long OBSERVE_NANOS = TimeUnit.MILLISECONDS.toNanos(250);
    private final java.util.Map<Integer, String> notes = new java.util.HashMap<>(); // guarded by this
    private final AtomicInteger active = new AtomicInteger();
    /** Connections still in their handshake: closed when the join ends, so none outlives it. */
    private final java.util.Set<Socket> inHandshake = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Why the join failed, for the ranks that did join (set before the channels are closed). */
    private ControlMessage.Fail failedJoin = new ControlMessage.Fail(0, "?", "the coordinator gave up"); // guarded by this
    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("ringattn-handshake-watchdog").factory());

    Coordinator(TransportOptions options, Handshake.JobKey key, ServerSocket server, Peer self) {
        this.options = options;
        this.key = key;
        this.server = server;
        this.worldSize = options.worldSize();
        this.byRank = new ControlChannel[worldSize];
        this.table = new Peer[worldSize];
        table[0] = self;
    }

    /** The joined ranks' channels by rank (index 0 empty) and the table; throws when incomplete by {@code deadline}. */
    record Joined(ControlChannel[] channels, List<Peer> peers) {
    }

    Joined await(long deadlineNanos, java.util.function.Function<Integer, String> whyMissing) {
        Thread acceptor = Thread.ofPlatform().daemon().name("ringattn-coordinator").start(this::acceptLoop);
        try {
            synchronized (this) {
                while (joined < worldSize) {
                    observe(whyMissing);
                    long left = deadlineNanos - System.nanoTime();
                    if (left <= 0) {
                        throw timeout();
                    }
                    TimeUnit.NANOSECONDS.timedWait(this, Math.min(left, OBSERVE_NANOS));
                }
                return new Joined(byRank.clone(), List.of(table.clone()));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ringattn.engine.transport.TransportException("bootstrap: interrupted", e);
        } finally {
            try {
                server.close();
            } catch (IOException ignored) {
                // nothing to do
            }
            watchdog.shutdownNow();
            inHandshake.forEach(Coordinator::close);
            try {
                acceptor.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            synchronized (this) {
                if (joined < worldSize) {
                    // Tell the ranks that did join why the job ends, then let them go.
                    ControlMessage.Fail why = new ControlMessage.Fail(failedJoin.rank(), "?", failedJoin.reason());
                    for (ControlChannel c : byRank) {
                        if (c != null) {
                            c.sendQuietly(why);
                            c.close();
                        }
                    }
                }
                if (refusalCount > LOGGED_REFUSALS) {
                    LOG.log(Level.WARNING, "ringattn: rank 0: refused " + refusalCount + " connections in all");
                }
            }
        }
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            Socket s;
            try {
                s = server.accept();
            } catch (IOException e) {
                return; // closed
            }
            if (active.incrementAndGet() > MAX_HANDSHAKES) {
                active.decrementAndGet();
                refuse(s, "too many connections at once (" + MAX_HANDSHAKES + " handshakes in progress)");
                close(s);
                continue;
            }
            inHandshake.add(s);
            if (server.isClosed()) {
                close(s);
            }
            Thread.ofVirtual().name("ringattn-handshake").start(() -> {
                try {
                    serve(s);
                } finally {
                    inHandshake.remove(s);
                    active.decrementAndGet();
                }
            });
        }
    }

    /** One connection: handshake, join, all within {@link #HANDSHAKE_BOUND}. */
    private void serve(Socket s) {
        ScheduledFuture<?> expiry;
        try {
            expiry = watchdog.schedule(() -> close(s), HANDSHAKE_BOUND.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            close(s); // the join is over
            return;
        }
        ControlChannel c = null;
        try {
            s.setSoTimeout((int) HANDSHAKE_BOUND.toMillis());
            c = Handshake.accept(s, key);
            ControlMessage first = c.receive();
            if (!(first instanceof Join j)) {
                throw new IOException("expected a join, got " + first.getClass().getSimpleName());
            }
            String problem = check(j);
            if (problem == null) {
                synchronized (this) {
                    if (!expiry.cancel(false)) {
                        throw new IOException("handshake not complete within " + HANDSHAKE_BOUND);
                    }
                    if (byRank[j.rank()] != null) {
                        problem = "rank: " + j.rank() + " joined twice (from " + table[j.rank()].host() + " and "
                                + Messages.cut(j.host()) + ")";
                    } else {
                        inHandshake.remove(s); // before the join can end: its sockets still in a handshake get closed
                        c.peerRank = j.rank();
                        byRank[j.rank()] = c;
                        table[j.rank()] = new Peer(j.rank(), Messages.cut(j.host()), j.workerAddress());
                        joined++;
                        notifyAll();
                        return;
                    }
                }
            }
            c.sendQuietly(new ControlMessage.Refused(problem));
            refuse(s, problem);
        } catch (Handshake.WrongKeyException e) {
            refuse(s, "wrong job secret or job id");
        } catch (IOException | RuntimeException e) {
            refuse(s, s.isClosed() && expiry.isDone() ? "handshake not complete within " + HANDSHAKE_BOUND
                    : e instanceof java.io.EOFException ? "closed by the other side during the handshake"
                    : e.getMessage() == null ? e.getClass().getSimpleName() : Messages.cut(e.getMessage()));
        }
        expiry.cancel(false);
        if (c != null) {
            c.close();
        }
        close(s);
    }

    /** Why {@code j} cannot join this job, or null. */
    private String check(Join j) {
        if (j.worldSize() != worldSize) {
            return "worldSize: rank " + j.rank() + " on " + Messages.cut(j.host()) + " has " + j.worldSize()
                    + ", rank 0 has " + worldSize;
        }
        if (j.rank() < 1 || j.rank() >= worldSize) {
            return "rank: " + j.rank() + " from " + Messages.cut(j.host()) + " is out of range [1, " + worldSize + ")";
        }
        if (!j.params().equals(options.jobParams())) {
            return "jobParams: rank " + j.rank() + " on " + Messages.cut(j.host()) + " has '" + Messages.cut(j.params())
                    + "', rank 0 has '" + Messages.cut(options.jobParams()) + "'";
        }
        if (!WorkerAddress.plausible(j.workerAddress(), table[0].workerAddress())) {
            return "rank " + j.rank() + " on " + Messages.cut(j.host()) + " sent a malformed UCX worker address ("
                    + j.workerAddress().length + " bytes)";
        }
        return null;
    }

    private synchronized void refuse(Socket s, String why) {
        String line = "refused a connection from " + s.getRemoteSocketAddress() + ": " + why;
        refusalCount++;
        if (refusals.size() < LOGGED_REFUSALS) {
            refusals.add(line);
            LOG.log(Level.WARNING, "ringattn: rank 0: " + line);
        }
    }

    /**
     * Notes why each missing rank is missing. A finding other than a missing entry sticks: a rank
     * that gave up removes its entry, and what it had said is the news.
     */
    private void observe(java.util.function.Function<Integer, String> whyMissing) {
        for (int r = 0; r < worldSize; r++) {
            if (table[r] == null) {
                String why = whyMissing.apply(r);
                if (why != null && (!why.equals(Rendezvous.NO_ENTRY) || !notes.containsKey(r))) {
                    notes.put(r, why);
                }
            }
        }
    }

    private RankFailedException timeout() {
        StringBuilder missing = new StringBuilder();
        int first = -1;
        for (int r = 0; r < worldSize; r++) {
            if (table[r] == null) {
                first = first < 0 ? r : first;
                missing.append(missing.isEmpty() ? "" : ", ").append(r);
                String why = notes.get(r);
                if (why != null) {
                    missing.append(" (").append(why).append(')');
                }
            }
        }
        String refused = refusals.isEmpty() ? ""
                : "; " + String.join("; ", refusals.subList(0, Math.min(3, refusals.size())))
                        + (refusalCount > 3 ? "; and " + (refusalCount - 3) + " more refusals" : "");
        String reason = "bootstrap: ranks " + missing + " did not join within " + options.waitBound() + refused;
        failedJoin = new ControlMessage.Fail(first, "?", reason);
        return new RankFailedException(first, null, reason);
    }

    private static void close(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
