package ringattn.engine.transport;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * A ring whose ranks are threads of this JVM. A send and the matching receive meet in a mailbox;
 * the data is copied once, straight from the sender's buffer into the receiver's, on the sender's
 * progress thread, so both posts return at once and the copy overlaps the ranks' compute. A message
 * of at most {@value #INLINE_BYTES} bytes (a decoder's attention state, a token) is copied at once by
 * the thread that posts the second half of the pair, and a wait spins up to 200 µs before it sleeps:
 * such a message costs microseconds, not two thread wake-ups.
 *
 * <p>{@link #fail(int, Throwable)} marks a rank dead: every pending and later wait on any rank
 * fails with a {@link RankFailedException} naming it. A rank's transport, once closed, refuses use
 * with an {@link IllegalStateException}; each rank gets its own copy of an all-gather's result.
 * Thread-safe.
 */
public final class InJvmRing {
    /** Messages up to this many bytes are copied by the posting thread. */
    static final long INLINE_BYTES = 16 << 10;
    /** How long a wait spins (then yields) before it sleeps on its future. */
    private static final long SPIN_NANOS = 200_000;
    private final int worldSize;
    private final Duration timeout;
    private final Local[] ranks;
    private final Map<Long, Meeting> meetings = new ConcurrentHashMap<>();
    private final Map<Integer, Gather> gathers = new ConcurrentHashMap<>();
    private volatile RankFailedException failure;

    private InJvmRing(int worldSize, Duration timeout) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("worldSize: must be >= 1, got " + worldSize);
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout: must be positive, got " + timeout);
        }
        this.worldSize = worldSize;
        this.timeout = timeout;
        this.ranks = new Local[worldSize];
        for (int r = 0; r < worldSize; r++) {
            ranks[r] = new Local(r);
        }
    }

    /** A ring of {@code worldSize} in-JVM ranks with the given failure bound. */
    public static InJvmRing create(int worldSize, Duration timeout) {
        return new InJvmRing(worldSize, timeout);
    }

    /** The transport of {@code rank}. */
    public RingTransport rank(int rank) {
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank: must be in [0, " + worldSize + "), got " + rank);
        }
        return ranks[rank];
    }

    public int worldSize() {
        return worldSize;
    }

    /** Marks {@code rank} as failed; every wait on this ring then fails naming it. */
    public void fail(int rank, Throwable cause) {
        if (failure == null) {
            synchronized (this) {
                if (failure == null) {
                    failure = new RankFailedException(rank, "localhost", String.valueOf(cause));
                }
            }
        }
        RankFailedException f = failure;
        meetings.values().forEach(m -> m.failAll(f));
        gathers.values().forEach(g -> g.done.completeExceptionally(f));
    }

    /**
     * Runs {@code body} on every rank, each on its own thread, and returns the results by rank. The
     * first failure marks its rank failed (so no other rank waits for it) and is rethrown after all
     * threads end; the ring's transports are closed at the end.
     */
    public static <T> List<T> run(int worldSize, Duration timeout, Function<RingTransport, T> body) {
        InJvmRing ring = create(worldSize, timeout);
        ExecutorService exec = Executors.newFixedThreadPool(worldSize, r -> {
            Thread t = new Thread(r, "ringattn-rank");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < worldSize; r++) {
                int rank = r;
                futures.add(exec.submit(() -> {
                    Thread.currentThread().setName("ringattn-rank-" + rank);
                    try {
                        return body.apply(ring.rank(rank));
                    } catch (RuntimeException | Error e) {
                        if (!(e instanceof RankFailedException)) {
                            ring.fail(rank, e);
                        }
                        throw e;
                    }
                }));
            }
            List<T> results = new ArrayList<>();
            Throwable first = null;
            for (Future<T> f : futures) {
                try {
                    results.add(f.get());
                } catch (ExecutionException e) {
                    if (first == null || (first instanceof RankFailedException && !(e.getCause() instanceof RankFailedException))) {
                        first = e.getCause();
                    }
                    results.add(null);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new TransportException("interrupted while waiting for ranks", e);
                }
            }
            if (first instanceof RuntimeException re) {
                throw re;
            } else if (first instanceof Error err) {
                throw err;
            }
            return results;
        } finally {
            exec.shutdownNow();
            for (Local l : ring.ranks) {
                l.close();
            }
        }
    }

    private RankFailedException failed() {
        return failure;
    }

    /** A send and a receive of one step meet here. */
    private static final class Meeting {
        MemorySegment src;
        long srcLength;
        MemorySegment dst;
        long dstLength;
        volatile long doneNanos = -1;
        final CompletableFuture<Void> sent = new CompletableFuture<>();
        final CompletableFuture<Void> received = new CompletableFuture<>();

        void failAll(Throwable t) {
            sent.completeExceptionally(t);
            received.completeExceptionally(t);
        }
    }

    private static final class Gather {
        final byte[][] parts;
        int arrived;
        final CompletableFuture<byte[][]> done = new CompletableFuture<>();

        Gather(int n) {
            parts = new byte[n][];
        }
    }

    private final class Local implements RingTransport {
        private final int rank;
        private final Arena arena = Arena.ofShared();
        private final ExecutorService progress;
        private MemorySegment[] buffers;
        private int collectives;
        private volatile boolean closed;

        Local(int rank) {
            this.rank = rank;
            this.progress = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "ringattn-injvm-progress-" + rank);
                t.setDaemon(true);
                return t;
            });
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
            return "localhost";
        }

        @Override
        public Duration timeout() {
            return timeout;
        }

        @Override
        public void allocateBuffers(int count, long lengthBytes) {
            checkOpen("allocateBuffers");
            if (buffers != null) {
                throw new IllegalStateException("allocateBuffers: already called on rank " + rank);
            }
            BufferAgreement.check(this, count, lengthBytes, timeout);
            buffers = new MemorySegment[count];
            for (int i = 0; i < count; i++) {
                buffers[i] = arena.allocate(Math.max(lengthBytes, 1), 64).asSlice(0, lengthBytes);
            }
        }

        @Override
        public MemorySegment buffer(int index) {
            checkOpen("buffer");
            if (buffers == null) {
                throw new IllegalStateException("buffer: allocateBuffers has not been called");
            }
            return buffers[index];
        }

        private Meeting meeting(long key) {
            return meetings.computeIfAbsent(key, k -> new Meeting());
        }

        /** Mailbox key: receiver, direction (1 = towards lower ranks) and step. */
        private static long key(int receiver, boolean reverse, int step) {
            return ((long) receiver << 33) | (reverse ? 1L << 32 : 0) | (step & 0xFFFFFFFFL);
        }

        @Override
        public Transfer sendToNext(int index, long lengthBytes, int step) {
            checkOpen("sendToNext");
            return send(index, lengthBytes, step, false);
        }

        @Override
        public Transfer sendToPrevious(int index, long lengthBytes, int step) {
            checkOpen("sendToPrevious");
            return send(index, lengthBytes, step, true);
        }

        @Override
        public Transfer receiveFromPrevious(int index, long lengthBytes, int step) {
            checkOpen("receiveFromPrevious");
            return receive(index, lengthBytes, step, false);
        }

        @Override
        public Transfer receiveFromNext(int index, long lengthBytes, int step) {
            checkOpen("receiveFromNext");
            return receive(index, lengthBytes, step, true);
        }

        @Override
        public boolean reverseSupported() {
            return true;
        }

        private Transfer send(int index, long lengthBytes, int step, boolean reverse) {
            MemorySegment src = buffer(index).asSlice(0, lengthBytes);
            int next = reverse ? (rank - 1 + worldSize) % worldSize : (rank + 1) % worldSize;
            long key = key(next, reverse, step);
            Meeting m = meeting(key);
            boolean ready;
            synchronized (m) {
                m.src = src;
                m.srcLength = lengthBytes;
                ready = m.dst != null;
            }
            if (ready) {
                schedule(m, key);
            }
            return new LocalTransfer(m, m.sent, next);
        }

        private Transfer receive(int index, long lengthBytes, int step, boolean reverse) {
            MemorySegment dst = buffer(index).asSlice(0, lengthBytes);
            int prev = reverse ? (rank + 1) % worldSize : (rank - 1 + worldSize) % worldSize;
            long key = key(rank, reverse, step);
            Meeting m = meeting(key);
            boolean ready;
            synchronized (m) {
                m.dst = dst;
                m.dstLength = lengthBytes;
                ready = m.src != null;
            }
            if (ready) {
                ranks[prev].schedule(m, key);
            }
            return new LocalTransfer(m, m.received, prev);
        }

        /** Copies on this (sending) rank's progress thread. */
        private void schedule(Meeting m, long key) {
            Runnable meet = () -> {
                if (m.srcLength != m.dstLength) {
                    TransportException e = new TransportException("ranks disagree on message size: rank "
                            + rank + " sends " + m.srcLength + " bytes, rank " + (key >>> 33) + " expects " + m.dstLength);
                    m.failAll(e);
                } else {
                    MemorySegment.copy(m.src, 0, m.dst, 0, m.srcLength);
                    m.doneNanos = System.nanoTime();
                    m.sent.complete(null);
                    m.received.complete(null);
                }
                meetings.remove(key, m);
            };
            if (m.srcLength <= INLINE_BYTES) {
                meet.run(); // a small message: copied by the posting thread, no hand-off to the progress thread
            } else {
                progress.execute(meet);
            }
        }

        @Override
        public void abort(Throwable cause) {
            fail(rank, cause);
        }

        @Override
        public void barrier(Duration wait) {
            checkOpen("barrier");
            allGather(new byte[0], wait);
        }

        @Override
        public byte[][] allGather(byte[] local, Duration wait) {
            checkOpen("allGather");
            RankFailedException f = failed();
            if (f != null) {
                throw f;
            }
            int seq = collectives++;
            Gather g = gathers.computeIfAbsent(seq, k -> new Gather(worldSize));
            synchronized (g) {
                g.parts[rank] = local.clone();
                if (++g.arrived == worldSize) {
                    g.done.complete(g.parts);
                    gathers.remove(seq);
                }
            }
            try {
                byte[][] all = g.done.get(wait.toNanos(), TimeUnit.NANOSECONDS);
                byte[][] mine = new byte[all.length][]; // ranks share nothing: each gets its own copy
                for (int r = 0; r < all.length; r++) {
                    mine[r] = all[r].clone();
                }
                return mine;
            } catch (TimeoutException e) {
                StringBuilder missing = new StringBuilder();
                synchronized (g) {
                    for (int r = 0; r < worldSize; r++) {
                        if (g.parts[r] == null) {
                            missing.append(missing.isEmpty() ? "" : ", ").append(r);
                        }
                    }
                }
                throw new RankFailedException(Integer.parseInt(missing.toString().split(",")[0].trim()), "localhost",
                        "did not reach collective #" + seq + " within " + wait + " (missing ranks: " + missing + ")");
            } catch (ExecutionException e) {
                throw e.getCause() instanceof TransportException te ? te : new TransportException(e.getCause().toString(), e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new TransportException("interrupted in collective", e);
            }
        }

        private void checkOpen(String method) {
            if (closed) {
                throw new IllegalStateException(method + ": the transport of rank " + rank + " is closed");
            }
        }

        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            progress.shutdownNow();
            try {
                progress.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            arena.close();
        }

        private final class LocalTransfer implements Transfer {
            private final Meeting meeting;
            private final CompletableFuture<Void> future;
            private final int peer;

            LocalTransfer(Meeting meeting, CompletableFuture<Void> future, int peer) {
                this.meeting = meeting;
                this.future = future;
                this.peer = peer;
            }

            @Override
            public long completedNanos() {
                return isDone() ? meeting.doneNanos : -1;
            }

            @Override
            public boolean isDone() {
                return future.isDone() && !future.isCompletedExceptionally();
            }

            @Override
            public void await(Duration wait) {
                RankFailedException f = failed();
                if (f != null && !future.isDone()) {
                    throw f;
                }
                long start = System.nanoTime();
                for (int spins = 0; !future.isDone() && System.nanoTime() - start < SPIN_NANOS; spins++) {
                    if (spins < 64) {
                        Thread.onSpinWait();
                    } else {
                        Thread.yield();
                    }
                }
                try {
                    future.get(wait.toNanos(), TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    throw new RankFailedException(peer, "localhost", "no transfer from/to rank " + rank
                            + " within " + wait);
                } catch (ExecutionException e) {
                    throw e.getCause() instanceof TransportException te ? te : new TransportException(e.getCause().toString(), e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new TransportException("interrupted while waiting for a transfer", e);
                }
            }
        }
    }
}
