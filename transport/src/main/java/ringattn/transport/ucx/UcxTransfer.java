package ringattn.transport.ucx;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.openucx.jucx.UcxCallback;
import org.openucx.jucx.ucp.UcpRequest;

import ringattn.engine.transport.RankFailedException;
import ringattn.engine.transport.Transfer;
import ringattn.engine.transport.TransportException;

/**
 * A posted send or receive of a {@link UcxTransport}: completed on the progress thread, awaited by
 * the rank's thread. Fails with the transport's first failure when one is known.
 */
final class UcxTransfer implements Transfer {
    private final UcxTransport owner;
    final CompletableFuture<Void> future = new CompletableFuture<>();
    final int peer;
    final String what;
    volatile long doneNanos = -1;

    UcxTransfer(UcxTransport owner, int peer, String what) {
        this.owner = owner;
        this.peer = peer;
        this.what = what;
        owner.pending.add(this);
        RankFailedException f = owner.failure();
        if (f != null) {
            future.completeExceptionally(f);
        }
    }

    UcxCallback callback() {
        return new UcxCallback() {
            @Override
            public void onSuccess(UcpRequest request) {
                succeed();
            }

            @Override
            public void onError(int status, String message) {
                fail(owner.ucxError(peer, status, message));
            }
        };
    }

    void succeed() {
        doneNanos = System.nanoTime();
        future.complete(null);
        owner.pending.remove(this);
    }

    void fail(TransportException e) {
        future.completeExceptionally(e);
        owner.pending.remove(this);
    }

    @Override
    public boolean isDone() {
        return future.isDone() && !future.isCompletedExceptionally();
    }

    @Override
    public long completedNanos() {
        return isDone() ? doneNanos : -1;
    }

    @Override
    public void await(Duration wait) {
        RankFailedException f = owner.failure();
        if (f != null && !future.isDone()) {
            throw f;
        }
        if (!future.isDone()) {
            owner.spinUntil(future::isDone);
        }
        try {
            future.get(wait.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new RankFailedException(peer, owner.host(peer), what + " on rank " + owner.rank() + " did not complete within " + wait);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RankFailedException local) {
                throw owner.preferControlVerdict(local);
            }
            throw e.getCause() instanceof TransportException te ? te
                    : new TransportException(String.valueOf(e.getCause()), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException("interrupted while waiting for the " + what, e);
        } finally {
            owner.pending.remove(this);
        }
    }
}
