package ringattn.transport.ucx;

import java.util.Map;
import java.util.Optional;

/**
 * Who this process is in the job: {@code rank} in {@code [0, worldSize)}, the job id shared by all
 * ranks, and where that came from (for error messages).
 *
 * @param rank      this process's rank
 * @param worldSize number of ranks in the job
 * @param jobId     an id every rank of one job shares (names the rendezvous subdirectory)
 * @param source    where the values were read: "options", "slurm", "openmpi", "pmi"
 */
public record RankInfo(int rank, int worldSize, String jobId, String source) {

    public RankInfo {
        validate(rank, worldSize);
        if (jobId == null || jobId.isBlank()) {
            throw new ringattn.engine.transport.TransportException("jobId: must not be empty");
        }
    }

    /** Throws a {@link ringattn.engine.transport.TransportException} naming the bad argument. */
    static void validate(int rank, int worldSize) {
        if (worldSize < 1) {
            throw new ringattn.engine.transport.TransportException("worldSize: must be >= 1, got " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new ringattn.engine.transport.TransportException(
                    "rank: must be in [0, " + worldSize + "), got " + rank);
        }
    }

    /**
     * Reads rank and world size from a launcher's environment: Slurm ({@code SLURM_PROCID},
     * {@code SLURM_NTASKS}, {@code SLURM_JOB_ID}, with {@code SLURM_STEP_ID} appended when set),
     * Open MPI ({@code OMPI_COMM_WORLD_RANK}, {@code OMPI_COMM_WORLD_SIZE}, job id from
     * {@code OMPI_MCA_orte_hnp_uri}'s or {@code PMIX_NAMESPACE}'s value), PMI ({@code PMI_RANK},
     * {@code PMI_SIZE}, {@code PMI_JOBID}) or ringattn's own ({@code RINGATTN_RANK},
     * {@code RINGATTN_WORLD_SIZE}, {@code RINGATTN_JOB_ID}). Ours win; then the innermost launcher
     * (Open MPI, then PMI, then Slurm: mpirun inside an allocation keeps Slurm's variables).
     * Empty when none is set.
     */
    public static Optional<RankInfo> fromEnvironment(Map<String, String> env) {
        if (env.containsKey("RINGATTN_RANK") || env.containsKey("RINGATTN_WORLD_SIZE")) {
            return Optional.of(read(env, "RINGATTN_RANK", "RINGATTN_WORLD_SIZE",
                    env.getOrDefault("RINGATTN_JOB_ID", "ringattn"), "options"));
        }
        // The innermost launcher first: mpirun inside a Slurm allocation leaves the batch step's
        // SLURM_PROCID=0 in every MPI rank's environment.
        if (env.containsKey("OMPI_COMM_WORLD_RANK") && env.containsKey("OMPI_COMM_WORLD_SIZE")) {
            String job = env.getOrDefault("PMIX_NAMESPACE",
                    env.getOrDefault("OMPI_MCA_orte_hnp_uri", "openmpi"));
            return Optional.of(read(env, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", sanitize(job), "openmpi"));
        }
        if (env.containsKey("PMI_RANK") && env.containsKey("PMI_SIZE")) {
            return Optional.of(read(env, "PMI_RANK", "PMI_SIZE", env.getOrDefault("PMI_JOBID", "pmi"), "pmi"));
        }
        if (env.containsKey("SLURM_PROCID") && env.containsKey("SLURM_NTASKS")) {
            String job = env.getOrDefault("SLURM_JOB_ID", env.getOrDefault("SLURM_JOBID", "slurm"));
            if (env.containsKey("SLURM_STEP_ID")) {
                job = job + "." + env.get("SLURM_STEP_ID");
            }
            return Optional.of(read(env, "SLURM_PROCID", "SLURM_NTASKS", job, "slurm"));
        }
        return Optional.empty();
    }

    private static RankInfo read(Map<String, String> env, String rankVar, String sizeVar, String job, String source) {
        int rank = parse(env, rankVar);
        int size = parse(env, sizeVar);
        if (size < 1) {
            throw new ringattn.engine.transport.TransportException(
                    "worldSize: must be >= 1, got " + size + " (from " + sizeVar + ")");
        }
        if (rank < 0 || rank >= size) {
            throw new ringattn.engine.transport.TransportException("rank: must be in [0, " + size + "), got "
                    + rank + " (from " + rankVar + ")");
        }
        return new RankInfo(rank, size, sanitize(job), source);
    }

    private static int parse(Map<String, String> env, String var) {
        String v = env.get(var);
        if (v == null) {
            throw new ringattn.engine.transport.TransportException(var + ": not set");
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new ringattn.engine.transport.TransportException(var + ": not an integer: '" + v + "'");
        }
    }

    /** Job ids become directory names: keep letters, digits, '.', '-', '_'. */
    static String sanitize(String job) {
        String s = job.replaceAll("[^A-Za-z0-9._-]", "_");
        s = s.length() > 80 ? s.substring(0, 80) : s;
        if (s.isEmpty() || s.chars().allMatch(c -> c == '.')) {
            s = "_" + s; // never "", "." or "..": the id names a directory
        }
        return s;
    }
}
