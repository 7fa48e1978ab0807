package ringattn.bench;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ringattn.engine.transport.InJvmRing;
import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.Transfer;
import ringattn.launch.LauncherWatch;
import ringattn.launch.LocalLauncher;
import ringattn.transport.ucx.Bootstrap;
import ringattn.transport.ucx.LogFormat;
import ringattn.transport.ucx.RankBanner;
import ringattn.transport.ucx.TransportOptions;
import ringattn.transport.ucx.UcxTransport;

/**
 * Ring-step bandwidth: two ranks, every step each rank sends one block to the next and receives one
 * from the previous (both directions at once, as in the ring), timed per step; reports
 * {@code blockBytes / median step time} in GB/s (10^9 bytes/s) per rank and direction.
 *
 * <pre>
 * bench/bandwidth.sh [--sizes 65536,...] [--modes injvm,shm-tag,...]
 * java --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar ringattn.bench.BandwidthBench [same options]
 * </pre>
 *
 * Modes: {@code injvm} (InJvmRing), {@code shm-tag}, {@code shm-put} (UCX between two processes,
 * default transports = shared memory), {@code tcp-tag}, {@code tcp-put} (UCX_TLS=tcp on loopback),
 * {@code shm-tag-hb20ms} (heartbeats every 20 ms instead of 1 s), {@code shm-tag-peer-error}
 * (UCX peer-error mode on the endpoints). A main class rather than a JMH benchmark: each UCX mode
 * needs two rank processes ({@link LocalLauncher} starts this class again with {@code --rank}).
 */
public final class BandwidthBench {
    static final long[] DEFAULT_SIZES = {64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20};
    static final List<String> DEFAULT_MODES = List.of("injvm", "shm-tag", "shm-put", "tcp-tag", "tcp-put",
            "shm-tag-hb20ms", "shm-tag-peer-error");

    private BandwidthBench() {
    }

    public static void main(String[] args) {
        LogFormat.oneLine();
        if (args.length > 0 && args[0].equals("--rank")) {
            rankMain(args[1], parseSizes(args[2]));
            return;
        }
        long[] sizes = DEFAULT_SIZES;
        List<String> modes = DEFAULT_MODES;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--sizes" -> sizes = parseSizes(args[i + 1]);
                case "--modes" -> modes = List.of(args[i + 1].split(","));
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Map<String, Map<Long, Double>> table = new LinkedHashMap<>();
        for (String mode : modes) {
            System.err.println("bench: " + mode + " ...");
            table.put(mode, mode.equals("injvm") ? inJvm(sizes) : ucx(mode, sizes));
        }
        System.out.println(format(table, sizes));
    }

