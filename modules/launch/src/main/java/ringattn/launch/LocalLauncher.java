package ringattn.launch;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * Starts the N ranks of a job as separate JVMs on this machine. Each rank gets RINGATTN_RANK,
 * RINGATTN_WORLD_SIZE, RINGATTN_JOB_ID, a fresh RINGATTN_SECRET and a loopback
 * RINGATTN_COORDINATOR (unless the given environment sets a coordinator, rendezvous dir or secret),
 * and this process's pid in {@value LauncherWatch#PARENT_PID_ENV} so that a rank running a
 * {@link LauncherWatch} stops when this process dies, killed or not; its stdout and stderr lines come
 * out prefixed with {@code [rank R] }. The first rank to exit non-zero (or the overall deadline) ends
 * the job: every other rank's process tree is destroyed, so nothing is left running. Depends on nothing
 * but the JDK: the ranks' own code reads the variables (the UCX transport, {@link LauncherWatch}).
 * Stateless; {@link #run} may be called from several threads, each for its own job.
 */
public final class LocalLauncher {
    /**
     * What to run.
     *
     * @param java      the java executable
     * @param jvmArgs   JVM options (e.g. --enable-native-access=..., -Xmx)
     * @param classPath class path, or null when {@code modulePath} is used
     * @param modulePath module path, or null
     * @param mainClass main class; with a module path {@code module/class}
     * @param args      program arguments
     * @param env       extra environment for every rank
     * @param deadline  the whole job's time limit
     * @param failureGrace after the first failure, how long the other ranks may take to notice it and
     *                  exit on their own (printing their errors) before they are destroyed
     * @param rankPrefix per rank, words put before the java command (e.g. {@code ip netns exec ns0 env
     *                  UCX_NET_DEVICES=veth0}, {@code numactl -N 1}), or null
     */
    public record Spec(Path java, List<String> jvmArgs, String classPath, String modulePath, String mainClass,
            List<String> args, Map<String, String> env, Duration deadline, Duration failureGrace,
            IntFunction<List<String>> rankPrefix) {

        public Spec withFailureGrace(Duration grace) {
            return new Spec(java, jvmArgs, classPath, modulePath, mainClass, args, env, deadline, grace, rankPrefix);
        }

        public Spec withEnv(Map<String, String> more) {
            Map<String, String> m = new LinkedHashMap<>(env);
            m.putAll(more);
            return new Spec(java, jvmArgs, classPath, modulePath, mainClass, args, m, deadline, failureGrace, rankPrefix);
        }

        public Spec withRankPrefix(IntFunction<List<String>> prefix) {
            return new Spec(java, jvmArgs, classPath, modulePath, mainClass, args, env, deadline, failureGrace, prefix);
        }

        /** Runs {@code mainClass} with this JVM's own java and class path. */
        public static Spec sameJvm(String mainClass, List<String> args, Map<String, String> env, Duration deadline) {
            Path java = Path.of(System.getProperty("java.home"), "bin", "java");
            String cp = System.getProperty("java.class.path", "");
            String mp = System.getProperty("jdk.module.path");
            if (mp != null && !mp.isEmpty()) {
                cp = cp.isEmpty() ? mp : cp + File.pathSeparator + mp;
            }
            return new Spec(java, List.of("--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"),
                    cp, null, mainClass, args, env, deadline, Duration.ofSeconds(2), null);
        }
    }

    /**
     * How the job ended.
     *
     * @param exitCodes    by rank; -1 for a rank destroyed by the launcher before it exited on its own
     * @param pids         by rank
     * @param failedRank   the first rank that failed (non-zero exit), or -1
     * @param failure      why the job failed, or null
     */
    public record Result(List<Integer> exitCodes, List<Long> pids, int failedRank, String failure) {
        public boolean succeeded() {
            return failure == null;
        }
    }

    private LocalLauncher() {
    }

    /**
     * Runs {@code worldSize} ranks to completion, forwarding their output to {@code out}/{@code err}.
     *
     * @throws IllegalArgumentException when {@code worldSize < 1}
     * @throws UncheckedIOException     when a rank's process cannot be started (the others are destroyed)
     */
    public static Result run(Spec spec, int worldSize, PrintStream out, PrintStream err) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("worldSize: must be >= 1, got " + worldSize);
        }
        Map<String, String> common = new LinkedHashMap<>(spec.env());
        common.put(LauncherWatch.PARENT_PID_ENV, Long.toString(ProcessHandle.current().pid()));
        common.putIfAbsent("RINGATTN_JOB_ID", "local-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        if (!common.containsKey("RINGATTN_SECRET") && !common.containsKey("RINGATTN_SECRET_FILE")) {
            byte[] s = new byte[24];
            new SecureRandom().nextBytes(s);
            common.put("RINGATTN_SECRET", HexFormat.of().formatHex(s));
        }
        if (!common.containsKey("RINGATTN_COORDINATOR") && !common.containsKey("RINGATTN_RENDEZVOUS_DIR")) {
            common.put("RINGATTN_COORDINATOR", "127.0.0.1:" + freePort());
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(spec.java().toString());
        cmd.addAll(spec.jvmArgs());
        if (spec.modulePath() != null) {
            cmd.add("-p");
            cmd.add(spec.modulePath());
        }
        if (spec.classPath() != null && !spec.classPath().isEmpty()) {
            cmd.add("-cp");
            cmd.add(spec.classPath());
        }
        if (spec.modulePath() != null && spec.mainClass().contains("/")) {
            cmd.add("-m");
        }
        cmd.add(spec.mainClass());
        cmd.addAll(spec.args());

        Process[] procs = new Process[worldSize];
        List<Thread> pumps = new ArrayList<>();
        Thread hook = new Thread(() -> destroyAll(procs));
        Runtime.getRuntime().addShutdownHook(hook);
        int failedRank = -1;
        String failure = null;
        boolean[] destroyed = new boolean[worldSize];
        try {
            for (int r = 0; r < worldSize; r++) {
                List<String> rankCmd = new ArrayList<>();
                if (spec.rankPrefix() != null) {
                    rankCmd.addAll(spec.rankPrefix().apply(r));
                }
                rankCmd.addAll(cmd);
                ProcessBuilder pb = new ProcessBuilder(rankCmd);
                pb.environment().putAll(common);
                pb.environment().put("RINGATTN_RANK", Integer.toString(r));
                pb.environment().put("RINGATTN_WORLD_SIZE", Integer.toString(worldSize));
                try {
                    procs[r] = pb.start();
                } catch (IOException e) {
                    destroyAll(procs);
                    throw new UncheckedIOException("cannot start rank " + r + " (" + cmd.get(0) + "): " + e.getMessage(), e);
                }
                pumps.add(pump(procs[r].getInputStream(), "[rank " + r + "] ", out));
                pumps.add(pump(procs[r].getErrorStream(), "[rank " + r + "] ", err));
            }
            CompletableFuture<?>[] exits = new CompletableFuture<?>[worldSize];
            for (int r = 0; r < worldSize; r++) {
                exits[r] = procs[r].onExit();
            }
            long end = System.nanoTime() + spec.deadline().toNanos();
            while (true) {
                boolean allDone = true;
                for (int r = 0; r < worldSize; r++) {
                    if (procs[r].isAlive()) {
                        allDone = false;
                    } else if (failedRank < 0 && !destroyed[r] && procs[r].exitValue() != 0) {
                        failedRank = r;
                        failure = "rank " + r + " exited with code " + procs[r].exitValue();
                    }
                }
                if (failedRank >= 0 || allDone) {
                    break;
                }
                if (System.nanoTime() > end) {
                    failure = "job did not finish within " + spec.deadline();
                    break;
                }
                try {
                    CompletableFuture.anyOf(exits).get(50, TimeUnit.MILLISECONDS);
                } catch (Exception ignored) {
                    // poll again
                }
                exits = remaining(procs);
            }
            if (failure != null) {
                long graceEnd = System.nanoTime() + spec.failureGrace().toNanos();
                while (System.nanoTime() < graceEnd && java.util.Arrays.stream(procs).anyMatch(Process::isAlive)) {
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
                for (int r = 0; r < worldSize; r++) {
                    if (procs[r].isAlive()) {
                        destroyed[r] = true;
                    }
                }
                destroyAll(procs);
            }
            for (Process p : procs) {
                try {
                    p.waitFor(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            for (Thread t : pumps) {
                try {
                    t.join(2000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        } finally {
            destroyAll(procs);
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException ignored) {
                // shutting down
            }
        }
        List<Integer> codes = new ArrayList<>();
        List<Long> pids = new ArrayList<>();
        for (int r = 0; r < worldSize; r++) {
            codes.add(destroyed[r] || procs[r].isAlive() ? -1 : procs[r].exitValue());
            pids.add(procs[r].pid());
        }
        return new Result(List.copyOf(codes), List.copyOf(pids), failedRank, failure);
    }

    private static CompletableFuture<?>[] remaining(Process[] procs) {
        List<CompletableFuture<?>> l = new ArrayList<>();
        for (Process p : procs) {
            if (p.isAlive()) {
                l.add(p.onExit());
            }
        }
        if (l.isEmpty()) {
            l.add(CompletableFuture.completedFuture(null));
        }
        return l.toArray(new CompletableFuture<?>[0]);
    }

    /** Destroys each rank's process tree: descendants first, then the rank; forcibly after 2 s. */
    static void destroyAll(Process[] procs) {
        List<ProcessHandle> all = new ArrayList<>();
        for (Process p : procs) {
            if (p != null) {
                p.descendants().forEach(all::add);
                all.add(p.toHandle());
            }
        }
        all.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroy);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (System.nanoTime() < end && all.stream().anyMatch(ProcessHandle::isAlive)) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        all.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
    }

    private static Thread pump(InputStream in, String prefix, PrintStream to) {
        return Thread.ofPlatform().daemon().name("ringattn-launcher-pump").start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (to) {
                        to.println(prefix + line);
                    }
                }
            } catch (IOException ignored) {
                // the process ended
            }
        });
    }

    /**
     * A free TCP port on loopback, for a coordinator that binds it moments later. Taken below the
     * kernel's ephemeral range ({@code /proc/sys/net/ipv4/ip_local_port_range}, 32768–60999 by
     * default) when there is room: outgoing connections and UCX's TCP listeners take their ports from
     * that range, so one of them could otherwise take the port between this check and the bind (seen
     * as "Address already in use" in the UCX contract tests). A port is not handed out twice by one
     * JVM while it has others to give. Another process may still take it: the coordinator's bind then
     * fails naming the port.
     *
     * @throws UncheckedIOException when no port can be bound
     */
    public static int freePort() {
        int[] ephemeral = ephemeralRange();
        int lo = Math.max(1024, ephemeral[0] - 12288);
        int hi = ephemeral[0];
        if (hi - lo < 1024) {
            lo = ephemeral[1] + 1;
            hi = 65536;
        }
        if (hi - lo >= 1024) {
            for (int attempt = 0; attempt < 64; attempt++) {
                int port = lo + PORTS.nextInt(hi - lo);
                synchronized (HANDED_OUT) {
                    if (HANDED_OUT.size() > (hi - lo) / 2) {
                        HANDED_OUT.clear();
                    }
                    if (!HANDED_OUT.add(port)) {
                        continue;
                    }
                }
                if (bindable(port)) {
                    return port;
                }
            }
        }
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find a free loopback port: " + e.getMessage(), e);
        }
    }

    private static final java.util.Random PORTS = new java.util.Random();
    private static final java.util.Set<Integer> HANDED_OUT = new java.util.HashSet<>();

    private static boolean bindable(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The kernel's ephemeral port range, {@code [first, last]}; Linux's default when it cannot be read. */
    static int[] ephemeralRange() {
        try {
            String[] f = java.nio.file.Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim()
                    .split("\\s+");
            int first = Integer.parseInt(f[0]);
            int last = Integer.parseInt(f[1]);
            if (first >= 1 && first <= last && last <= 65535) {
                return new int[] {first, last};
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or not readable: the default below
        }
        return new int[] {32768, 60999};
    }
}
