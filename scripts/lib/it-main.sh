# Sourced by scripts/bench-*.sh and scripts/soak.sh: runs a main class from integration/'s test classes.

# run_it_main ROOT TARGET JAVA_OPTS CLASS [ARGS...]
#   ROOT       the repository
#   TARGET     the build directory under integration/ (kept apart from target/, which make test uses)
#   JAVA_OPTS  extra JVM options, split on white space (e.g. -Djavakata.it.state=DIR)
#   CLASS      the main class, e.g. io.javakata.it.CriBench
# Builds the test classes and their test classpath into integration/TARGET, then runs CLASS with ARGS under
# $JAVA_HOME with -Djavakata.repo=ROOT and -Djavakata.it.work=integration/TARGET/it.
run_it_main() {
    local root="$1" target="$2" java_opts="$3" class="$4"
    shift 4
    local work="$root/integration/$target"
    (cd "$root" && mvn -q -B -pl integration -am -Djavakata.target="$target" test-compile \
        dependency:build-classpath -Dmdep.outputFile="$work/classpath.txt" -Dmdep.includeScope=test >/dev/null)
    # shellcheck disable=SC2086 # java_opts is a list of options
    "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED $java_opts \
        -Djavakata.repo="$root" -Djavakata.it.work="$work/it" \
        -cp "$work/test-classes:$(cat "$work/classpath.txt")" "$class" "$@"
}
