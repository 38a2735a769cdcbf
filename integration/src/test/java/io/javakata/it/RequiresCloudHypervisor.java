package io.javakata.it;

import io.javakata.hypervisor.ch.CloudHypervisorHost;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.nio.file.Path;
import java.util.Optional;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Runs a test class only where Cloud Hypervisor can run: a {@code cloud-hypervisor} binary ({@code
 * $JAVAKATA_CH_BINARY}, else the first on PATH, the same one scripts/containerd.sh puts in the {@code javakata-ch}
 * handler's configuration) and usable KVM ({@link CloudHypervisorHost}). Elsewhere the class is disabled before
 * anything starts (no containerd, no VM), with the reason in the report and on stderr. This is one of the three
 * host requirements a test may skip for (docs/testing.md): Debian does not package Cloud Hypervisor, and these
 * machines' KVM (PVM, or none) cannot run it.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(RequiresCloudHypervisor.Condition.class)
public @interface RequiresCloudHypervisor {

    /** The check behind the annotation. */
    final class Condition implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            String configured = System.getenv("JAVAKATA_CH_BINARY");
            CloudHypervisorHost.Availability here = CloudHypervisorHost.check(
                    configured == null || configured.isBlank() ? Optional.empty() : Optional.of(Path.of(configured)));
            if (here.usable()) {
                return ConditionEvaluationResult.enabled("Cloud Hypervisor usable: " + here.reason());
            }
            String reason = "SKIPPED, not run: Cloud Hypervisor cannot run on this host: " + here.reason();
            System.err.println(context.getDisplayName() + " " + reason);
            return ConditionEvaluationResult.disabled(reason);
        }
    }
}
