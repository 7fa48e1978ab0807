/** The ringattn command: demo, run, worker, bench; .npy and safetensors I/O. */
module ringattn.cli {
    requires ringattn.engine;
    requires ringattn.transport.ucx;
    requires java.desktop;
    requires org.knowm.xchart;

    exports ringattn.cli;
    exports ringattn.cli.io;
}
