package io.javakata.ttrpc;

import io.javakata.ttrpc.transport.Connection;

import java.io.IOException;
import java.util.concurrent.locks.ReentrantLock;

/** Writes frames to one connection under one lock, so that concurrent responses never interleave. */
final class FrameWriter {

    private final Connection connection;
    private final ReentrantLock lock = new ReentrantLock();

    FrameWriter(Connection connection) {
        this.connection = connection;
    }

    void write(Frame frame) throws IOException {
        byte[] bytes = FrameCodec.encode(frame);
        lock.lock();
        try {
            connection.output().write(bytes);
            connection.output().flush();
        } finally {
            lock.unlock();
        }
    }
}
