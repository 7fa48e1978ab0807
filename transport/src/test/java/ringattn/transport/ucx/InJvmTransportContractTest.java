package ringattn.transport.ucx;

import java.time.Duration;

import ringattn.engine.transport.InJvmRing;

/** The {@link ringattn.engine.transport.RingTransport} contract for the in-JVM ring (ranks as threads). */
class InJvmTransportContractTest extends RingTransportContract {
    @Override
    protected Ring newRing(int worldSize, Duration timeout) {
        InJvmRing ring = InJvmRing.create(worldSize, timeout);
        return ring::rank;
    }
}
