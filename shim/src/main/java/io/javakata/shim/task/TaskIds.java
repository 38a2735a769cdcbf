package io.javakata.shim.task;

import io.javakata.ttrpc.Errors;
import java.util.regex.Pattern;

/**
 * The shim's own check of every container, sandbox and exec id before it names a path, a map key or a
 * guest request. The rule is containerd's ({@code pkg/identifiers}): alphanumerics, with single
 * '.', '_' or '-' between them, at most 76 characters. containerd applies it too, but the shim trusts no
 * id: "..", "/" or an empty id would otherwise turn {@code mounts/<id>} into another path.
 */
public final class TaskIds {

    static final int MAX_LENGTH = 76;
    private static final Pattern RULE = Pattern.compile("[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*");

    private TaskIds() {
    }

    /** {@code id} if it is a valid container or sandbox id; INVALID_ARGUMENT naming it otherwise. */
    public static String container(String id) {
        return check("container id", id);
    }

    /** {@code execId} if it is empty (the init) or a valid exec id; INVALID_ARGUMENT otherwise. */
    public static String exec(String execId) {
        return execId.isEmpty() ? execId : check("exec id", execId);
    }

    /** {@code id} if valid for {@code what} ("sandbox id (annotation ...)"); INVALID_ARGUMENT otherwise. */
    public static String check(String what, String id) {
        if (id.length() > MAX_LENGTH || !RULE.matcher(id).matches()) {
            throw Errors.invalidArgument("%s \"%s\" is invalid: it must be 1 to %d characters, letters and digits "
                    + "with single '.', '_' or '-' between them (containerd's identifier rule)",
                    what, printable(id), MAX_LENGTH);
        }
        return id;
    }

    /** The id for an error message: control characters escaped, at most 100 characters. */
    private static String printable(String id) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < id.length() && out.length() < 100; i++) {
            char c = id.charAt(i);
            out.append(c < 0x20 || c == 0x7f || c == '"' ? String.format("\\x%02x", (int) c) : String.valueOf(c));
        }
        return id.length() > 100 ? out + "..." : out.toString();
    }
}
