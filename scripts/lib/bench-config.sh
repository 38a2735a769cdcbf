# Sourced by scripts/bench-*.sh: shim configurations for benchmark handlers, derived from a base configuration.toml.

# toml_with_key SRC TABLE KEY VALUE: SRC (a shim configuration.toml, possibly missing) with [TABLE] KEY = VALUE
# (VALUE as TOML writes it: true, 300, "serial"); any KEY the table had gives way, a missing table is appended.
toml_with_key() {
    local src="$1" table="$2" key="$3" value="$4"
    { [[ -r "$src" ]] && cat "$src"; true; } | awk -v table="[$table]" -v line="$key = $value" -v key="$key" '
        /^[ \t]*\[/ { current = $0; gsub(/[ \t]/, "", current) }
        current == table && $0 ~ "^[ \t]*" key "[ \t]*=" { next }
        { print }
        current == table && /^[ \t]*\[/ && !done { print line; done = 1 }
        END { if (!done) printf "\n%s\n%s\n", table, line }
    '
}

# toml_state_dir FILE: the [runtime] state_dir FILE sets, or the shim's default /run/javakata.
toml_state_dir() {
    local dir=""
    [[ -r "$1" ]] && dir=$(awk '
        /^[ \t]*\[/ { current = $0; gsub(/[ \t]/, "", current) }
        current == "[runtime]" && /^[ \t]*state_dir[ \t]*=/ { sub(/^[^=]*=[ \t]*"/, ""); sub(/".*/, ""); print; exit }
    ' "$1")
    echo "${dir:-/run/javakata}"
}

# shim_accepts JAR FILE: whether the shim in JAR loads configuration FILE (its `env` command says "loaded" : true;
# a shim that does not know a table or key refuses the file).
shim_accepts() {
    "$JAVA_HOME/bin/java" -jar "$1" env --config "$2" 2>/dev/null | grep -q '"loaded" : true'
}
