package ringattn.transport.ucx;

import ringattn.engine.transport.TransportException;

/**
 * The job is set up wrong rather than a rank having failed: a bad option, a missing or unsafe
 * secret, a rank that another job's coordinator refused (another job id, world size, rank or job
 * parameters, or a wrong secret). The command maps it to its usage exit code. Immutable.
 */
public class ConfigurationException extends TransportException {
    private static final long serialVersionUID = 1L;

    public ConfigurationException(String message) {
        super(message);
    }

    public ConfigurationException(String message, Throwable cause) {
        super(message, cause);
    }
}
