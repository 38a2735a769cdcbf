package io.javakata.shim.cli;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import io.containerd.runtimeoptions.v1.Options;
import io.javakata.ttrpc.Errors;

import java.lang.System.Logger.Level;
import java.util.Optional;

/**
 * The task options containerd writes to {@code start}'s stdin: a marshalled {@code google.protobuf.Any}, which for a
 * non-runc runtime holds CRI's {@code runtimeoptions.v1.Options} (containerd pkg/cri/server/helpers.go;
 * runtimeoptions/v1/api.proto). Empty stdin means no options.
 */
final class RuntimeOptions {

    static final String TYPE = "runtimeoptions.v1.Options";
    private static final System.Logger LOG = System.getLogger(RuntimeOptions.class.getName());

    private RuntimeOptions() {
    }

    /** The ConfigPath the options name, if any; options of another type are logged and ignored. */
    static Optional<String> configPath(byte[] stdin) {
        if (stdin.length == 0) {
            return Optional.empty();
        }
        try {
            Any any = Any.parseFrom(stdin);
            String type = any.getTypeUrl().substring(any.getTypeUrl().lastIndexOf('/') + 1);
            if (!type.equals(TYPE)) {
                LOG.log(Level.INFO, "ignored runtime options of type " + any.getTypeUrl() + ": want " + TYPE);
                return Optional.empty();
            }
            String path = Options.parseFrom(any.getValue()).getConfigPath();
            return path.isEmpty() ? Optional.empty() : Optional.of(path);
        } catch (InvalidProtocolBufferException e) {
            throw Errors.invalidArgument("runtime options on stdin (%d bytes): not a protobuf Any holding %s: %s",
                    stdin.length, TYPE, e.getMessage());
        }
    }
}
