package ringattn.engine.device;

/** A device was asked for explicitly ({@code --device cuda}) and cannot be used; says why. */
public class DeviceUnavailableException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public DeviceUnavailableException(String message) {
        super(message);
    }
}
