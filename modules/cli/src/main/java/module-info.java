/** The ringattn command: demo, run, worker, bench, prefill. */
module ringattn.cli {
    requires transitive ringattn.engine;
    requires ringattn.transport.ucx;
    requires ringattn.io;
    requires ringattn.launch;
    requires ringattn.model;
    requires java.desktop;
    requires org.knowm.xchart;

    exports ringattn.cli;
}
