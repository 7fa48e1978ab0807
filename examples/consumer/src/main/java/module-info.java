/** An application that uses ringattn as a library, through its exported API only. */
module org.example.consumer {
    requires ringattn.engine;

    exports org.example.consumer;
}
