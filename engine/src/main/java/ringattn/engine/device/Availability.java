package ringattn.engine.device;

/**
 * The result of probing a device: usable or not, and a sentence saying why (what was found, what is
 * missing, which paths were tried). Immutable.
 */
public record Availability(boolean available, String reason) {
    public Availability {
        if (reason == null || reason.isBlank()) {
            throw new IllegalArgumentException("reason: must say why");
        }
    }

    public static Availability yes(String reason) {
        return new Availability(true, reason);
    }

    public static Availability no(String reason) {
        return new Availability(false, reason);
    }
}
