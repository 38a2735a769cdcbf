package io.javakata.shim.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
class AotTrainingTest {

    @Test
    void everyListedClassLoads() throws Exception {
        var listed = AotTraining.listed();
        // A pod's daemon: the task service, the VM's driver, the agent's client, containerd's protos.
        for (String name : new String[]{"io.javakata.shim.task.TaskService",
                "io.javakata.hypervisor.qemu.QemuHypervisor", "io.javakata.shim.agent.TtrpcAgent",
                "io.containerd.task.v2.CreateTaskRequest"}) {
            assertTrue(listed.contains(name), name + " is not in " + AotTraining.CLASS_LIST);
        }
        var result = AotTraining.loadListed(AotTrainingTest.class.getClassLoader());
        assertEquals(java.util.List.of(), result.missing(), "classes of " + AotTraining.CLASS_LIST
                + " that are gone: run scripts/make-serve-classlist.sh (after make install) to write it again");
        assertEquals(listed.size(), result.loaded());
    }

    @Test
    void onlyTheTrainingRunAsksForIt() {
        assertTrue(AotTraining.requested(Map.of(AotTraining.ENV, "1")));
        assertFalse(AotTraining.requested(Map.of("PATH", "/usr/bin")));
    }
}
