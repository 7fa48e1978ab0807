/**
 * The GPU check: correctness cases against the fp64 reference and a benchmark, runnable without
 * JUnit on a jlinked runtime ({@code modules/cuda/gpu-check.sh}). Not exported.
 */
package ringattn.cuda.check;
