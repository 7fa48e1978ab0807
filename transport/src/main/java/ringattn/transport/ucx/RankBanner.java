package ringattn.transport.ucx;

/** The one stderr line every rank prints on start: {@code rank R/N pid P host H}. */
public final class RankBanner {
    private RankBanner() {
    }

    public static String line(int rank, int worldSize, String host) {
        return "rank " + rank + "/" + worldSize + " pid " + ProcessHandle.current().pid() + " host " + host;
    }

    /** Prints {@link #line} for filled {@code options} to stderr. */
    public static void print(TransportOptions options) {
        System.err.println(line(options.rank(), options.worldSize(), options.host()));
        System.err.flush();
    }
}
