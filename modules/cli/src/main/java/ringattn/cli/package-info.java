/**
 * The ringattn command line: {@link ringattn.cli.Main} and its subcommands {@code demo}, {@code run},
 * {@code worker} and {@code bench}. Exit codes: 0 success; 2 bad usage or input (one {@code error:}
 * line naming the argument or file); 3 a rank failed or timed out (the message names the rank);
 * 1 anything else. Commands run on the calling thread and write results to stdout, progress and
 * diagnostics to stderr; they are not meant to be called concurrently within one JVM.
 */
package ringattn.cli;
