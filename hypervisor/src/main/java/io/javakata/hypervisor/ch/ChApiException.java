package io.javakata.hypervisor.ch;

import java.io.IOException;

/**
 * Cloud Hypervisor answered an API call with an error status. The message names the call, the status and what
 * Cloud Hypervisor said ("vm.boot: Cloud Hypervisor answered 404 Not Found: VM is not created").
 */
public final class ChApiException extends IOException {

    private final String call;
    private final int status;
    private final String chMessage;

    ChApiException(String call, int status, String reason, String chMessage) {
        super(call + ": Cloud Hypervisor answered " + status + (reason.isEmpty() ? "" : " " + reason)
                + (chMessage.isEmpty() ? " with no message" : ": " + chMessage));
        this.call = call;
        this.status = status;
        this.chMessage = chMessage;
    }

    /** The API action, such as {@code vm.create}. */
    public String call() {
        return call;
    }

    /** The HTTP status Cloud Hypervisor answered with. */
    public int status() {
        return status;
    }

    /** Cloud Hypervisor's own error text (its error chain joined with ": "), or "" if it sent none. */
    public String chMessage() {
        return chMessage;
    }
}
