package ringattn.transport.ucx;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.concurrent.TimeUnit;

import ringattn.engine.transport.RankFailedException;
import ringattn.engine.transport.TransportException;
import ringattn.transport.ucx.ControlMessage.Peer;

/**
 * A rank's side of the bootstrap (rank > 0): finds the coordinator (the configured address, or
 * rank 0's verified rendezvous entry), proves the job key, sends its join and waits for the job
 * table. A coordinator of another job is skipped and looked for again until the deadline; a
 * refusal by our own coordinator is final. Used by one thread.
 */
final class Member {
    private final TransportOptions options;
    private final Handshake.JobKey key;
    private final Rendezvous rendezvous; // null with a fixed coordinator

    /** The connection to rank 0 and what it sent. */
    record Joined(ControlChannel hub, ControlMessage.Table table) {
    }

    Member(TransportOptions options, Handshake.JobKey key, Rendezvous rendezvous) {
        this.options = options;
        this.key = key;
        this.rendezvous = rendezvous;
    }

    Joined join(Peer self, long deadlineNanos) {
        String lastProblem = "no attempt";
        boolean published = false;
        while (true) {
            long left = deadlineNanos - System.nanoTime();
            if (left <= 0) {
                String where = options.coordinator() != null ? "coordinator: cannot join at " + options.coordinator()
                        : "rendezvousDir: no usable entry of rank 0 in " + rendezvous.directory();
                throw new RankFailedException(0, null, where + " within " + options.waitBound() + " (" + lastProblem + ")");
            }
            InetSocketAddress target;
            if (rendezvous == null) {
                InetSocketAddress u = options.coordinatorAddress();
                target = new InetSocketAddress(u.getHostString(), u.getPort());
            } else {
                if (!published) {
                    rendezvous.publish(self.rank(), self.host(), self.workerAddress(), null);
                    published = true;
                }
                Rendezvous.Lookup l = rendezvous.read(0);
                if (l.entry() == null || l.entry().control() == null) {
                    String problem = l.entry() == null ? "rank 0: " + l.problem() : "rank 0's entry has no control endpoint";
                    if (!problem.endsWith(Rendezvous.NO_ENTRY) || !lastProblem.startsWith("rank 0: ")) {
                        lastProblem = problem; // an entry that did not verify stays the news once it is gone
                    }
                    pause(50);
                    continue;
                }
                target = Rendezvous.parseEndpoint(l.entry().control());
            }
            if (target.isUnresolved()) {
                lastProblem = "cannot resolve " + target.getHostString();
                pause(100);
                continue;
            }
            Socket s = new Socket();
            try {
                s.connect(target, (int) Math.max(1, Math.min(1000, TimeUnit.NANOSECONDS.toMillis(left))));
                s.setSoTimeout(millis(Math.min(left, Coordinator.HANDSHAKE_BOUND.toNanos())));
                ControlChannel hub = Handshake.connect(s, key, target.toString());
                hub.send(new ControlMessage.Join(self.rank(), options.worldSize(), options.jobParams(), self.host(),
                        self.workerAddress()));
                // Longer than rank 0 waits for the others, so that its word on a failed join arrives first.
                s.setSoTimeout(millis(Math.max(1, deadlineNanos - System.nanoTime()) + Coordinator.HANDSHAKE_BOUND.toNanos()));
                ControlMessage m;
                try {
                    m = hub.receive();
                } catch (SocketTimeoutException e) {
                    hub.close();
                    throw new RankFailedException(0, null, "coordinator " + target + " accepted rank " + self.rank()
                            + " but the job did not complete within " + options.waitBound());
                }
                if (m instanceof ControlMessage.Fail f) {
                    hub.close();
                    throw new RankFailedException(f.rank(), null, Messages.cut(f.reason(), Messages.MAX_REASON));
                }
                if (m instanceof ControlMessage.Refused r) {
                    hub.close();
                    throw new ConfigurationException("coordinator " + target + " refused rank " + self.rank() + ": "
                            + Messages.cut(r.reason()));
                }
                if (!(m instanceof ControlMessage.Table t) || t.peers().size() != options.worldSize()) {
                    hub.close();
                    throw new TransportException("coordinator " + target + " sent no valid job table");
                }
                s.setSoTimeout(millis(options.timeout().toNanos()));
                hub.peerRank = 0;
                return new Joined(hub, t);
            } catch (Handshake.OtherJobException e) {
                lastProblem = "the coordinator at " + target + ": " + e.getMessage();
                close(s);
                pause(200);
            } catch (IOException e) {
                lastProblem = target + ": " + Messages.cut(e.getMessage());
                close(s);
                pause(100);
            } catch (RuntimeException e) {
                close(s);
                throw e;
            }
        }
    }

    private static int millis(long nanos) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(nanos)));
    }

    private static void close(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException("bootstrap: interrupted", e);
        }
    }
}
