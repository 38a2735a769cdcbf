package io.javakata.guest.rpc;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Finds the virtio-serial port the host named (QEMU {@code virtserialport,name=agent0}): without
 * udev there is no {@code /dev/virtio-ports/<name>} link, so match
 * {@code /sys/class/virtio-ports/vportXpY/name} and use {@code /dev/vportXpY}.
 */
public final class AgentPort {

    private AgentPort() {
    }

    /** The device of the port called {@code name}, if the kernel has registered it yet. */
    public static Optional<Path> find(Path sysVirtioPorts, Path dev, String name) throws IOException {
        if (!Files.isDirectory(sysVirtioPorts)) {
            return Optional.empty();
        }
        try (DirectoryStream<Path> ports = Files.newDirectoryStream(sysVirtioPorts)) {
            for (Path port : ports) {
                Path nameFile = port.resolve("name");
                if (Files.isReadable(nameFile)
                        && Files.readString(nameFile, StandardCharsets.US_ASCII).strip().equals(name)) {
                    return Optional.of(dev.resolve(port.getFileName().toString()));
                }
            }
        }
        return Optional.empty();
    }
}
