/** The UCX transport (jucx), rank bootstrap and rendezvous; implements the engine's transport port. */
module ringattn.transport.ucx {
    requires transitive ringattn.engine;
    requires jucx;

    exports ringattn.transport.ucx;
}
