package ringattn.io;

import java.nio.file.Path;

/**
 * A tensor file that cannot be read or written: wrong magic, truncated data, a header that lies
 * about sizes, an unsupported dtype or layout, bad JSON, an I/O error. The message names the file
 * and what is wrong. The command maps it to exit code 2.
 */
public final class FileFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** A problem with {@code file}; the message becomes {@code "<file>: <problem>"}. */
    public FileFormatException(Path file, String problem) {
        super(file + ": " + problem);
    }

    /** A problem with {@code file} caused by {@code cause} (typically an I/O error). */
    public FileFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
