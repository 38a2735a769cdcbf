package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;

/** deploy/*.yaml against the Kubernetes API types (DeployManifests), and what the two files must agree on. */
class DeployManifestsTest {

    static final Path DEPLOY = PrivateContainerd.repo().resolve("deploy");

    @Test
    void theRuntimeClassSendsPodsToInstalledTaintedNodesWithTheirOverhead() throws IOException {
        RuntimeClass rc = DeployManifests.one(DEPLOY.resolve("runtimeclass.yaml"), RuntimeClass.class);
        assertEquals("javakata", rc.getMetadata().getName());
        assertEquals("javakata", rc.getHandler());
        assertEquals("installed", rc.getScheduling().getNodeSelector().get("javakata.io/runtime"));
        assertEquals("javakata.io/sandbox", rc.getScheduling().getTolerations().getFirst().getKey());
        var overhead = rc.getOverhead().getPodFixed();
        assertEquals(304L * 1024 * 1024, Quantity.getAmountInBytes(overhead.get("memory")).longValueExact());
        assertEquals("250m", overhead.get("cpu").toString());
    }

    @Test
    void theDaemonSetRunsPrivilegedWithTheNodesRootOnlyOnLabelledNodes() throws IOException {
        DaemonSet ds = DeployManifests.one(DEPLOY.resolve("javakata-deploy.yaml"), DaemonSet.class);
        var pod = ds.getSpec().getTemplate().getSpec();
        assertTrue(pod.getHostPID());
        assertEquals("true", pod.getNodeSelector().get("javakata.io/install"));
        assertEquals(ds.getSpec().getSelector().getMatchLabels(), ds.getSpec().getTemplate().getMetadata().getLabels());
        var container = pod.getContainers().getFirst();
        assertTrue(container.getSecurityContext().getPrivileged());
        assertEquals("/host", container.getVolumeMounts().getFirst().getMountPath());
        assertEquals("/", pod.getVolumes().getFirst().getHostPath().getPath());
        assertEquals("Never", container.getImagePullPolicy());
        assertFalse(container.getLifecycle().getPreStop().getExec().getCommand().isEmpty());
        // The taint the RuntimeClass's pods tolerate is the one the DaemonSet tolerates.
        RuntimeClass rc = DeployManifests.one(DEPLOY.resolve("runtimeclass.yaml"), RuntimeClass.class);
        assertEquals(rc.getScheduling().getTolerations(), pod.getTolerations());
    }

    @Test
    void aFieldTheApiDoesNotHaveIsRefused(@TempDir Path dir) throws IOException {
        Path yaml = dir.resolve("rc.yaml");
        Files.writeString(yaml, Files.readString(DEPLOY.resolve("runtimeclass.yaml")).replace("handler: javakata",
                "handler: javakata\nhandlr: typo"));
        var e = assertThrows(IOException.class, () -> DeployManifests.read(yaml));
        assertTrue(e.getMessage().contains("RuntimeClass javakata.handlr"), e.getMessage());
        Files.writeString(yaml, Files.readString(DEPLOY.resolve("javakata-deploy.yaml")).replace("hostPID: true",
                "hostPID: true\n      hostPid: true").replace("privileged: true", "privileged: true\n            priviledged: true"));
        e = assertThrows(IOException.class, () -> DeployManifests.read(yaml));
        assertTrue(e.getMessage().contains(".spec.template.spec.hostPid"), e.getMessage());
        assertTrue(e.getMessage().contains(".securityContext.priviledged"), e.getMessage());
    }
}
