package ringattn.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** This process's resident-set high-water mark ({@code VmHWM} in /proc/self/status). Thread-safe. */
public final class PeakMemory {
    private PeakMemory() {
    }

    /** Peak resident memory of this process in bytes, or −1 where /proc is not available. */
    public static long highWaterBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String[] parts = line.substring(6).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024L; // reported in kB
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Bytes as {@code 412 MiB} (or {@code n/a} for negative). */
    public static String format(long bytes) {
        if (bytes < 0) {
            return "n/a";
        }
        if (bytes < 10L << 20) {
            return (bytes >> 10) + " KiB";
        }
        if (bytes < 10L << 30) {
            return (bytes >> 20) + " MiB";
        }
        return String.format("%.1f GiB", bytes / (double) (1L << 30));
    }
}
