package io.javakata.ttrpc;

import io.javakata.ttrpc.transport.Connection;
import io.javakata.ttrpc.transport.PipeConnection;

/** The contract over an in-memory pipe, served by {@link TtrpcServer#serve} on a virtual thread. */
class PipeTtrpcTest extends TtrpcContract {

    @Override
    Connection connectToServer() {
        PipeConnection[] pair = PipeConnection.pair();
        Thread.ofVirtual().name("test-serve").start(() -> server.serve(pair[1]));
        return pair[0];
    }
}
