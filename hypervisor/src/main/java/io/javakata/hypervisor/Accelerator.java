package io.javakata.hypervisor;

/** What the VM runs on. AUTO picks KVM when it is usable and falls back to TCG, saying why. */
public enum Accelerator {
    AUTO,
    KVM,
    TCG;

    /** The accelerator chosen for a VM, and a sentence saying why (logged at start). */
    public record Choice(Accelerator accelerator, String reason) {
        public Choice {
            if (accelerator == AUTO) {
                throw new IllegalArgumentException("a choice must be KVM or TCG, not AUTO");
            }
        }
    }
}
