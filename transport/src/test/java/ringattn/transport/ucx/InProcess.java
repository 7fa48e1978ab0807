package ringattn.transport.ucx;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import ringattn.launch.LocalLauncher;

/** Test helper: UCX ranks as threads of the test JVM (each its own context and worker). */
final class InProcess {
    private InProcess() {
    }

    static TransportOptions options(int rank, int worldSize, int port, String dataPath) {
        return TransportOptions.defaults().withRank(rank, worldSize).withJobId("inproc")
                .withCoordinator("127.0.0.1:" + port).withSecret("s3cret").withTimeout(Duration.ofSeconds(10))
                .withDataPath(TransportOptions.DataPath.valueOf(dataPath.toUpperCase(java.util.Locale.ROOT)))
                .withDefaultsFrom(java.util.Map.of());
    }

    static <T> List<T> run(int worldSize, String dataPath, Function<UcxTransport, T> body) throws Exception {
        return run(worldSize, r -> options(r, worldSize, port(), dataPath), body);
    }

    private static int port;

    private static synchronized int port() {
        if (port == 0) {
            port = LocalLauncher.freePort();
        }
        return port;
    }

    /** Runs {@code body} on every rank; rethrows the first failure (by rank order). */
    static <T> List<T> run(int worldSize, Function<Integer, TransportOptions> options, Function<UcxTransport, T> body)
            throws Exception {
        int p = LocalLauncher.freePort();
        ExecutorService exec = Executors.newFixedThreadPool(worldSize);
        try {
            List<Future<T>> fs = new ArrayList<>();
            for (int r = 0; r < worldSize; r++) {
                int rank = r;
                fs.add(exec.submit(() -> {
                    TransportOptions o = options.apply(rank);
                    if (o.coordinator() != null && o.coordinator().equals("127.0.0.1:" + port())) {
                        o = o.withCoordinator("127.0.0.1:" + p);
                    }
                    try (UcxTransport t = Bootstrap.connect(o)) {
                        return body.apply(t);
                    }
                }));
            }
            List<T> out = new ArrayList<>();
            Exception first = null;
            for (Future<T> f : fs) {
                try {
                    out.add(f.get());
                } catch (ExecutionException e) {
                    if (first == null) {
                        first = e.getCause() instanceof Exception ex ? ex : e;
                    }
                    out.add(null);
                }
            }
            if (first != null) {
                throw first;
            }
            return out;
        } finally {
            exec.shutdownNow();
        }
    }
}
