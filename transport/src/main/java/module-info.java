/** The UCX transport (jucx), rank bootstrap and rendezvous; implements the engine's transport port. */
module ringattn.transport.ucx {
    requires ringattn.engine;
    requires jucx;

    exports ringattn.transport.ucx;
}
