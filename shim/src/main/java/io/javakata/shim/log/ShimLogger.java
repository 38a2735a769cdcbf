package io.javakata.shim.log;

import java.lang.System.Logger;
import java.text.MessageFormat;
import java.util.ResourceBundle;
import java.util.function.Supplier;

/** One named logger; reads {@link ShimLogging#settings()} on every event, so a later configure() applies at once. */
final class ShimLogger implements Logger {

    private final String name;
    private final String shortName;

    ShimLogger(String name) {
        this.name = name;
        this.shortName = name.substring(name.lastIndexOf('.') + 1);
    }

    @Override
    public String getName() {
        return name;
    }

    @Override
    public boolean isLoggable(Level level) {
        return ShimLogging.settings().enabled(level);
    }

    @Override
    public void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
        write(level, localize(bundle, msg), thrown);
    }

    @Override
    public void log(Level level, ResourceBundle bundle, String format, Object... params) {
        String pattern = localize(bundle, format);
        String msg = params == null || params.length == 0 ? pattern : MessageFormat.format(pattern, params);
        write(level, msg, null);
    }

    @Override
    public void log(Level level, Supplier<String> msgSupplier) {
        if (isLoggable(level)) {
            write(level, msgSupplier.get(), null);
        }
    }

    private void write(Level level, String msg, Throwable thrown) {
        ShimLogging.Settings s = ShimLogging.settings();
        if (!s.enabled(level)) {
            return;
        }
        String line = LogLine.format(s.clock().instant(), level, msg, s.namespace(), s.id(), shortName, thrown);
        // One print call per line: PrintStream locks per call, so lines from threads never interleave.
        s.sink().print(line + "\n");
        s.sink().flush();
    }

    private static String localize(ResourceBundle bundle, String key) {
        if (bundle == null || key == null || !bundle.containsKey(key)) {
            return key;
        }
        return bundle.getString(key);
    }
}
