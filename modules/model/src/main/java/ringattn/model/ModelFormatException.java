package ringattn.model;

/**
 * A model directory, config or weight file is wrong: a missing tensor, a wrong shape or dtype, a
 * bad config value. The message names the tensor or key, the file, and what was expected.
 */
public class ModelFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
