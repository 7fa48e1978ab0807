package ringattn.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Refuses a command's outputs that would replace one of its inputs or another output, before
 * anything is written. Two paths name the same file when both exist and {@link Files#isSameFile}
 * says so (hard links and symbolic links included), or when neither exists and they resolve to the
 * same directory entry (real parent directory plus file name: {@code ./o.npy}, {@code o.npy} and
 * {@code link-to-here/o.npy} are one). Several outputs may share one file only when all of them
 * are {@code shared} (tensors of one safetensors file) and they name the same directory entry.
 * Not thread-safe; build, {@link #check()}, discard.
 */
final class OutputGuard {
    private record Entry(String option, String shown, Path file, boolean shared) {
    }

    private final List<Entry> inputs = new ArrayList<>();
    private final List<Entry> outputs = new ArrayList<>();

    /** An input file read by {@code option} ({@code --q}); {@code shown} is the path as the user gave it. */
    OutputGuard input(String option, String shown, Path file) {
        inputs.add(new Entry(option, shown, file, false));
        return this;
    }

    /**
     * An output file written by {@code option}; {@code shared}: other shared outputs may write other
     * parts of the same file.
     */
    OutputGuard output(String option, String shown, Path file, boolean shared) {
        outputs.add(new Entry(option, shown, file, shared));
        return this;
    }

    /**
     * Throws a {@link UsageException} naming the output's option and the other option when an
     * output is an input or clashes with an earlier output.
     */
    void check() {
        for (int i = 0; i < outputs.size(); i++) {
            Entry out = outputs.get(i);
            for (Entry in : inputs) {
                if (sameFile(out.file, in.file)) {
                    throw new UsageException(out.option, out.shown + " is also the input of " + in.option);
                }
            }
            for (int j = 0; j < i; j++) {
                Entry earlier = outputs.get(j);
                boolean parts = out.shared && earlier.shared && entry(out.file).equals(entry(earlier.file));
                if (!parts && sameFile(out.file, earlier.file)) {
                    throw new UsageException(out.option, out.shown + " is also the output of " + earlier.option);
                }
            }
        }
    }

    /** The directory entry {@code file} names: its real parent directory (when it exists) plus its name. */
    static Path entry(Path file) {
        Path abs = file.toAbsolutePath();
        Path parent = abs.getParent();
        Path name = abs.getFileName();
        if (parent == null || name == null || name.toString().equals(".") || name.toString().equals("..")) {
            return abs.normalize();
        }
        try {
            return parent.toRealPath().resolve(name);
        } catch (IOException e) {
            return abs.normalize();
        }
    }

    private static boolean sameFile(Path a, Path b) {
        boolean ea = Files.exists(a);
        boolean eb = Files.exists(b);
        if (ea && eb) {
            try {
                return Files.isSameFile(a, b);
            } catch (IOException e) {
                return entry(a).equals(entry(b));
            }
        }
        return entry(a).equals(entry(b));
    }
}
