# Sourced by scripts/bench-*.sh: shim configurations for benchmark handlers, derived from a base configuration.toml.

# shellcheck source=toml.sh
source "$(dirname "${BASH_SOURCE[0]}")/toml.sh"

# shim_accepts JAR FILE: whether the shim in JAR loads configuration FILE (its `env` command says "loaded" : true;
# a shim that does not know a table or key refuses the file).
shim_accepts() {
    "$JAVA_HOME/bin/java" -jar "$1" env --config "$2" 2>/dev/null | grep -q '"loaded" : true'
}
