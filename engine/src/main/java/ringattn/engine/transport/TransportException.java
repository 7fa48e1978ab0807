package ringattn.engine.transport;

/** A transport failure: bad collective arguments, a refused peer, an I/O error. */
public class TransportException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TransportException(String message) {
        super(message);
    }

    public TransportException(String message, Throwable cause) {
        super(message, cause);
    }
}