    static String format(Map<String, Map<Long, Double>> table, long[] sizes) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%-22s", MICROS ? "us per step (median)" : "GB/s (median)"));
        for (long s : sizes) {
            sb.append(String.format("%10s", human(s)));
        }
        sb.append('\n');
        table.forEach((mode, row) -> {
            sb.append(String.format("%-22s", mode));
            for (long s : sizes) {
                Double v = row.get(s);
                sb.append(v == null ? String.format("%10s", "-") : String.format("%10.2f", v));
            }
            sb.append('\n');
        });
        return sb.toString();
    }

    static String human(long s) {
        return s >= (1 << 20) ? (s >> 20) + " MiB" : (s >> 10) + " KiB";
    }

    private static long[] parseSizes(String s) {
        return Arrays.stream(s.split(",")).mapToLong(Long::parseLong).toArray();
    }

    private static Map<Long, Double> inJvm(long[] sizes) {
        List<Map<Long, Double>> r = InJvmRing.run(2, Duration.ofSeconds(60), t -> measure(t, sizes));
        return r.get(0);
    }

    private static Map<Long, Double> ucx(String mode, long[] sizes) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("RINGATTN_TIMEOUT", "30");
        if (MICROS) {
            env.put("RINGATTN_BENCH_MICROS", "1");
        }
        env.put("RINGATTN_BENCH_GAP_US", Long.toString(GAP_NANOS / 1000));
        if (mode.startsWith("tcp")) {
            env.put("UCX_TLS", "tcp");
            env.put("UCX_NET_DEVICES", System.getenv().getOrDefault("UCX_NET_DEVICES", "lo"));
        }
        env.put("RINGATTN_DATA_PATH", mode.contains("put") ? "put" : mode.contains("auto") ? "auto" : "tag");
        if (mode.contains("peer-error")) {
            env.put("RINGATTN_PEER_ERROR_MODE", "true");
            env.put("UCX_NET_DEVICES", System.getenv().getOrDefault("UCX_NET_DEVICES", "lo"));
        }
        if (mode.contains("hb20ms")) {
            env.put("RINGATTN_HEARTBEAT_MS", "20");
        }
        String sizeList = String.join(",", Arrays.stream(sizes).mapToObj(Long::toString).toList());
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(BandwidthBench.class.getName(),
                List.of("--rank", mode, sizeList), env, Duration.ofMinutes(5));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        LocalLauncher.Result res = LocalLauncher.run(spec, 2, out, System.err);
        Map<Long, Double> row = new LinkedHashMap<>();
        for (String line : bytes.toString(StandardCharsets.UTF_8).split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 5 && f[0].equals("[rank") && f[2].equals("RESULT")) {
                row.put(Long.parseLong(f[3]), Double.parseDouble(f[4]));
            }
        }
        if (!res.succeeded()) {
            System.err.println("bench: " + mode + " failed: " + res.failure());
        }
        return row;
    }

    private static void rankMain(String mode, long[] sizes) {
        LauncherWatch.startFromEnvironment(System.getenv(), () -> { });
        TransportOptions o = TransportOptions.fromEnvironment(System.getenv());
        String hb = System.getenv("RINGATTN_HEARTBEAT_MS");
        if (hb != null) {
            o = o.withHeartbeatInterval(Duration.ofMillis(Long.parseLong(hb)));
        }
        RankBanner.print(o);
        try (UcxTransport t = Bootstrap.connect(o)) {
            Map<Long, Double> row = measure(t, sizes);
            if (t.rank() == 0) {
                row.forEach((s, v) -> System.out.println("RESULT " + s + " " + v));
            }
        }
        System.exit(0);
    }

    /** Ring steps for each size; returns GB/s from the median step time. */
    /** {@code -Dringattn.bench.micros=true} (or RINGATTN_BENCH_MICROS=1 for the ranks): median µs per step instead of GB/s. */
    static final boolean MICROS = Boolean.getBoolean("ringattn.bench.micros") || "1".equals(System.getenv("RINGATTN_BENCH_MICROS"));
    /**
     * {@code -Dringattn.bench.gapMicros=G} (RINGATTN_BENCH_GAP_US for the ranks): G µs of busy compute
     * between steps, untimed, as a decoder computes a layer between two all-gathers: the transport's
     * threads then go idle between messages, as they do in a real job.
     */
    static final long GAP_NANOS = 1000L * Long.parseLong(System.getenv().getOrDefault("RINGATTN_BENCH_GAP_US",
            System.getProperty("ringattn.bench.gapMicros", "0")));

    static Map<Long, Double> measure(RingTransport t, long[] sizes) {
        long max = Arrays.stream(sizes).max().orElse(1);
        t.allocateBuffers(2, max);
        Duration wait = t.timeout();
        Map<Long, Double> row = new LinkedHashMap<>();
        int step = 0;
        for (long size : sizes) {
            int iters = (int) Math.max(30, Math.min(MICROS ? (GAP_NANOS > 0 ? 5000 : 20000) : 1000, (512L << 20) / size));
            int warm = iters / 5 + 5;
            long[] ns = new long[iters];
            int cur = 0;
            t.barrier(wait);
            for (int i = 0; i < warm + iters; i++, step++) {
                long t0 = System.nanoTime();
                Transfer recv = t.receiveFromPrevious(1 - cur, size, step);
                Transfer send = t.sendToNext(cur, size, step);
                send.await(wait);
                recv.await(wait);
                long dt = System.nanoTime() - t0;
                if (i >= warm) {
                    ns[i - warm] = dt;
                }
                cur = 1 - cur;
                for (long until = System.nanoTime() + GAP_NANOS; System.nanoTime() < until; ) {
                    Thread.onSpinWait(); // the rank's compute between two steps (a decoder's layer), not timed
                }
            }
            long[] sorted = ns.clone();
            Arrays.sort(sorted);
            double median = sorted[sorted.length / 2];
            row.put(size, MICROS ? median / 1e3 : size / median);
        }
        t.barrier(wait);
        return row;
    }

}
