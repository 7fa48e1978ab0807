/**
 * Benchmarks: JMH benchmarks of the engine and the model (kernel and matmul GFLOP/s against the FMA
 * peak) and {@link ringattn.bench.BandwidthBench}, a main class timing the UCX transport's ring step
 * between two rank processes ({@code bench/bandwidth.sh}), and {@link ringattn.bench.DecodeBench}, a main
 * class timing generation against context length and rank count ({@code bench/decode.sh}).
 */
package ringattn.bench;
