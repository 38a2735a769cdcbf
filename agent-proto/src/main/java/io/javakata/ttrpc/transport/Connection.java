package io.javakata.ttrpc.transport;

import java.io.Closeable;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * One full-duplex byte stream that ttrpc frames travel on: a Unix socket, a virtio-serial port, a
 * vsock stream or an in-memory pipe.
 *
 * <p>Thread-safety: one thread may read from {@link #input()} while another writes to
 * {@link #output()}; the ttrpc layer serialises its writers. {@link #close()} may be called from any
 * thread, is idempotent, and makes a blocked read end (end of stream or IOException).
 */
public interface Connection extends Closeable {

    InputStream input();

    OutputStream output();

    /** Where this connection goes, for log lines and errors ("unix:/run/javakata/x/agent.sock"). */
    String describe();
}
