/**
 * Benchmark sweeps of the {@code bench} command: the points measured, their CSV and JSON forms, and
 * the PNG plot drawn with XChart (headless). Classes are immutable or stateless.
 */
package ringattn.cli.bench;
