package io.javakata.shim.task;

import com.google.protobuf.Timestamp;
import io.containerd.types.Mount;
import io.containerd.types.task.Status;
import io.javakata.shim.container.ProcessState;
import io.javakata.shim.rootfs.RootfsMount;
import java.time.Instant;
import java.util.List;

/** Conversions between the containerd wire types and the shim's model. */
final class Protos {

    private Protos() {
    }

    static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
    }

    static Status status(ProcessState state) {
        return switch (state) {
            case ProcessState.Created c -> Status.CREATED;
            case ProcessState.Running r -> Status.RUNNING;
            case ProcessState.Stopped s -> Status.STOPPED;
            case ProcessState.Deleted d -> Status.STOPPED;
        };
    }

    static List<RootfsMount> rootfs(List<Mount> mounts) {
        return mounts.stream().map(m -> new RootfsMount(m.getType(), m.getSource(), m.getOptionsList())).toList();
    }

    /** The shim's version for ConnectResponse: the jar's Implementation-Version when packaged. */
    static String version() {
        String version = Protos.class.getPackage().getImplementationVersion();
        return "javakata " + (version == null ? "dev" : version);
    }
}
