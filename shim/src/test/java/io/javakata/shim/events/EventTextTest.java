package io.javakata.shim.events;

import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import com.google.protobuf.Timestamp;
import io.containerd.events.TaskCreate;
import io.containerd.events.TaskDelete;
import io.containerd.events.TaskExecAdded;
import io.containerd.events.TaskExecStarted;
import io.containerd.events.TaskExit;
import io.containerd.events.TaskIO;
import io.containerd.events.TaskOOM;
import io.containerd.events.TaskPaused;
import io.containerd.events.TaskResumed;
import io.containerd.events.TaskStart;
import io.containerd.types.Mount;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

@Timeout(5)
class EventTextTest {

    private static final Timestamp AT = Timestamp.newBuilder().setSeconds(1700000000).setNanos(250).build();

    /** Every event the shim publishes, with every field it sets. */
    static List<Message> events() {
        var io = TaskIO.newBuilder().setStdin("/run/fifo/in").setStdout("/run/fifo/out").setStderr("/run/fifo/err")
                .setTerminal(true);
        return List.of(
                TaskCreate.newBuilder().setContainerId("c1").setBundle("/run/b/c1").setIo(io).setPid(42).build(),
                TaskCreate.newBuilder().setContainerId("c2").setIo(TaskIO.getDefaultInstance()).build(),
                TaskStart.newBuilder().setContainerId("c1").setPid(42).build(),
                TaskExit.newBuilder().setContainerId("c1").setId("e1").setPid(43).setExitStatus(137).setExitedAt(AT)
                        .build(),
                TaskExit.newBuilder().setContainerId("c1").setId("c1").setExitedAt(Timestamp.getDefaultInstance())
                        .build(),
                TaskDelete.newBuilder().setContainerId("c1").setPid(42).setExitStatus(7).setExitedAt(AT).setId("x")
                        .build(),
                TaskExecAdded.newBuilder().setContainerId("c1").setExecId("e1").build(),
                TaskExecStarted.newBuilder().setContainerId("c1").setExecId("e1").setPid(44).build(),
                TaskOOM.newBuilder().setContainerId("c1").build(),
                TaskPaused.newBuilder().setContainerId("c1").build(),
                TaskResumed.newBuilder().setContainerId("quote\"back\\slash").build());
    }

    @Test
    void writesWhatProtobufsTextFormatWrites() {
        for (Message event : events()) {
            assertEquals(TextFormat.shortDebugString(event), EventText.of(event), event.getClass().getSimpleName());
        }
    }

    @Test
    void leavesOutTheRootfsMountsOfTaskCreate() {
        var create = TaskCreate.newBuilder().setContainerId("c1").setPid(9)
                .addRootfs(Mount.newBuilder().setType("overlay").setSource("overlay").addOptions("lowerdir=/l"))
                .build();
        assertEquals("container_id: \"c1\" pid: 9", EventText.of(create));
    }

    @Test
    void namesAnEventTypeItDoesNotKnow() {
        assertEquals("Timestamp", EventText.of(Timestamp.newBuilder().setSeconds(Instant.EPOCH.getEpochSecond())
                .build()));
    }
}
