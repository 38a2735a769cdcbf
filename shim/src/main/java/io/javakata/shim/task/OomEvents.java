package io.javakata.shim.task;

import io.javakata.shim.sandbox.Sandbox;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import java.util.function.Consumer;

/**
 * The long poll that turns the guest's GetOOMEvent answers into TaskOOM events, for OOM kills that
 * do not end a process the shim waits on (a child of a container's init, say). Kills that do end one
 * reach the host with that process's exit (WaitProcessResponse.oom_killed).
 *
 * <p>One virtual thread per sandbox; it ends when the agent connection closes (the sandbox stops).
 */
final class OomEvents {

    private static final System.Logger LOG = System.getLogger(OomEvents.class.getName());

    private OomEvents() {
    }

    /** Starts the loop; {@code onOom} gets the container id of each OOM kill. */
    static void start(Sandbox sandbox, Consumer<String> onOom) {
        Thread.ofVirtual().name("oom-" + sandbox.id()).start(() -> loop(sandbox, onOom));
    }

    private static void loop(Sandbox sandbox, Consumer<String> onOom) {
        while (true) {
            String containerId;
            try {
                containerId = sandbox.agent().waitForOom();
            } catch (RuntimeStatusException e) {
                if (e.code() != Code.UNAVAILABLE) {
                    LOG.log(System.Logger.Level.WARNING, "OOM events of sandbox " + sandbox.id() + " stop: "
                            + e.getMessage());
                }
                return;
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "OOM events of sandbox " + sandbox.id() + " stop: "
                        + e.getMessage());
                return;
            }
            LOG.log(System.Logger.Level.INFO, "OOM kill in container " + containerId);
            onOom.accept(containerId);
        }
    }
}
