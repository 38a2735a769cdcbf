package io.javakata.guest;

import java.time.Clock;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import io.javakata.guest.reaper.Reaper;
import io.javakata.guest.reaper.SystemChildWaiter;
import io.javakata.sys.Processes;

/**
 * The agent's reaper loop running for a test class, as in the guest, so that commands started through it keep
 * their true exit statuses. Register it as a static extension.
 */
public class ReaperLoop implements BeforeAllCallback, AfterAllCallback {

    private final boolean subreaper;
    private Reaper reaper;

    /** A loop in a JVM that stays an ordinary parent. */
    public ReaperLoop() {
        this(false);
    }

    /**
     * @param subreaper whether the JVM first becomes a child subreaper, as the agent is PID 1: then processes
     *                  orphaned by their parent (a container init when runc exits) become its children too
     */
    protected ReaperLoop(boolean subreaper) {
        this.subreaper = subreaper;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        if (subreaper) {
            Processes.setChildSubreaper();
        }
        reaper = new Reaper(new SystemChildWaiter(), Clock.systemUTC());
        reaper.startLoop();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        reaper.close();
    }

    public Reaper reaper() {
        return reaper;
    }
}
