package ringattn.cli;

import static java.util.stream.Collectors.joining;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code worker} under the real launchers: Open MPI's {@code mpirun}, Slurm's {@code srun},
 * {@code salloc}, {@code sbatch} (a one-node Slurm on loopback that {@code .ci/launchers.sh} starts
 * for this class). The ranks are the worker JVM as {@code ./ringattn worker} starts it, on this
 * build, through a small script in a directory named after a marker unique to the test: every process
 * of a test's job (launcher and ranks) has the marker early in its command line, and after each test
 * none may be left. Skipped, with the reason, off Linux, when not root (a Slurm needs root here) and
 * when the launchers are missing and cannot be installed.
 *
 * <p>What the launchers do when a rank fails is asserted as they do it (README, "On a cluster"):
 * mpirun ends the job itself when a rank dies (exit 128 + the signal, naming the rank) and reports
 * the first rank's non-zero exit code; srun reports every task's exit and exits with 128 + the signal
 * when a task was killed, else with the largest exit code.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RealLauncherTest {
    static final Path SBATCH_EXAMPLE = TestSlurm.REPO.resolve("examples/slurm/ringattn.sbatch");
    /** A job of three ranks that ends in a few seconds. */
    static final List<String> TINY = List.of("--seq", "256", "--heads", "2", "--head-dim", "16", "--threads", "1");
    /** A job that runs until a test stops one of its ranks (it ends with that). */
    static final List<String> LONG = List.of("--seq", "4096", "--heads", "2", "--head-dim", "16", "--threads", "1",
            "--repeat", "1000");
    static final Duration JOB_BOUND = Duration.ofSeconds(90);
    /** What a loaded two-core machine may add to the failure bound before a stopped rank is reported. */
    static final Duration REPORT_MARGIN = Duration.ofSeconds(7);
    private static final AtomicInteger JOBS = new AtomicInteger();

    @TempDir
    static Path classDir;
    private static Path slurmDir;
    private static String slurmConf;

    @TempDir
    Path dir;
    private String marker;
    private Path ringattn;
    private String secret;
    private final List<LaunchedJob> jobs = new ArrayList<>();
    private final List<Long> stoppedPids = new ArrayList<>();

    @BeforeAll
    static void startSlurm() throws Exception {
        Optional<String> unavailable = TestSlurm.unavailable(classDir);
        assumeTrue(unavailable.isEmpty(), unavailable::orElseThrow);
        slurmDir = classDir.resolve("slurm");
        slurmConf = TestSlurm.start(slurmDir, classDir).conf();
    }

    @AfterAll
    static void stopSlurm() throws Exception {
        if (slurmDir != null) {
            TestSlurm.stop(slurmDir, classDir);
            assertEquals(List.of(), LaunchedJob.processesWith(slurmDir.resolve("slurm.conf").toString()),
                    "Slurm daemons left running after slurm-stop");
        }
    }

    @BeforeEach
    void workerScript(TestInfo test) throws IOException {
        marker = "rltest-" + ProcessHandle.current().pid() + "-" + JOBS.incrementAndGet() + "-"
                + test.getTestMethod().orElseThrow().getName();
        byte[] s = new byte[24];
        new SecureRandom().nextBytes(s);
        secret = HexFormat.of().formatHex(s);
        ringattn = workerScript(Files.createDirectory(dir.resolve(marker)), "");
    }

    /**
     * A script that starts a rank as {@code ./ringattn worker} does (it execs one JVM) on the modules
     * this test runs on; {@code ./ringattn} itself needs a packaged build, which this test phase does
     * not have yet. The marker comes first, before the (long) module path.
     */
    Path workerScript(Path in, String prelude) throws IOException {
        List<String> java = new ArrayList<>(CliProcess.command(List.of()));
        java.add(1, "-Dringattn.test.job=" + marker);
        Path script = in.resolve("ringattn");
        Files.writeString(script, "#!/bin/sh\n# one ringattn rank on the test's build (test " + marker + ")\n"
                + "[ \"$1\" = worker ] || { echo \"error: only 'worker' here\" >&2; exit 2; }\n" + prelude
                + "exec " + java.stream().map(RealLauncherTest::quote).collect(joining(" ")) + " \"$@\"\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        return script;
    }

    static String quote(String word) {
        return "'" + word.replace("'", "'\\''") + "'";
    }

    /** Nothing of the test's jobs (launchers, ranks) may outlive it. */
    @AfterEach
    void nothingOfTheJobIsLeft() throws Exception {
        try {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            List<String> left = LaunchedJob.processesWith(marker);
            while (!left.isEmpty() && System.nanoTime() < end) {
                Thread.sleep(100);
                left = LaunchedJob.processesWith(marker);
            }
            assertEquals(List.of(), left, "processes of the test's job still running after it");
        } finally {
            for (long pid : stoppedPids) {
                LaunchedJob.signal("CONT", pid);
            }
            jobs.forEach(LaunchedJob::close);
            LaunchedJob.killProcessesWith(marker);
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** The test Slurm's SLURM_CONF, the job secret and {@code extra} (name, value, ...). */
    Map<String, String> env(String... extra) {
        Map<String, String> env = slurmEnv(extra);
        env.put("RINGATTN_SECRET", secret);
        return env;
    }

    static Map<String, String> slurmEnv(String... extra) {
        Map<String, String> env = new HashMap<>(Map.of("SLURM_CONF", slurmConf));
        for (int i = 0; i < extra.length; i += 2) {
            env.put(extra[i], extra[i + 1]);
        }
        return env;
    }

    LaunchedJob start(String name, List<String> command, Map<String, String> env) throws IOException {
        return start(name, command, env, dir);
    }

    LaunchedJob start(String name, List<String> command, Map<String, String> env, Path in) throws IOException {
        LaunchedJob job = LaunchedJob.start(name, command, env, in);
        jobs.add(job);
        return job;
    }

    /** {@code mpirun} as examples/mpi/README.md writes it, for {@code ranks} ranks (none: the allocation's). */
    List<String> mpirun(Integer ranks, int port, List<String> extraExports, List<String> task) {
        return mpirun(ringattn, ranks, port, extraExports, task);
    }

    static List<String> mpirun(Path ringattn, Integer ranks, int port, List<String> extraExports, List<String> task) {
        List<String> cmd = new ArrayList<>(List.of("mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"));
        if (ranks != null) {
            cmd.addAll(List.of("-np", ranks.toString()));
        }
        cmd.addAll(List.of("-x", "RINGATTN_SECRET", "-x", "RINGATTN_COORDINATOR=127.0.0.1:" + port));
        for (String x : extraExports) {
            cmd.addAll(List.of("-x", x));
        }
        cmd.add(ringattn.toString());
        cmd.add("worker");
        cmd.add("demo");
        cmd.addAll(task);
        return cmd;
    }

    List<String> srun(int ranks, List<String> srunOptions, List<String> task) {
        List<String> cmd = new ArrayList<>(List.of("srun", "-n", Integer.toString(ranks), "--overcommit"));
        cmd.addAll(srunOptions);
        cmd.add(ringattn.toString());
        cmd.add("worker");
        cmd.add("demo");
        cmd.addAll(task);
        return cmd;
    }

    /**
     * Ranks 0..N-1 each said {@code rank R/N} once, rank 0 printed the demo's table once and nobody
     * an error ({@code out} and {@code err} may be one text, as in an sbatch output file).
     */
    static void assertRanAsOneJob(String out, String err, int ranks, int seq) {
        String all = "--- stdout\n" + out + "--- stderr\n" + err;
        Map<Integer, String> banners = LaunchedJob.banners(err);
        assertEquals(ranks, banners.size(), "one banner per rank\n" + all);
        banners.forEach((r, b) -> assertTrue(b.startsWith("rank " + r + "/" + ranks + " pid ") && !b.contains(" AND "),
                "rank " + r + "'s banner: " + b + "\n" + all));
        List<String> lines = out.lines().toList();
        assertEquals(1, lines.stream().filter(l -> l.startsWith("ranks ")).count(), "the summary once\n" + all);
        assertEquals(1, lines.stream().filter(l -> l.matches(ranks + " +" + seq + " .*")).count(), "the row once\n" + all);
        assertEquals(List.of(), LaunchedJob.errorLines(err), all);
    }

    static void assertRanAsOneJob(LaunchedJob job, int ranks, int seq) {
        assertRanAsOneJob(job.stdout(), job.stderr(), ranks, seq);
    }

    /** Every ringattn error line of {@code job} says that rank {@code rank} failed. */
    static void assertErrorsName(LaunchedJob job, int rank) {
        for (String line : job.errorLines()) {
            assertTrue(line.matches("error: rank " + rank + " on \\S+ failed: .+"), "error line: " + line + "\n" + job);
        }
    }

    @Test
    void mpirunRunsTheDemo() throws Exception {
        LaunchedJob job = start("mpirun", mpirun(3, freePort(), List.of(), TINY), env());
        assertEquals(0, job.exitCode(JOB_BOUND), job.toString());
        assertRanAsOneJob(job, 3, 256);
    }

    /** {@code mpirun} with nothing of ours: the PMIx exchange finds rank 0 and carries a fresh secret. */
    List<String> mpirunPmix(int ranks, List<String> task) {
        List<String> cmd = new ArrayList<>(List.of("mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                "-np", Integer.toString(ranks), ringattn.toString(), "worker", "demo"));
        cmd.addAll(task);
        return cmd;
    }

    @Test
    void mpirunAloneBootstrapsThroughPmix() throws Exception {
        LaunchedJob job = start("mpirun-pmix", mpirunPmix(3, TINY), slurmEnv());
        assertEquals(0, job.exitCode(JOB_BOUND), job.toString());
        assertRanAsOneJob(job, 3, 256);
        assertTrue(job.stderr().contains("bootstrap through PMIx (namespace "), job.toString());
    }

    @Test
    void twoPmixJobsStartedTogetherBothRun() throws Exception {
        LaunchedJob a = start("mpirun-pmix-a", mpirunPmix(2, TINY), slurmEnv());
        LaunchedJob b = start("mpirun-pmix-b", mpirunPmix(2, TINY), slurmEnv());
        assertEquals(0, a.exitCode(JOB_BOUND), a.toString());
        assertEquals(0, b.exitCode(JOB_BOUND), b.toString());
    }

    @Test
    void srunWithPmixBootstrapsThroughPmix() throws Exception {
        LaunchedJob job = start("srun-pmix", srun(3, List.of("--mpi=pmix"), TINY), slurmEnv());
        assertEquals(0, job.exitCode(JOB_BOUND), job.toString());
        assertRanAsOneJob(job, 3, 256);
        assertTrue(job.stderr().contains("bootstrap through PMIx (namespace "), job.toString());
    }

    @Test
    void srunRunsTheDemo() throws Exception {
        LaunchedJob job = start("srun", srun(3, List.of(), TINY), env("RINGATTN_COORDINATOR", "127.0.0.1:" + freePort()));
        assertEquals(0, job.exitCode(JOB_BOUND), job.toString());
        assertRanAsOneJob(job, 3, 256);
    }

    /** A bad option: every rank says so and exits 2, and so does srun (as the sbatch example documents). */
    @Test
    void aBadOptionUnderSrunIsExitTwo() throws Exception {
        LaunchedJob job = start("srun", srun(3, List.of("--kill-on-bad-exit=1"), List.of("--bogus")),
                env("RINGATTN_COORDINATOR", "127.0.0.1:" + freePort()));
        assertEquals(2, job.exitCode(JOB_BOUND), job.toString());
        assertEquals(Map.of(0, "2", 1, "2", 2, "2"), job.srunTaskExits(3), job.toString());
        assertEquals(3, job.errorLines().stream().filter(l -> l.startsWith("error: --bogus: unknown option")).count(),
                job.toString());
    }

    /** Open MPI inside a Slurm allocation: the ranks must take Open MPI's rank and size. */
    @Test
    void mpirunInsideASlurmAllocationRunsTheDemo() throws Exception {
        List<String> cmd = new ArrayList<>(List.of("salloc", "-n", "3", "--overcommit"));
        cmd.addAll(mpirun(null, freePort(), List.of(), TINY));
        LaunchedJob job = start("salloc-mpirun", cmd, env());
        assertEquals(0, job.exitCode(JOB_BOUND), job.toString());
        assertRanAsOneJob(job, 3, 256);
    }

    /**
     * mpirun in a batch script: the batch step leaves SLURM_PROCID=0 and SLURM_NTASKS in every MPI
     * rank's environment (salloc does not), so a rank that believed Slurm would say rank 0.
     */
    @Test
    void mpirunInABatchScriptRunsTheDemo() throws Exception {
        Path script = dir.resolve("mpirun.sbatch");
        Files.writeString(script, "#!/bin/sh\n#SBATCH --ntasks=3\n#SBATCH --overcommit\n#SBATCH --output=ringattn-%j.out\n"
                + "exec " + mpirun(null, freePort(), List.of(), TINY).stream().map(RealLauncherTest::quote)
                .collect(joining(" ")) + "\n");
        LaunchedJob sbatch = start("sbatch", List.of("sbatch", "--wait", script.toString()), env());
        String output = sbatchOutput(sbatch, dir);
        assertRanAsOneJob(output, output, 3, 256);
    }

    /**
     * Two jobs on one coordinator port with one secret. Rank 0 holds the port while its job starts
     * (until every rank joined), so the second job is started in that window: the first job's rank 2
     * starts 8 s late, as on a slow node. The first job then runs to its end untouched; the second
     * fails as a whole with exit 2 (its rank 0 cannot bind the port; a rank of it that reaches the
     * first job's coordinator is refused there).
     */
    @Test
    void aSecondJobStartingOnTheSamePortIsRefusedAndTheFirstGoesOn() throws Exception {
        int port = freePort();
        Path late = workerScript(Files.createDirectory(dir.resolve(marker + "-late")),
                "[ \"$OMPI_COMM_WORLD_RANK\" = 2 ] && sleep 8\n");
        LaunchedJob first = start("mpirun-first", mpirun(late, 3, port, List.of(), TINY), env());
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!listening(port)) {
            assertTrue(System.nanoTime() < end, "the first job's rank 0 did not listen on " + port + " within 60 s\n" + first);
            Thread.sleep(50);
        }
        LaunchedJob second = start("mpirun-second", mpirun(3, port, List.of(), TINY), env());
        int secondCode = second.exitCode(JOB_BOUND);
        assertEquals(0, first.exitCode(JOB_BOUND), "the first job goes on\n" + first + second);
        assertRanAsOneJob(first, 3, 256);
        assertEquals(2, secondCode, second.toString());
        assertEquals(2, second.mpirunFirstExit().orElseThrow(() -> new AssertionError(second.toString()))[1],
                "mpirun names the first rank that exited, with 2\n" + second);
        assertTrue(!second.errorLines().isEmpty(), "the second job says why\n" + second);
        for (String line : second.errorLines()) {
            assertTrue(line.startsWith("error: coordinator: cannot bind 127.0.0.1:" + port + ": Address already in use")
                    || line.contains("refused"), "a clear reason: " + line + "\n" + second);
        }
        assertTrue(second.stdout().isBlank(), "the second job prints no summary\n" + second);
    }

    /**
     * Whether a socket listens on TCP {@code port}, read from /proc (probing by binding or connecting
     * would disturb the job). Java's sockets are IPv6 ones where the kernel has IPv6: both tables.
     */
    static boolean listening(int port) throws IOException {
        String local = String.format(":%04X", port);
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            Path p = Path.of(table);
            if (Files.isReadable(p) && Files.readAllLines(p).stream().map(l -> l.trim().split("\\s+"))
                    .anyMatch(f -> f.length > 3 && f[1].endsWith(local) && f[3].equals("0A"))) {
                return true;
            }
        }
        return false;
    }

    /** Starts a long job, waits until every rank runs, then sends {@code signal} to rank 1; returns its pid. */
    long signalRank1(LaunchedJob job, String signal) throws Exception {
        Map<Integer, Long> pids = job.rankPids(3, Duration.ofSeconds(60));
        Thread.sleep(2000); // past the join: the ranks compute
        long pid = pids.get(1);
        if (signal.equals("STOP")) {
            stoppedPids.add(pid);
        }
        LaunchedJob.signal(signal, pid);
        return pid;
    }

    /** mpirun ends the job itself when a rank dies, before the other ranks report it, and names the rank. */
    @Test
    void aKilledRankUnderMpirun() throws Exception {
        LaunchedJob job = start("mpirun", mpirun(3, freePort(), List.of(), LONG), env());
        signalRank1(job, "KILL");
        assertEquals(137, job.exitCode(JOB_BOUND), "mpirun: 128 + SIGKILL\n" + job);
        assertTrue(Pattern.compile("mpirun noticed that process rank 1 with PID \\d+ on node \\S+ exited on signal 9")
                .matcher(job.stderr()).find(), job.toString());
        assertErrorsName(job, 1); // the others may be ended before they say it
    }

    /** srun waits for every task: the others report the killed rank and exit 3; srun exits 128 + 9. */
    @Test
    void aKilledRankUnderSrun() throws Exception {
        LaunchedJob job = start("srun", srun(3, List.of(), LONG), env("RINGATTN_COORDINATOR", "127.0.0.1:" + freePort()));
        signalRank1(job, "KILL");
        assertEquals(137, job.exitCode(JOB_BOUND), job.toString());
        assertEquals(Map.of(0, "3", 1, "Killed", 2, "3"), job.srunTaskExits(3), job.toString());
        assertEquals(2, job.errorLines().size(), "ranks 0 and 2 report rank 1\n" + job);
        assertErrorsName(job, 1);
    }

    /**
     * srun with {@code --kill-on-bad-exit=1} (as the sbatch example runs it) ends the other tasks when
     * one is killed (SIGTERM: exit 143), usually before they report it, and names the killed task.
     */
    @Test
    void aKilledRankUnderSrunWithKillOnBadExit() throws Exception {
        LaunchedJob job = start("srun", srun(3, List.of("--kill-on-bad-exit=1"), LONG),
                env("RINGATTN_COORDINATOR", "127.0.0.1:" + freePort()));
        signalRank1(job, "KILL");
        assertEquals(137, job.exitCode(JOB_BOUND), job.toString());
        Map<Integer, String> exits = job.srunTaskExits(3);
        assertEquals("Killed", exits.get(1), exits + "\n" + job);
        for (int r : List.of(0, 2)) {
            assertTrue(List.of("3", "143").contains(exits.get(r)), "rank " + r + ": " + exits + "\n" + job);
        }
        assertErrorsName(job, 1);
    }

    /** Waits for the report of stopped rank 1 and checks it came within the failure bound (5 s) plus a margin. */
    static void assertReportedWithinTheBound(LaunchedJob job) throws InterruptedException {
        long stopped = System.nanoTime();
        Duration bound = Duration.ofSeconds(5).plus(REPORT_MARGIN);
        job.awaitLine(Pattern.compile("^error: rank 1 on \\S+ failed: "), bound);
        Duration took = Duration.ofNanos(System.nanoTime() - stopped);
        System.out.println("stopped rank reported after " + took.toMillis() + " ms (failure bound 5000 ms)");
        assertTrue(took.compareTo(bound) <= 0, "reported after " + took);
    }

    @Test
    void aStoppedRankUnderMpirunIsReportedWithinTheBound() throws Exception {
        LaunchedJob job = start("mpirun", mpirun(3, freePort(), List.of("RINGATTN_TIMEOUT"), LONG),
                env("RINGATTN_TIMEOUT", "5"));
        signalRank1(job, "STOP");
        assertReportedWithinTheBound(job);
        assertEquals(3, job.exitCode(JOB_BOUND), job.toString());
        int[] first = job.mpirunFirstExit().orElseThrow(() -> new AssertionError(job.toString()));
        assertTrue(first[0] != 1 && first[1] == 3, "mpirun names rank 0 or 2 as the first to exit, with 3\n" + job);
        assertErrorsName(job, 1);
    }

    /**
     * srun without {@code --kill-on-bad-exit} would wait for the stopped task forever; with it, srun
     * ends the remaining tasks (SIGCONT, SIGTERM: exit 143) once the first reported rank 1 and exited 3.
     */
    @Test
    void aStoppedRankUnderSrunIsReportedWithinTheBound() throws Exception {
        LaunchedJob job = start("srun", srun(3, List.of("--kill-on-bad-exit=1"), LONG),
                env("RINGATTN_COORDINATOR", "127.0.0.1:" + freePort(), "RINGATTN_TIMEOUT", "5"));
        signalRank1(job, "STOP");
        assertReportedWithinTheBound(job);
        int code = job.exitCode(JOB_BOUND);
        Map<Integer, String> exits = job.srunTaskExits(3);
        assertTrue(exits.get(0).equals("3") || exits.get(2).equals("3"), "a rank reported rank 1 and exited 3: " + exits);
        for (int r : List.of(0, 2)) {
            assertTrue(List.of("3", "143").contains(exits.get(r)), "rank " + r + ": " + exits + "\n" + job);
        }
        assertEquals("143", exits.get(1), "srun terminated the stopped rank: " + exits + "\n" + job);
        assertEquals(143, code, "srun exits with the largest task exit code\n" + job);
        assertErrorsName(job, 1);
    }

    /** The sbatch example, as shipped, with the sizes of its defaults (2 tasks, 1 thread) and a tiny demo. */
    @Test
    void theSbatchExampleRunsAsShipped() throws Exception {
        Path secretFile = dir.resolve("home").resolve("secret");
        LaunchedJob sbatch = start("sbatch", List.of("sbatch", "--wait", SBATCH_EXAMPLE.toString(), "demo", "--seq", "256",
                "--heads", "2", "--head-dim", "16"), slurmEnv("RINGATTN", ringattn.toString(),
                "RINGATTN_SECRET_FILE", secretFile.toString()));
        String output = sbatchOutput(sbatch, dir);
        assertRanAsOneJob(output, output, 2, 256);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(secretFile)),
                "the job secret the example made");
    }

    /**
     * The example in a checkout, submitted from elsewhere without RINGATTN: it finds the checkout's
     * launcher (and builds there once) and takes the job's size from sbatch's options (three ranks;
     * {@code --overcommit} because this machine may have fewer cores).
     */
    @Test
    void theSbatchExampleFindsTheCheckoutItIsIn() throws Exception {
        Path checkout = Files.createDirectories(dir.resolve("a checkout"));
        Files.createDirectories(checkout.resolve("examples/slurm"));
        Path example = Files.copy(SBATCH_EXAMPLE, checkout.resolve("examples/slurm/ringattn.sbatch"),
                StandardCopyOption.COPY_ATTRIBUTES);
        Files.writeString(checkout.resolve("pom.xml"), "<project/>\n");
        Path log = dir.resolve("launcher.log");
        Path launcher = checkout.resolve("ringattn");
        Files.writeString(launcher, "#!/bin/sh\necho \"$1\" >>" + quote(log.toString()) + "\n"
                + "[ \"$1\" = build ] && exit 0\nexec " + quote(ringattn.toString()) + " \"$@\"\n");
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path submitDir = Files.createDirectory(dir.resolve("elsewhere"));
        LaunchedJob sbatch = start("sbatch", List.of("sbatch", "--wait", "--ntasks=3", "--overcommit", example.toString(),
                "demo", "--seq", "256", "--heads", "2", "--head-dim", "16"),
                slurmEnv("RINGATTN_SECRET_FILE", dir.resolve("secret").toString()), submitDir);
        String output = sbatchOutput(sbatch, submitDir);
        assertRanAsOneJob(output, output, 3, 256);
        assertEquals(List.of("build", "worker", "worker", "worker"), Files.readAllLines(log).stream().sorted().toList());
    }

    /** Waits for {@code sbatch --wait} (exit 0 asserted); returns the job's output file (stdout and stderr). */
    static String sbatchOutput(LaunchedJob sbatch, Path submitDir) throws Exception {
        int code = sbatch.exitCode(JOB_BOUND);
        Matcher id = Pattern.compile("Submitted batch job (\\d+)").matcher(sbatch.stdout());
        assertTrue(id.find(), sbatch.toString());
        Path output = submitDir.resolve("ringattn-" + id.group(1) + ".out");
        String text = Files.isRegularFile(output) ? Files.readString(output, StandardCharsets.UTF_8) : "(no " + output + ")";
        assertEquals(0, code, sbatch + "--- " + output + "\n" + text);
        return text;
    }
}
