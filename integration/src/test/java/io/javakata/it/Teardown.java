package io.javakata.it;

/** The end of a test class: closes what it set up, each one even when closing an earlier one failed. */
final class Teardown {

    private Teardown() {
    }

    /**
     * Closes each non-null resource, in order; then throws the first failure, with the later ones suppressed in it.
     */
    static void closeAll(AutoCloseable... resources) {
        Throwable first = null;
        for (AutoCloseable resource : resources) {
            if (resource == null) {
                continue;
            }
            try {
                resource.close();
            } catch (Exception | Error e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        switch (first) {
            case null -> { }
            case RuntimeException e -> throw e;
            case Error e -> throw e;
            default -> throw new IllegalStateException("teardown: " + first.getMessage(), first);
        }
    }
}
