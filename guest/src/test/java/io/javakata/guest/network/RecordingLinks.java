package io.javakata.guest.network;

import java.io.IOException;
import java.util.List;

/**
 * A {@link Links.Opener} that records each change as "[NAMESPACE] change", NAMESPACE being "agent" or the pid whose
 * namespace it was opened for, and fails the first change whose text contains {@code failOn} (if not null) with
 * "… failed: errno 17 EEXIST (File exists)".
 */
record RecordingLinks(List<String> changes, String failOn) implements Links.Opener {

    @Override
    public Links open(int pid) {
        String namespace = "[" + (pid > 0 ? Integer.toString(pid) : "agent") + "] ";
        return new Links() {
            private void record(String change) throws IOException {
                String line = namespace + change;
                if (failOn != null && line.contains(failOn)) {
                    throw new IOException("rtnetlink " + change + " failed: errno 17 EEXIST (File exists)");
                }
                changes.add(line);
            }

            @Override
            public void moveToNetnsOf(String name, int target) throws IOException {
                record("link " + name + " netns " + target);
            }

            @Override
            public void rename(String name, String newName) throws IOException {
                record("link " + name + " name " + newName);
            }

            @Override
            public void setMtu(String name, int mtu) throws IOException {
                record("link " + name + " mtu " + mtu);
            }

            @Override
            public void setUp(String name) throws IOException {
                record("link " + name + " up");
            }

            @Override
            public void addAddress(String name, IpPrefix address) throws IOException {
                record("addr " + address + " dev " + name);
            }

            @Override
            public void addRoute(Route route) throws IOException {
                record("route " + route);
            }

            @Override
            public void close() {
            }
        };
    }
}
