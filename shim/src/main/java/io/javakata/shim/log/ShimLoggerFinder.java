package io.javakata.shim.log;

import java.lang.System.Logger;

/**
 * The shim's {@link System.LoggerFinder}, found through {@code META-INF/services}: every {@code System.Logger} of the
 * process writes {@link LogLine}s according to {@link ShimLogging}'s current settings.
 */
public final class ShimLoggerFinder extends System.LoggerFinder {

    @Override
    public Logger getLogger(String name, Module module) {
        return new ShimLogger(name);
    }
}
