package ringattn.transport.ucx;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

import org.openucx.jucx.UcxCallback;
import org.openucx.jucx.ucp.UcpEndpoint;
import org.openucx.jucx.ucp.UcpRequest;
import org.openucx.jucx.ucp.UcpTagMessage;
import org.openucx.jucx.ucp.UcpWorker;

import ringattn.engine.transport.TransportException;

/**
 * How ring blocks move over UCX, once the endpoints exist: tagged send/receive (UCX picks eager or
 * rendezvous/zero-copy), and the put path (the receiver sends "ready" with the buffer index and
 * length, the sender puts into that buffer, flushes and sends "done"). Sizes are checked at both
 * ends; a mismatch fails the transfer naming both ranks. Keeps the requests still open so that
 * teardown can cancel them.
 *
 * <p>Every method runs on the transport's progress thread. Lengths in bytes.
 */
final class DataPaths {
    /** UCX's status for a message longer than the posted receive. */
    private static final int UCS_ERR_MESSAGE_TRUNCATED = -9;

    private final UcxTransport owner;
    private final UcpWorker worker;
    private final UcpEndpoint next;
    private final UcpEndpoint prev;
    private final PutSlots slots;
    private final int rank;
    private final int nextRank;
    private final int prevRank;
    private final List<UcpRequest> open = new ArrayList<>();

    DataPaths(UcxTransport owner, UcpWorker worker, UcpEndpoint next, UcpEndpoint prev, PutSlots slots) {
        this.owner = owner;
        this.worker = worker;
        this.next = next;
        this.prev = prev;
        this.slots = slots;
        this.rank = owner.rank();
        this.nextRank = (rank + 1) % owner.worldSize();
        this.prevRank = (rank - 1 + owner.worldSize()) % owner.worldSize();
    }

    /** A tagged send to the next ({@code forward}) or the previous rank. */
    void sendTagged(UcxTransfer t, boolean forward, long addr, long lengthBytes, long tag) {
        track(t, (forward ? next : prev).sendTaggedNonBlocking(addr, lengthBytes, tag, t.callback()));
    }

    /** A tagged receive from {@code peer} that checks the size. */
    void receiveTagged(UcxTransfer t, long addr, long lengthBytes, long tag, int peer) {
        // jucx reports no receive size for a receive that completes inside the post (the message
        // was already here); probing first gives that size. Only this thread progresses the
        // worker, so nothing can arrive between the probe and the post.
        UcpTagMessage early = worker.tagProbeNonBlocking(tag, -1L, false);
        long known = early == null ? -1 : early.getRecvLength();
        if (known > lengthBytes) {
            t.fail(sizeMismatch(peer, known, lengthBytes)); // posting would fail inside UCX
            return;
        }
        track(t, worker.recvTaggedNonBlocking(addr, lengthBytes, tag, -1L, new UcxCallback() {
            @Override
            public void onSuccess(UcpRequest request) {
                long got = known >= 0 ? known : request.getRecvSize();
                if (got != lengthBytes) {
                    t.fail(sizeMismatch(peer, got, lengthBytes));
                } else {
                    t.succeed();
                }
            }

            @Override
            public void onError(int status, String message) {
                t.fail(status == UCS_ERR_MESSAGE_TRUNCATED ? sizeMismatch(peer, -1, lengthBytes)
                        : owner.ucxError(peer, status, message));
            }
        }));
    }

