package io.javakata.shim.sandbox;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Where one sandbox keeps its host state: {@code <state_dir>/sandboxes/<key>/}, key = the first 32
 * hex digits of sha256("<namespace>/<sandbox id>"), so ids of any length and charset give short,
 * safe names (QEMU and virtiofsd socket paths must stay under 108 bytes).
 *
 * @param dir the sandbox's state directory
 */
public record SandboxPaths(Path dir) {

    /** The guest path where the virtiofs share (tag {@value Sandbox#SHARED_FS_TAG}) is mounted. */
    public static final String GUEST_SHARED_DIR = "/run/javakata/shared";

    public static SandboxPaths of(Path stateDir, String namespace, String sandboxId) {
        return new SandboxPaths(stateDir.resolve("sandboxes").resolve(key(namespace, sandboxId)));
    }

    public static String key(String namespace, String sandboxId) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest((namespace + "/" + sandboxId).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest).substring(0, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    /**
     * Where the host makes every mount of the pod (container root filesystems, volume binds): a shared
     * bind of itself that the guest never sees directly (Mounter#makeShare).
     */
    public Path mounts() {
        return dir.resolve("mounts");
    }

    /** The directory virtiofsd exports: a read-only bind of {@link #mounts()} that receives its mounts. */
    public Path shared() {
        return dir.resolve("shared");
    }

    public Path sandboxJson() {
        return dir.resolve("sandbox.json");
    }

    public Path consoleLog() {
        return dir.resolve("console.log");
    }

    /**
     * A container's directory on the host: {@code mounts/<cid>}, seen read-only by the guest as
     * {@code shared/<cid>}. {@code containerId} must be a validated id (io.javakata.shim.task.TaskIds).
     */
    public Path containerDir(String containerId) {
        return mounts().resolve(containerId);
    }

    /** Where a container's rootfs is mounted on the host. */
    public Path rootfs(String containerId) {
        return containerDir(containerId).resolve("rootfs");
    }

    /** The same rootfs as the guest sees it. */
    public static String guestRootfs(String containerId) {
        return guestContainerDir(containerId) + "/rootfs";
    }

    /** A container's directory ({@code shared/<cid>}) as the guest sees it. */
    public static String guestContainerDir(String containerId) {
        return GUEST_SHARED_DIR + "/" + containerId;
    }
}
