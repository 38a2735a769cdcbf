package io.javakata.shim.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The pod shim's part in the training run of its AOT cache (make-aot-cache.sh, JEP 483/514). A JVM finds in an AOT
 * cache the classes its training run loaded, and the training shim never sees a pod: it listens and is stopped. So,
 * before it writes shim.pid, it loads (without initialising) every class of {@value #CLASS_LIST}, the classes a real
 * pod's shim loads over its life, written by {@code scripts/make-serve-classlist.sh} from a CRI run. Without them a
 * pod's shim loaded, parsed and verified some 1,300 classes from the jar while containerd waited for its Create, and
 * kept each in its own metaspace (~5 MiB per shim) instead of the cache's pages that every shim maps.
 */
final class AotTraining {

    /** Set (to any value) by make-aot-cache.sh for its training run only. */
    static final String ENV = "JAVAKATA_AOT_TRAINING";
    /** One binary class name per line; a resource beside this class. */
    static final String CLASS_LIST = "serve-classes.txt";

    /** What a training run loaded, and the names it could not (a class renamed since the list was written). */
    record Result(int loaded, List<String> missing) {
    }

    private AotTraining() {
    }

    static boolean requested(Map<String, String> env) {
        return env.containsKey(ENV);
    }

    /** Loads every class of the list with {@code loader}, initialising none. */
    static Result loadListed(ClassLoader loader) throws IOException {
        int loaded = 0;
        List<String> missing = new ArrayList<>();
        for (String name : listed()) {
            try {
                Class.forName(name, false, loader);
                loaded++;
            } catch (ClassNotFoundException | LinkageError e) {
                missing.add(name);
            }
        }
        return new Result(loaded, List.copyOf(missing));
    }

    /** The list's class names, without blank lines and {@code #} comments. */
    static List<String> listed() throws IOException {
        try (InputStream in = AotTraining.class.getResourceAsStream(CLASS_LIST)) {
            if (in == null) {
                throw new IOException("resource " + CLASS_LIST + " is not in the shim's jar");
            }
            var reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            List<String> names = new ArrayList<>();
            for (String line; (line = reader.readLine()) != null; ) {
                String name = line.strip();
                if (!name.isEmpty() && !name.startsWith("#")) {
                    names.add(name);
                }
            }
            return names;
        }
    }
}
