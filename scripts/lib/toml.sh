# Sourced by scripts/containerd.sh, scripts/bench-*.sh and scripts/lib/templates.sh: reads and edits of a shim
# configuration.toml.

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
