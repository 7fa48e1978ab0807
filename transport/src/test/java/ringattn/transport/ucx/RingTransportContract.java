package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import ringattn.engine.transport.RankFailedException;
import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.Transfer;
import ringattn.engine.transport.TransportException;

/**
 * The promises of {@link RingTransport} (and {@link Transfer}), tested against one implementation
 * per subclass. Every test starts a ring of P ranks, runs a body on each rank's own thread (the
 * rank's "ring loop") and closes each transport on that thread. The promises, from the javadoc:
 *
 * <ol>
 * <li>rank r of {@code worldSize} sends to r+1 and receives from r−1 (mod P); {@code host()} names
 *     the host, {@code timeout()} is the bound the ring was started with;</li>
 * <li>{@code allocateBuffers(count, lengthBytes)} is collective, gives {@code count} buffers of
 *     {@code lengthBytes} bytes, 64-byte aligned; ranks that disagree all fail with a
 *     {@link TransportException}; it may be called once;</li>
 * <li>a send moves the first {@code lengthBytes} of a buffer, a receive fills the first
 *     {@code lengthBytes} of one; posts do not block, a send and a receive meet by step number
 *     (whatever the order of the posts), zero bytes included; sizes that differ fail naming both
 *     ranks;</li>
 * <li>with {@code reverseSupported()} the same the other way, independent of the forward
 *     direction; without it the reverse methods throw {@link UnsupportedOperationException};</li>
 * <li>{@code allGather} returns every rank's bytes by rank; {@code barrier} returns only after every
 *     rank entered it and fails after its timeout otherwise;</li>
 * <li>a wait that the peer never answers fails after the wait's timeout with a
 *     {@link RankFailedException} naming that peer; {@code isDone}/{@code completedNanos} say when a
 *     transfer completed;</li>
 * <li>{@code abort} ends the other ranks' pending and later waits promptly, naming the aborting
 *     rank;</li>
 * <li>{@code close} releases everything and is idempotent, whenever it comes (also right after the
 *     ring started); a closed transport refuses use with an {@link IllegalStateException}.</li>
 * </ol>
 *
 * <p>Every wait is bounded: transfers by {@link #AWAIT}, a whole ring by {@link #RING_BOUND}.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
abstract class RingTransportContract {
    /** The transports' failure-detection bound ({@link RingTransport#timeout()}). */
    static final Duration TIMEOUT = Duration.ofSeconds(10);
    /** The bound on waits that are expected to complete. */
    static final Duration AWAIT = Duration.ofSeconds(10);
    /** The bound on waits that are expected to time out. */
    static final Duration SHORT = Duration.ofSeconds(1);
    /**
     * The failure bound of rings whose tests do not depend on it (use after close): a transport that
     * waits where it should refuse then costs seconds, not {@link #TIMEOUT}.
     */
    static final Duration BRIEF_TIMEOUT = Duration.ofSeconds(2);
    /** The bound on one whole ring (every rank's body and close). */
    static final Duration RING_BOUND = Duration.ofSeconds(40);
    private static final byte SENTINEL = 0x5A;

    /** Starts the ranks of one ring. */
    @FunctionalInterface
    interface Ring {
        /**
         * The transport of {@code rank}: called once per rank, on that rank's thread, for all ranks
         * at the same time (bootstrap may be collective).
         */
        RingTransport connect(int rank);
    }

    /** One rank's part of a test; runs on the rank's own thread. */
    @FunctionalInterface
    interface RankBody<T> {
        T run(RingTransport transport) throws Exception;
    }

    /** A new ring of {@code worldSize} ranks whose transports have the failure bound {@code timeout}. */
    protected abstract Ring newRing(int worldSize, Duration timeout);

    /** {@link #onEveryRank(int, Duration, RankBody)} with the failure bound {@link #TIMEOUT}. */
    final <T> List<T> onEveryRank(int worldSize, RankBody<T> body) {
        return onEveryRank(worldSize, TIMEOUT, body);
    }

    /**
     * Runs {@code body} on every rank of a new ring with the failure bound {@code timeout}, each
     * rank on its own thread, closes each rank's transport on that thread and returns the results
     * by rank. Fails naming every rank whose body (or close) threw, or that had not finished within
     * {@link #RING_BOUND}.
     */
    final <T> List<T> onEveryRank(int worldSize, Duration timeout, RankBody<T> body) {
        Ring ring = newRing(worldSize, timeout);
        ExecutorService threads = Executors.newFixedThreadPool(worldSize, r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < worldSize; r++) {
                int rank = r;
                futures.add(threads.submit(() -> {
                    Thread.currentThread().setName("contract-rank-" + rank);
                    try (RingTransport t = ring.connect(rank)) {
                        return body.run(t);
                    }
                }));
            }
            long deadline = System.nanoTime() + RING_BOUND.toNanos();
            List<T> results = new ArrayList<>();
            AssertionError failed = null;
            for (int r = 0; r < worldSize; r++) {
                Throwable error = null;
                try {
                    results.add(futures.get(r).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
                } catch (ExecutionException e) {
                    error = e.getCause();
                } catch (TimeoutException e) {
                    error = new AssertionError("still running after " + RING_BOUND);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    error = e;
                }
                if (error != null) {
                    results.add(null);
                    AssertionError e = new AssertionError("rank " + r + " of " + worldSize + ": " + error, error);
                    if (failed == null) {
                        failed = e;
                    } else {
                        failed.addSuppressed(e);
                    }
                }
            }
            if (failed != null) {
                throw failed;
            }
            return results;
        } finally {
            threads.shutdownNow();
        }
    }

    // ---- identity ------------------------------------------------------------------------------

    @Test
    void ranksKnowTheirPlaceHostAndBound() {
        List<Integer> ranks = onEveryRank(3, t -> {
            assertEquals(3, t.worldSize());
            assertFalse(t.host() == null || t.host().isBlank(), "host() names this rank's host");
            assertEquals(TIMEOUT, t.timeout());
            t.barrier(AWAIT); // nobody closes while another still starts: ranksMayCloseAsSoonAsTheRingHasStarted tests that
            return t.rank();
        });
        assertEquals(List.of(0, 1, 2), ranks, "connect(r) gives the transport of rank r");
    }

    /**
     * Ranks with nothing to do close as soon as their transport exists, while their neighbours may
     * still be connecting to them; every rank still starts. Several rings, as it is a race.
     */
    @Test
    void ranksMayCloseAsSoonAsTheRingHasStarted() {
        for (int ring = 0; ring < 8; ring++) {
            assertEquals(List.of(0, 1, 2), onEveryRank(3, RingTransport::rank), "ring " + ring);
        }
    }

    // ---- allocateBuffers and buffer(i) -----------------------------------------------------------

    @ParameterizedTest(name = "3 buffers of {0} bytes")
    @ValueSource(longs = {0, 1, 4099})
    void allocateBuffersGivesCountAlignedSeparateBuffers(long lengthBytes) {
        onEveryRank(2, t -> {
            t.allocateBuffers(3, lengthBytes);
            for (int i = 0; i < 3; i++) {
                MemorySegment b = t.buffer(i);
                assertEquals(lengthBytes, b.byteSize(), "size of buffer " + i);
                assertEquals(0, b.address() % 64, "buffer " + i + " is 64-byte aligned: " + b.address());
                fill(b, lengthBytes, t.rank(), i);
            }
            for (int i = 0; i < 3; i++) { // each buffer kept its own bytes: none overlaps another
                expectPattern(t.buffer(i), lengthBytes, t.rank(), i, "buffer " + i);
            }
            return null;
        });
    }

    @Test
    void allocateBuffersMayBeCalledOnce() {
        onEveryRank(2, t -> {
            t.allocateBuffers(2, 64);
            fill(t.buffer(0), 64, t.rank(), 0);
            assertThrows(IllegalStateException.class, () -> t.allocateBuffers(2, 64));
            assertEquals(64, t.buffer(0).byteSize());
            expectPattern(t.buffer(0), 64, t.rank(), 0, "buffer 0 after the refused second call");
            rotateOnce(t, 64, 0); // the first buffers still serve the ring
            return null;
        });
    }

    @ParameterizedTest(name = "rank 2 asks for {0} x {1} bytes, the others 2 x 64")
    @CsvSource({"2, 128", "3, 64", "1, 0"})
    void ranksThatDisagreeOnBuffersAllFail(int count, long lengthBytes) {
        onEveryRank(3, t -> {
            boolean odd = t.rank() == 2;
            TransportException e = assertThrows(TransportException.class,
                    () -> t.allocateBuffers(odd ? count : 2, odd ? lengthBytes : 64));
            assertFalse(e instanceof RankFailedException, "no rank failed, they disagree: " + e);
            return null;
        });
    }

    // ---- sendToNext / receiveFromPrevious ------------------------------------------------------------

    /** Three hops per size: every rank forwards what it received, so a block visits every rank. */
    @ParameterizedTest(name = "P={0}")
    @ValueSource(ints = {1, 2, 3})
    void blocksTravelAroundTheRingByteForByte(int worldSize) {
        long[] sizes = {1, 4099, 1 << 20}; // eager and rendezvous sizes on UCX
        int hops = 3;
        onEveryRank(worldSize, t -> {
            t.allocateBuffers(2, sizes[sizes.length - 1]);
            int step = 0;
            for (long size : sizes) {
                fill(t.buffer(0), size, t.rank(), 0);
                int cur = 0;
                for (int s = 0; s < hops; s++, step++) {
                    long before = System.nanoTime();
                    Transfer send;
                    Transfer receive;
                    if (t.rank() % 2 == 0) { // neither post may wait for the peer's matching post
                        send = t.sendToNext(cur, size, step);
                        receive = t.receiveFromPrevious(1 - cur, size, step);
                    } else {
                        receive = t.receiveFromPrevious(1 - cur, size, step);
                        send = t.sendToNext(cur, size, step);
                    }
                    send.await(AWAIT);
                    receive.await(AWAIT);
                    assertCompletedSince(send, before, "send of step " + step);
                    assertCompletedSince(receive, before, "receive of step " + step);
                    int origin = Math.floorMod(t.rank() - s - 1, worldSize);
                    expectPattern(t.buffer(1 - cur), size, origin, 0,
                            "rank " + t.rank() + ", " + size + " bytes, hop " + s + " (block of rank " + origin + ")");
                    cur = 1 - cur;
                }
            }
            return null;
        });
    }

    /** Even ranks post receives first, newest step first; odd ranks post sends first, newest first. */
    @ParameterizedTest(name = "P={0}")
    @ValueSource(ints = {2, 3})
    void transfersMeetByStepNumberWhateverTheOrderOfPosts(int worldSize) {
        int steps = 3;
        long size = 4099;
        onEveryRank(worldSize, t -> {
            t.allocateBuffers(2 * steps, size); // buffers 0..steps-1 send, steps..2*steps-1 receive
            for (int k = 0; k < steps; k++) {
                fill(t.buffer(k), size, t.rank(), k);
            }
            Transfer[] sends = new Transfer[steps];
            Transfer[] receives = new Transfer[steps];
            if (t.rank() % 2 == 0) {
                for (int k = steps - 1; k >= 0; k--) {
                    receives[k] = t.receiveFromPrevious(steps + k, size, k);
                }
                for (int k = 0; k < steps; k++) {
                    sends[k] = t.sendToNext(k, size, k);
                }
            } else {
                for (int k = steps - 1; k >= 0; k--) {
                    sends[k] = t.sendToNext(k, size, k);
                }
                for (int k = 0; k < steps; k++) {
                    receives[k] = t.receiveFromPrevious(steps + k, size, k);
                }
            }
            for (int k = steps - 1; k >= 0; k--) {
                receives[k].await(AWAIT);
                sends[k].await(AWAIT);
            }
            int prev = Math.floorMod(t.rank() - 1, worldSize);
            for (int k = 0; k < steps; k++) {
                expectPattern(t.buffer(steps + k), size, prev, k, "rank " + t.rank() + " step " + k);
            }
            return null;
        });
    }

    @Test
    void aSendMovesAndAReceiveFillsOnlyTheLeadingBytes() {
        onEveryRank(2, t -> {
            t.allocateBuffers(2, 256);
            fill(t.buffer(0), 256, t.rank(), 0);
            t.buffer(1).fill(SENTINEL);
            Transfer receive = t.receiveFromPrevious(1, 100, 0);
            Transfer send = t.sendToNext(0, 100, 0);
            send.await(AWAIT);
            receive.await(AWAIT);
            expectPattern(t.buffer(1), 100, 1 - t.rank(), 0, "the received leading bytes");
            for (long i = 100; i < 256; i++) {
                assertEquals(SENTINEL, t.buffer(1).get(ValueLayout.JAVA_BYTE, i), "byte " + i + " beyond the 100 received");
            }
            expectPattern(t.buffer(0), 256, t.rank(), 0, "the sent buffer is left as it was");
            return null;
        });
    }

    /** Empty messages complete, write nothing, and the next non-empty message still arrives intact. */
    @ParameterizedTest(name = "P={0}")
    @ValueSource(ints = {1, 2, 3})
    void zeroLengthMessagesComplete(int worldSize) {
        onEveryRank(worldSize, t -> {
            t.allocateBuffers(2, 64);
            fill(t.buffer(0), 64, t.rank(), 0);
            t.buffer(1).fill(SENTINEL);
            for (int step = 0; step < 3; step++) {
                Transfer receive = t.receiveFromPrevious(1, 0, step);
                Transfer send = t.sendToNext(0, 0, step);
                send.await(AWAIT);
                receive.await(AWAIT);
                assertTrue(send.isDone() && receive.isDone(), "empty transfers of step " + step + " are done");
            }
            for (long i = 0; i < 64; i++) {
                assertEquals(SENTINEL, t.buffer(1).get(ValueLayout.JAVA_BYTE, i), "byte " + i + " after empty receives");
            }
            rotateOnce(t, 64, 3);
            return null;
        });
    }

    /** Rank 1 sends {@code sent} bytes to rank 2, which expects {@code expected}; the other links agree. */
    @ParameterizedTest(name = "rank 1 sends {0} bytes, rank 2 expects {1}")
    @CsvSource({"16, 8", "8, 16", "1048576, 65536"})
    void messageSizeMismatchFailsNamingBothRanks(long sent, long expected) {
        onEveryRank(3, t -> {
            t.allocateBuffers(2, Math.max(sent, expected));
            Transfer receive = t.receiveFromPrevious(1, t.rank() == 2 ? expected : 8, 0);
            Transfer send = t.sendToNext(0, t.rank() == 1 ? sent : 8, 0);
            if (t.rank() == 2) {
                TransportException e = assertThrows(TransportException.class, () -> receive.await(AWAIT));
                assertSizeMismatchNamesRanks(e, 1, 2);
            } else {
                receive.await(AWAIT);
            }
            if (t.rank() == 1) { // the sender may complete (its data left) or fail the same way; not blame a rank
                try {
                    send.await(AWAIT);
                } catch (TransportException e) {
                    assertSizeMismatchNamesRanks(e, 1, 2);
                }
            } else {
                send.await(AWAIT);
            }
            return null;
        });
    }

    @Test
    void postingMoreThanTheBufferHoldsFailsAtThePost() {
        onEveryRank(1, t -> {
            t.allocateBuffers(2, 64);
            for (long bad : new long[] {65, -1}) {
                assertRefusedLength(() -> t.sendToNext(0, bad, 0), "sendToNext of " + bad + " bytes");
                assertRefusedLength(() -> t.receiveFromPrevious(1, bad, 0), "receiveFromPrevious of " + bad + " bytes");
            }
            rotateOnce(t, 64, 0); // a refused post left nothing behind on its step
            return null;
        });
    }

    // ---- reverse direction -------------------------------------------------------------------

    /**
     * Each step moves a block forward and a shorter one backward with the same step number; for P=2
     * both go to the same peer, and neither may take the other's place.
     */
    @ParameterizedTest(name = "P={0}")
    @ValueSource(ints = {1, 2, 3})
    void reverseDirectionMovesDataToThePreviousRank(int worldSize) {
        long forward = 4099;
        long backward = 1000;
        onEveryRank(worldSize, t -> {
            if (!t.reverseSupported()) {
                t.allocateBuffers(1, 8);
                assertThrows(UnsupportedOperationException.class, () -> t.sendToPrevious(0, 8, 0));
                assertThrows(UnsupportedOperationException.class, () -> t.receiveFromNext(0, 8, 0));
                return null;
            }
            t.allocateBuffers(4, forward); // 0 forward out, 1 forward in, 2 backward out, 3 backward in
            int prev = Math.floorMod(t.rank() - 1, worldSize);
            int next = (t.rank() + 1) % worldSize;
            for (int step = 0; step < 3; step++) {
                fill(t.buffer(0), forward, t.rank(), step);
                fill(t.buffer(2), backward, t.rank(), 100 + step);
                Transfer backIn = t.receiveFromNext(3, backward, step);
                Transfer forwardIn = t.receiveFromPrevious(1, forward, step);
                Transfer backOut = t.sendToPrevious(2, backward, step);
                Transfer forwardOut = t.sendToNext(0, forward, step);
                forwardOut.await(AWAIT);
                backOut.await(AWAIT);
                forwardIn.await(AWAIT);
                backIn.await(AWAIT);
                expectPattern(t.buffer(1), forward, prev, step, "forward block of step " + step);
                expectPattern(t.buffer(3), backward, next, 100 + step, "backward block of step " + step);
            }
            return null;
        });
    }

    // ---- collectives -------------------------------------------------------------------------

    @ParameterizedTest(name = "P={0}")
    @ValueSource(ints = {1, 2, 3})
    void allGatherReturnsEveryRanksBytesByRank(int worldSize) {
        onEveryRank(worldSize, t -> {
            for (int round = 0; round < 3; round++) {
                byte[][] all = t.allGather(gatherPayload(t.rank(), round), AWAIT);
                assertEquals(worldSize, all.length, "one entry per rank");
                for (int q = 0; q < worldSize; q++) {
                    assertArrayEquals(gatherPayload(q, round), all[q], "round " + round + ", entry of rank " + q);
                }
            }
            return null;
        });
    }

    /** Ranks share nothing: what a rank does with its result is invisible to the others. */
    @Test
    void anAllGatherResultBelongsToTheCallingRank() {
        onEveryRank(3, t -> {
            byte[][] all = t.allGather(new byte[] {1, 2, 3, (byte) t.rank()}, AWAIT);
            t.barrier(AWAIT); // every rank holds its result
            for (byte[] part : all) {
                Arrays.fill(part, (byte) (100 + t.rank()));
            }
            t.barrier(AWAIT); // every rank has overwritten its own result
            for (int q = 0; q < 3; q++) {
                for (byte b : all[q]) {
                    assertEquals(100 + t.rank(), b, "rank " + t.rank() + "'s result for rank " + q + " was changed by another rank");
                }
            }
            return null;
        });
    }

    @Test
    void barrierReturnsOnlyAfterEveryRankEnteredIt() {
        int worldSize = 3;
        AtomicIntegerArray entered = new AtomicIntegerArray(worldSize);
        onEveryRank(worldSize, t -> {
            for (int round = 1; round <= 2; round++) {
                int late = round == 1 ? worldSize - 1 : 0;
                if (t.rank() == late) {
                    Thread.sleep(200);
                }
                entered.set(t.rank(), round);
                t.barrier(AWAIT);
                for (int q = 0; q < worldSize; q++) {
                    assertTrue(entered.get(q) >= round, "rank " + t.rank() + " left barrier " + round + " before rank " + q + " entered it");
                }
            }
            return null;
        });
    }

    @Test
    void barrierFailsAfterItsTimeoutWhenARankStaysAway() {
        CountDownLatch gaveUp = new CountDownLatch(2);
        onEveryRank(3, t -> {
            if (t.rank() == 2) {
                awaitLatch(gaveUp, "ranks 0 and 1 leaving the barrier");
                return null;
            }
            try {
                long start = System.nanoTime();
                TransportException e = assertThrows(TransportException.class, () -> t.barrier(SHORT));
                long took = System.nanoTime() - start;
                assertTrue(took < TIMEOUT.toNanos(), "barrier(" + SHORT + ") ended by its own timeout, not " + TIMEOUT + ": " + took / 1_000_000 + " ms");
                if (e instanceof RankFailedException f) {
                    assertEquals(2, f.failedRank(), "names the absent rank: " + e.getMessage());
                }
                return null;
            } finally {
                gaveUp.countDown();
            }
        });
    }

    // ---- timeouts and abort ------------------------------------------------------------------

    /** Rank 1 waits for data its neighbours never send (both directions where supported). */
    @Test
    void aReceiveThePeerNeverAnswersFailsAfterTheWaitNamingThePeer() {
        CountDownLatch checked = new CountDownLatch(1);
        onEveryRank(3, t -> {
            t.allocateBuffers(1, 64);
            if (t.rank() != 1) {
                awaitLatch(checked, "rank 1's checks");
                return null;
            }
            try {
                assertTimesOutNaming(t.receiveFromPrevious(0, 64, 0), 0);
                if (t.reverseSupported()) {
                    assertTimesOutNaming(t.receiveFromNext(0, 64, 0), 2);
                }
                return null;
            } finally {
                checked.countDown();
            }
        });
    }

    /**
     * While ranks wait on receives, one rank aborts. Their waits end before their own bound, naming
     * the aborting rank; so do later waits. Rank {@code (aborter + 2) % 3} waits on a live rank, so
     * a plain timeout would name another rank.
     */
    @ParameterizedTest(name = "rank {0} aborts")
    @ValueSource(ints = {0, 2})
    void abortEndsTheOtherRanksWaitsNamingTheAbortingRank(int aborter) {
        CountDownLatch posted = new CountDownLatch(2);
        CountDownLatch finished = new CountDownLatch(2);
        onEveryRank(3, t -> {
            t.allocateBuffers(2, 64);
            if (t.rank() == aborter) {
                awaitLatch(posted, "the others' receives");
                t.abort(new IllegalStateException("contract test: rank " + aborter + " gives up"));
                awaitLatch(finished, "the others' checks");
                return null;
            }
            try {
                Transfer pending = t.receiveFromPrevious(1, 64, 0);
                posted.countDown();
                long start = System.nanoTime();
                RankFailedException e = assertThrows(RankFailedException.class, () -> pending.await(AWAIT));
                long took = System.nanoTime() - start;
                assertEquals(aborter, e.failedRank(), "pending wait names the aborting rank: " + e.getMessage());
                assertTrue(took < AWAIT.toNanos(), "the pending wait ended promptly, not by its bound: " + took / 1_000_000 + " ms");
                RankFailedException later = assertThrows(RankFailedException.class,
                        () -> t.receiveFromPrevious(1, 64, 1).await(AWAIT));
                assertEquals(aborter, later.failedRank(), "a later transfer names the aborting rank: " + later.getMessage());
                RankFailedException gather = assertThrows(RankFailedException.class,
                        () -> t.allGather(new byte[] {1}, AWAIT));
                assertEquals(aborter, gather.failedRank(), "a later collective names the aborting rank: " + gather.getMessage());
                return null;
            } finally {
                finished.countDown();
            }
        });
    }

    // ---- close -------------------------------------------------------------------------------

    @Test
    void aClosedTransportRefusesUseAndClosesAgainQuietly() {
        onEveryRank(2, BRIEF_TIMEOUT, t -> {
            t.allocateBuffers(2, 64);
            t.barrier(AWAIT); // neither rank closes while the other still sets up
            t.close();
            List<Executable> uses = new ArrayList<>(List.of(
                    refused(() -> t.buffer(0), "buffer(0)"),
                    refused(() -> t.sendToNext(0, 8, 0), "sendToNext"),
                    refused(() -> t.receiveFromPrevious(1, 8, 0), "receiveFromPrevious"),
                    refused(() -> t.allGather(new byte[] {1}, SHORT), "allGather"),
                    refused(() -> t.barrier(SHORT), "barrier")));
            if (t.reverseSupported()) {
                uses.add(refused(() -> t.sendToPrevious(0, 8, 0), "sendToPrevious"));
                uses.add(refused(() -> t.receiveFromNext(1, 8, 0), "receiveFromNext"));
            }
            assertAll("rank " + t.rank() + " after close", uses);
            t.close(); // and once more by onEveryRank
            return null;
        });
    }

    @Test
    void aTransportClosedBeforeAllocatingRefusesBuffers() {
        onEveryRank(2, BRIEF_TIMEOUT, t -> {
            t.barrier(AWAIT);
            t.close();
            t.close();
            assertThrows(IllegalStateException.class, () -> t.allocateBuffers(1, 64), "allocateBuffers after close");
            return null;
        });
    }

    // ---- helpers -----------------------------------------------------------------------------

    /** One step of every rank sending buffer 0 ({@code size} bytes) to the next rank's buffer 1. */
    private static void rotateOnce(RingTransport t, long size, int step) {
        fill(t.buffer(0), size, t.rank(), step);
        Transfer receive = t.receiveFromPrevious(1, size, step);
        Transfer send = t.sendToNext(0, size, step);
        send.await(AWAIT);
        receive.await(AWAIT);
        expectPattern(t.buffer(1), size, Math.floorMod(t.rank() - 1, t.worldSize()), step, "rank " + t.rank() + " step " + step);
    }

    private static byte pattern(int origin, int salt, long i) {
        return (byte) (origin * 131 + salt * 31 + i * 7 + (i >>> 9));
    }

    static void fill(MemorySegment b, long n, int origin, int salt) {
        for (long i = 0; i < n; i++) {
            b.set(ValueLayout.JAVA_BYTE, i, pattern(origin, salt, i));
        }
    }

    static void expectPattern(MemorySegment b, long n, int origin, int salt, String what) {
        for (long i = 0; i < n; i++) {
            byte got = b.get(ValueLayout.JAVA_BYTE, i);
            if (got != pattern(origin, salt, i)) {
                throw new AssertionError(what + ": byte " + i + " of " + n + " is " + got + ", expected " + pattern(origin, salt, i));
            }
        }
    }

    /** Round 0: rank r sends r bytes (rank 0 none); round 1: nobody sends any; round 2: 4 KiB and more. */
    private static byte[] gatherPayload(int rank, int round) {
        int n = switch (round) {
            case 0 -> rank;
            case 1 -> 0;
            default -> 4096 + 17 * rank;
        };
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (rank * 37 + round * 11 + i);
        }
        return b;
    }

    private static void assertCompletedSince(Transfer x, long postedNanos, String what) {
        assertTrue(x.isDone(), what + ": isDone() after await");
        long at = x.completedNanos();
        assertTrue(at == -1 || (at >= postedNanos && at <= System.nanoTime()),
                what + ": completedNanos() " + at + " is neither -1 nor between the post (" + postedNanos + ") and now");
    }

    private static void assertTimesOutNaming(Transfer never, int peer) {
        assertFalse(never.isDone(), "nothing was sent");
        assertEquals(-1, never.completedNanos());
        long start = System.nanoTime();
        RankFailedException e = assertThrows(RankFailedException.class, () -> never.await(SHORT));
        long took = System.nanoTime() - start;
        assertEquals(peer, e.failedRank(), "names the silent peer: " + e.getMessage());
        assertTrue(took >= SHORT.toNanos(), "waited the whole " + SHORT + ": " + took / 1_000_000 + " ms");
        assertTrue(took < TIMEOUT.toNanos(), "ended by the wait's own timeout, not " + TIMEOUT + ": " + took / 1_000_000 + " ms");
        assertFalse(never.isDone(), "a failed transfer is not done");
        assertEquals(-1, never.completedNanos());
    }

    private static final Pattern RANK_NUMBER = Pattern.compile("rank (\\d+)");

    private static void assertSizeMismatchNamesRanks(TransportException e, int sender, int receiver) {
        assertFalse(e instanceof RankFailedException, "a size mismatch is not a failed rank: " + e);
        List<Integer> named = RANK_NUMBER.matcher(String.valueOf(e.getMessage())).results()
                .map(m -> Integer.parseInt(m.group(1))).toList();
        assertTrue(named.contains(sender) && named.contains(receiver),
                "names sender rank " + sender + " and receiver rank " + receiver + ": " + e.getMessage());
    }

    private static void assertRefusedLength(Executable post, String what) {
        RuntimeException e = assertThrows(RuntimeException.class, post, what);
        assertTrue(e instanceof IllegalArgumentException || e instanceof IndexOutOfBoundsException,
                what + ": refused as a bad argument, got " + e);
    }

    private static Executable refused(Executable use, String what) {
        return () -> assertThrows(IllegalStateException.class, use, what + " after close");
    }

    private static void awaitLatch(CountDownLatch latch, String what) throws InterruptedException {
        assertTrue(latch.await(AWAIT.toSeconds() + 5, TimeUnit.SECONDS), "waited in vain for " + what);
    }
}
