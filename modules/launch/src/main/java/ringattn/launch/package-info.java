/**
 * Starting the N ranks of a job as JVMs on this machine ({@link ringattn.launch.LocalLauncher}: rank,
 * world size, job id, secret and a loopback coordinator in each rank's environment, output prefixed
 * {@code [rank R]}, the first failure ends the job) and the rank's side of that contract
 * ({@link ringattn.launch.LauncherWatch}: stop when the launcher is gone).
 */
package ringattn.launch;
