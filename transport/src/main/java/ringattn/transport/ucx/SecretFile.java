package ringattn.transport.ucx;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;

/**
 * Reads a job secret from a file, refusing one that others could read (group or world
 * permissions), as ssh refuses such private keys. Stateless.
 */
final class SecretFile {
    /** The longest secret file accepted, in bytes. */
    static final int MAX_BYTES = 4096;

    private SecretFile() {
    }

    static byte[] read(Path file) {
        try {
            PosixFileAttributes a = Files.readAttributes(file, PosixFileAttributes.class);
            Set<PosixFilePermission> open = EnumSet.of(PosixFilePermission.GROUP_READ,
                    PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE);
            open.retainAll(a.permissions());
            if (!open.isEmpty()) {
                throw new ConfigurationException("secretFile: " + file + " is readable or writable by group or others "
                        + java.nio.file.attribute.PosixFilePermissions.toString(a.permissions()) + "; run chmod 600 " + file);
            }
            if (!a.isRegularFile()) {
                throw new ConfigurationException("secretFile: " + file + " is not a regular file");
            }
            if (a.size() > MAX_BYTES) {
                throw new ConfigurationException("secretFile: " + file + " is " + a.size() + " bytes, at most "
                        + MAX_BYTES + " expected");
            }
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: nothing to check
        } catch (IOException e) {
            throw new ConfigurationException("secretFile: cannot read " + file + ": " + e.getMessage(), e);
        }
        try {
            byte[] b = Files.readString(file, StandardCharsets.UTF_8).trim().getBytes(StandardCharsets.UTF_8);
            if (b.length == 0) {
                throw new ConfigurationException("secretFile: " + file + " is empty");
            }
            return b;
        } catch (IOException e) {
            throw new ConfigurationException("secretFile: cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
