/**
 * The ranks of a job as processes on this machine: {@link ringattn.launch.LocalLauncher} starts them
 * (the command's {@code --transport ucx}, the transport's multi-process tests, the bandwidth bench),
 * {@link ringattn.launch.LauncherWatch} stops a rank whose launcher died. Depends on nothing of ours,
 * so the transport's tests can use it without a cycle.
 */
module ringattn.launch {
    exports ringattn.launch;
}