    /** Put path, receiver side: say "ready" for buffer {@code index}, complete on "done". */
    void receiveByPut(UcxTransfer t, int index, long lengthBytes, int step) {
        MemorySegment done = slots.slot(PutSlots.RECEIVE_DONE, step);
        MemorySegment ready = slots.slot(PutSlots.RECEIVE_READY, step);
        ready.set(ValueLayout.JAVA_LONG, 0, index);
        ready.set(ValueLayout.JAVA_LONG, 8, lengthBytes);
        track(t, worker.recvTaggedNonBlocking(done.address(), PutSlots.SLOT_BYTES, slots.tag(PutSlots.KIND_DONE, step), -1L,
                new UcxCallback() {
                    @Override
                    public void onSuccess(UcpRequest request) {
                        long sent = done.get(ValueLayout.JAVA_LONG, 0);
                        if (sent != lengthBytes) {
                            t.fail(sizeMismatch(prevRank, sent, lengthBytes));
                        } else {
                            t.succeed();
                        }
                    }

                    @Override
                    public void onError(int status, String message) {
                        t.fail(owner.ucxError(prevRank, status, message));
                    }
                }));
        track(null, prev.sendTaggedNonBlocking(ready.address(), PutSlots.SLOT_BYTES, slots.tag(PutSlots.KIND_READY, step),
                failOnly(t, prevRank)));
    }

    /** Put path, sender side: wait for "ready", put into the buffer it names, flush, send "done". */
    void putWhenReady(UcxTransfer t, RegisteredBuffers buffers, long addr, long lengthBytes, int step) {
        MemorySegment ready = slots.slot(PutSlots.SEND_READY, step);
        MemorySegment done = slots.slot(PutSlots.SEND_DONE, step);
        track(t, worker.recvTaggedNonBlocking(ready.address(), PutSlots.SLOT_BYTES, slots.tag(PutSlots.KIND_READY, step), -1L,
                new UcxCallback() {
                    @Override
                    public void onSuccess(UcpRequest request) {
                        int index = (int) ready.get(ValueLayout.JAVA_LONG, 0);
                        long expected = ready.get(ValueLayout.JAVA_LONG, 8);
                        done.set(ValueLayout.JAVA_LONG, 0, lengthBytes);
                        if (expected != lengthBytes || index < 0 || index >= buffers.count()) {
                            track(null, next.sendTaggedNonBlocking(done.address(), PutSlots.SLOT_BYTES,
                                    slots.tag(PutSlots.KIND_DONE, step), null));
                            t.fail(new TransportException("ranks disagree on message size: rank " + rank + " sends "
                                    + lengthBytes + " bytes, rank " + nextRank + " expects " + expected
                                    + (index < 0 || index >= buffers.count() ? " (in buffer " + index + ")" : "")));
                            return;
                        }
                        if (lengthBytes > 0) {
                            track(null, next.putNonBlocking(addr, lengthBytes, buffers.nextAddress(index),
                                    buffers.nextKey(index), failOnly(t, nextRank)));
                        }
                        track(null, next.flushNonBlocking(new UcxCallback() {
                            @Override
                            public void onSuccess(UcpRequest r) {
                                track(null, next.sendTaggedNonBlocking(done.address(), PutSlots.SLOT_BYTES,
                                        slots.tag(PutSlots.KIND_DONE, step), t.callback()));
                            }

                            @Override
                            public void onError(int status, String message) {
                                t.fail(owner.ucxError(nextRank, status, message));
                            }
                        }));
                    }

                    @Override
                    public void onError(int status, String message) {
                        t.fail(owner.ucxError(nextRank, status, message));
                    }
                }));
    }

    private UcxCallback failOnly(UcxTransfer t, int peer) {
        return new UcxCallback() {
            @Override
            public void onError(int status, String message) {
                t.fail(owner.ucxError(peer, status, message));
            }
        };
    }

    private void track(UcxTransfer t, UcpRequest r) {
        if (r != null && !r.isCompleted()) {
            open.add(r);
            if (open.size() > 256) {
                open.removeIf(UcpRequest::isCompleted);
            }
        }
    }

    private TransportException sizeMismatch(int sender, long sent, long expected) {
        return new TransportException("ranks disagree on message size: rank " + sender + " sends "
                + (sent < 0 ? "more than " + expected : Long.toString(sent)) + " bytes, rank " + rank + " expects " + expected);
    }

    /** Cancels every request still open; {@code step} runs each cancel guarded. */
    void cancelOpen(Predicate<Runnable> step) {
        for (UcpRequest r : open) {
            step.test(() -> {
                if (!r.isCompleted()) {
                    worker.cancelRequest(r);
                }
            });
        }
        open.clear();
    }
}
