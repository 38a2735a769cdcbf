package io.javakata.shim.rootfs;

import java.util.List;
import java.util.Objects;

/**
 * One mount of a container's root filesystem as containerd's snapshotter describes it
 * (containerd snapshots/overlay/overlay.go, {@code mounts}): an overlay ({@code type=overlay, source=overlay, options=[lowerdir=…,
 * upperdir=…, workdir=…]}) or a bind ({@code type=bind, options=[rbind, rw|ro]}).
 *
 * @param type    the filesystem type, "bind" for a bind mount
 * @param source  the source path (or "overlay")
 * @param options mount(8)-style options
 */
public record RootfsMount(String type, String source, List<String> options) {

    public RootfsMount {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(source, "source");
        options = List.copyOf(options);
    }

    /** True for "bind", or for any type whose options ask for a bind (as containerd's mount.go does). */
    public boolean isBind() {
        return type.equals("bind") || options.contains("bind") || options.contains("rbind");
    }
}
