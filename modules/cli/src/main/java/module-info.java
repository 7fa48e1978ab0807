/** The ringattn command: demo, run, worker, bench. */
module ringattn.cli {
    requires transitive ringattn.engine;
    requires ringattn.transport.ucx;
    requires ringattn.io;
    requires ringattn.launch;
    requires java.desktop;
    requires org.knowm.xchart;

    exports ringattn.cli;
}
