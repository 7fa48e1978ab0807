package ringattn.transport.ucx;

import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.Nested;
import ringattn.launch.LocalLauncher;

/**
 * The {@link ringattn.engine.transport.RingTransport} contract for {@link UcxTransport}: each rank a
 * thread of this JVM with its own UCX context, bootstrapped through a coordinator on loopback with
 * a job secret. Both data paths run the whole contract: RMA put here (what
 * {@link TransportOptions.DataPath#AUTO} picks between ranks of one host for large messages), tagged
 * send/receive in {@link TaggedSendReceive} (what it picks across hosts or over TCP), and the two
 * mixed by message size in {@link Automatic}.
 */
class UcxTransportContractTest extends RingTransportContract {
    @Override
    protected Ring newRing(int worldSize, Duration timeout) {
        return ucxRing(worldSize, timeout, TransportOptions.DataPath.PUT);
    }

    /** A ring whose ranks connect through a coordinator on a free loopback port. */
    static Ring ucxRing(int worldSize, Duration timeout, TransportOptions.DataPath dataPath) {
        String coordinator = "127.0.0.1:" + LocalLauncher.freePort();
        return rank -> {
            UcxTransport t = Bootstrap.connect(TransportOptions.defaults().withRank(rank, worldSize).withJobId("contract")
                    .withCoordinator(coordinator).withSecret("contract-secret").withTimeout(timeout)
                    .withDataPath(dataPath).withDefaultsFrom(Map.of()));
            if (dataPath != TransportOptions.DataPath.AUTO && t.sendsByPut() != (dataPath == TransportOptions.DataPath.PUT)) {
                t.close();
                throw new AssertionError("rank " + rank + " asked for data path " + dataPath + ", sendsByPut() is " + t.sendsByPut());
            }
            return t;
        };
    }

    /**
     * The same contract with the default choice: on this host put for large messages and tagged
     * send/receive for messages of at most 16 KiB, mixed on the same link (the contract's sizes 1,
     * 4099 and 1 MiB take both ways in turn).
     */
    @Nested
    class Automatic extends RingTransportContract {
        @Override
        protected Ring newRing(int worldSize, Duration timeout) {
            return ucxRing(worldSize, timeout, TransportOptions.DataPath.AUTO);
        }
    }

    /** The same contract with every block moved by tagged send/receive. */
    @Nested
    class TaggedSendReceive extends RingTransportContract {
        @Override
        protected Ring newRing(int worldSize, Duration timeout) {
            return ucxRing(worldSize, timeout, TransportOptions.DataPath.TAG);
        }
    }
}
