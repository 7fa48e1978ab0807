/** JMH benchmarks of the engine: kernel GFLOP/s against the FMA peak, ring steps, transport bandwidth. */
package ringattn.bench;
