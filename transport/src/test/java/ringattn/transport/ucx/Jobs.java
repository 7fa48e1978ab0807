package ringattn.transport.ucx;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import ringattn.launch.LocalLauncher;

/** Test helper: runs RotationWorker ranks with LocalLauncher and keeps their output. */
final class Jobs {
    record Outcome(LocalLauncher.Result result, String out, String err) {
        String all() {
            return out + err;
        }
    }

    private Jobs() {
    }

    static Outcome run(int worldSize, List<String> args, Map<String, String> env, Duration deadline, Duration grace) {
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(RotationWorker.class.getName(), args, env, deadline)
                .withFailureGrace(grace);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        LocalLauncher.Result r = LocalLauncher.run(spec, worldSize, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        Outcome o = new Outcome(r, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        System.out.println("---- job of " + worldSize + " ranks " + args + " " + env + " -> " + r);
        System.out.println(o.out());
        System.out.println(o.err());
        return o;
    }
}
