package io.javakata.shim.task;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import io.containerd.task.v2.PidsResponse;
import io.containerd.types.task.ProcessInfo;
import io.javakata.shim.agent.Agent;
import io.containerd.types.Mount;
import io.containerd.types.task.Status;
import io.javakata.shim.container.ProcessState;
import io.javakata.shim.rootfs.RootfsMount;
import io.javakata.ttrpc.Errors;
import java.time.Instant;
import java.util.List;

/** Conversions between the containerd wire types and the shim's model. */
final class Protos {

    /** Type URLs as containerd/typeurl registers them: the message name, no type.googleapis.com/ prefix. */
    static final String OCI_PROCESS = "types.containerd.io/opencontainers/runtime-spec/1/Process";
    static final String OCI_LINUX_RESOURCES = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
    static final String CGROUPS_V2_METRICS = "io.containerd.cgroups.v2.Metrics";
    static final String RUNC_PROCESS_DETAILS = "containerd.runc.v1.ProcessDetails";

    private Protos() {
    }

    /** The OCI Process JSON of an Exec's spec, passed through untouched. */
    static ByteString processJson(Any spec) {
        return json(spec, OCI_PROCESS, "spec");
    }

    /** The OCI LinuxResources JSON of an Update, passed through untouched. */
    static ByteString resourcesJson(Any resources) {
        return json(resources, OCI_LINUX_RESOURCES, "resources");
    }

    /** {@code containerd.runc.v1.ProcessDetails{1 exec_id string}} encoded: tag 0x0a, length, UTF-8. */
    static ByteString processDetails(String execId) {
        ByteString.Output out = ByteString.newOutput();
        com.google.protobuf.CodedOutputStream coded = com.google.protobuf.CodedOutputStream.newInstance(out);
        try {
            coded.writeString(1, execId);
            coded.flush();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out.toByteString();
    }

    private static ByteString json(Any any, String typeUrl, String field) {
        if (!any.getTypeUrl().equals(typeUrl)) {
            throw Errors.invalidArgument("%s type_url=\"%s\": must be %s (JSON)", field, any.getTypeUrl(), typeUrl);
        }
        if (any.getValue().isEmpty()) {
            throw Errors.invalidArgument("%s: must not be empty", field);
        }
        return any.getValue();
    }

    /**
     * Pids as the runc shim answers them: every process, with ProcessDetails{exec_id} in info for the
     * main process of an exec. The message is one string field (1 exec_id), written by hand here.
     */
    static PidsResponse pids(List<Agent.GuestProcess> processes) {
        PidsResponse.Builder response = PidsResponse.newBuilder();
        for (Agent.GuestProcess p : processes) {
            ProcessInfo.Builder info = ProcessInfo.newBuilder().setPid(p.pid());
            if (!p.execId().isEmpty()) {
                info.setInfo(Any.newBuilder().setTypeUrl(RUNC_PROCESS_DETAILS).setValue(processDetails(p.execId())));
            }
            response.addProcesses(info);
        }
        return response.build();
    }

    static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
    }

    static Status status(ProcessState state) {
        return switch (state) {
            case ProcessState.Created c -> Status.CREATED;
            case ProcessState.Running r -> Status.RUNNING;
            case ProcessState.Paused p -> Status.PAUSED;
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
