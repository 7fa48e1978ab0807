/**
 * The ringattn command line, one program: {@link ringattn.cli.Main} and its subcommands {@code demo},
 * {@code run}, {@code worker}, {@code bench} and {@code prefill} (the model's prefill; the model
 * itself is {@code ringattn.model}). Each parses its options with {@code Options}, starts
 * {@code --transport ucx} ranks as {@code worker} processes through {@link ringattn.cli.RankLauncher}
 * (over {@code ringattn.launch}), and prints a summary, with {@code --json} one JSON line carrying the
 * same memory fields. Exit codes: 0 success; 2 bad usage or input (one {@code error:} line naming the
 * argument or file); 3 a rank failed or timed out (the message names the rank); 1 anything else.
 * Commands run on the calling thread and write results to stdout, progress and diagnostics to stderr;
 * they are not meant to be called concurrently within one JVM.
 */
package ringattn.cli;
