package io.javakata.ttrpc;

import com.google.protobuf.Message;

/**
 * Serves one unary method. Runs on its own virtual thread per call, so it may block; it must stop when
 * interrupted (the call's deadline passed or its connection closed). Throw
 * {@link RuntimeStatusException} to answer with a code; any other exception answers UNKNOWN with its message.
 * Returning null answers with an empty payload ({@code google.protobuf.Empty}).
 */
@FunctionalInterface
public interface UnaryHandler<Q extends Message> {

    Message handle(CallContext ctx, Q request) throws Exception;
}
