package ringattn.transport.ucx;

import java.util.Map;

import ringattn.engine.transport.TransportException;

/**
 * How a rank process joins a job. A worker typically does:
 *
 * <pre>{@code
 * TransportOptions o = TransportOptions.fromEnvironment(System.getenv());   // or the CLI's flags
 * RankBanner.print(o);                                                      // "rank R/N pid P host H"
 * try (UcxTransport t = Bootstrap.connect(o)) {
 *     t.allocateBuffers(2, blockBytes);
 *     ...
 * }
 * }</pre>
 */
public final class Bootstrap {
    private Bootstrap() {
    }

    /**
     * Validates {@code options} (already filled, see {@link TransportOptions#withDefaultsFrom}),
     * exchanges addresses with the other ranks and connects the ring.
     *
     * @throws TransportException naming the bad argument or the unreachable peer, within the timeout
     */
    public static UcxTransport connect(TransportOptions options) {
        return UcxTransport.open(options);
    }

    /** {@link #connect} with every option read from this process's environment. */
    public static UcxTransport fromEnvironment() {
        return connect(TransportOptions.fromEnvironment(System.getenv()));
    }

    /** Rank and world size from the environment (Slurm, Open MPI, PMI, RINGATTN_*). */
    public static RankInfo rankInfo(Map<String, String> env) {
        return RankInfo.fromEnvironment(env).orElseThrow(() -> new TransportException(
                "rank/worldSize: none of RINGATTN_RANK, SLURM_PROCID, OMPI_COMM_WORLD_RANK, PMI_RANK is set"));
    }
}
