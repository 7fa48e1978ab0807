package ringattn.transport.ucx;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import ringattn.engine.transport.RankFailedException;
import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.Transfer;
import ringattn.launch.LauncherWatch;

/**
 * A rank process for the tests: joins the ring from its environment, rotates blocks of the sizes
 * given in args[0] (comma-separated bytes) P−1 steps each and checks every received block byte for
 * byte. Further args: "kill:R:S" makes rank R SIGKILL itself at step S (after posting), "stop:R:S"
 * SIGSTOPs it instead (a hung rank), "env:R:KEY=VALUE" overrides an environment variable on rank R.
 * Exit 0 = all checked; 3 = RankFailedException; 2 = other error.
 */
public final class RotationWorker {
    private RotationWorker() {
    }

    public static void main(String[] args) {
        LogFormat.oneLine();
        LauncherWatch.startFromEnvironment(System.getenv(), () -> { });
        Map<String, String> env = new HashMap<>(System.getenv());
        String myRank = env.getOrDefault("RINGATTN_RANK", "0");
        long[] sizes = Arrays.stream(args[0].split(",")).mapToLong(Long::parseLong).toArray();
        int killRank = -1;
        int killStep = -1;
        for (int i = 1; i < args.length; i++) {
            String[] k = args[i].split(":", 3);
            if (k[0].equals("kill") || k[0].equals("stop")) {
                killRank = Integer.parseInt(k[1]);
                killStep = Integer.parseInt(k[2]);
                signal = k[0].equals("kill") ? "-KILL" : "-STOP";
            } else if (k[0].equals("env") && k[1].equals(myRank)) {
                String[] kv = k[2].split("=", 2);
                env.put(kv[0], kv[1]);
            }
        }
        TransportOptions o;
        try {
            o = TransportOptions.fromEnvironment(env);
        } catch (RuntimeException e) {
            System.err.println("FAILED: " + e);
            System.exit(2);
            return;
        }
        RankBanner.print(o);
        long start = System.nanoTime();
        try (UcxTransport t = Bootstrap.connect(o)) {
            int checked = rotate(t, sizes, killRank, killStep);
            System.out.println("OK rank " + t.rank() + " checked " + checked + " blocks");
        } catch (RankFailedException e) {
            System.err.printf("FAILED after %.2f s at %d: RankFailedException rank=%d host=%s: %s%n",
                    (System.nanoTime() - start) / 1e9, System.currentTimeMillis(), e.failedRank(), e.failedHost(),
                    e.getMessage());
            System.exit(3);
        } catch (RuntimeException e) {
            System.err.println("FAILED: " + e);
            e.printStackTrace();
            System.exit(2);
        }
        System.exit(0);
    }

    /** Rotates every size P−1 steps; returns how many received blocks were checked. */
    static int rotate(RingTransport t, long[] sizes, int killRank, int killStep) {
        long max = Arrays.stream(sizes).max().orElse(0);
        t.allocateBuffers(2, max);
        int p = t.worldSize();
        int step = 0;
        int checked = 0;
        Duration wait = t.timeout();
        for (long size : sizes) {
            int cur = 0;
            fill(t.buffer(cur), size, t.rank(), size);
            for (int s = 0; s < p - 1; s++, step++) {
                Transfer recv = t.receiveFromPrevious(1 - cur, size, step);
                Transfer send = t.sendToNext(cur, size, step);
                if (t.rank() == killRank && step == killStep) {
                    kill();
                }
                send.await(wait);
                recv.await(wait);
                int origin = Math.floorMod(t.rank() - s - 1, p);
                check(t.buffer(1 - cur), size, origin, size, t.rank(), step);
                checked++;
                cur = 1 - cur;
            }
            t.barrier(wait);
        }
        return checked;
    }

    static void fill(MemorySegment seg, long size, int origin, long salt) {
        for (long i = 0; i < size; i++) {
            seg.set(ValueLayout.JAVA_BYTE, i, pattern(origin, salt, i));
        }
    }

    static void check(MemorySegment seg, long size, int origin, long salt, int rank, int step) {
        for (long i = 0; i < size; i++) {
            byte want = pattern(origin, salt, i);
            byte got = seg.get(ValueLayout.JAVA_BYTE, i);
            if (got != want) {
                throw new AssertionError("rank " + rank + " step " + step + ": byte " + i + " of the block from rank "
                        + origin + " is " + got + ", want " + want);
            }
        }
    }

    static byte pattern(int origin, long salt, long i) {
        long x = (i * 0x9E3779B97F4A7C15L) ^ (origin * 0xC2B2AE3D27D4EB4FL) ^ salt;
        return (byte) (x ^ (x >>> 29) ^ (x >>> 47));
    }

    private static String signal = "-KILL";

    private static void kill() {
        try {
            System.err.println("SIGNAL " + signal + " at " + System.currentTimeMillis());
            new ProcessBuilder("kill", signal, Long.toString(ProcessHandle.current().pid())).inheritIO().start().waitFor();
            Thread.sleep(10_000);
        } catch (Exception e) {
            Runtime.getRuntime().halt(137);
        }
        Runtime.getRuntime().halt(137);
    }
}
