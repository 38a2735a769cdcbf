# Sourced by the scripts that start javakata pods with a configuration whose VM templates are on (the default): at
# exit they remove the templates their pods built, unless the state directory had templates before (a node's cache,
# which stays). Usage: templates_note_before CONFIG early; templates_remove_new in the exit handler.

# shellcheck source=toml.sh
source "$(dirname "${BASH_SOURCE[0]}")/toml.sh"

# templates_note_before CONFIG: records whether CONFIG's <state_dir>/templates exists now.
templates_note_before() {
    JAVAKATA_TEMPLATES_DIR="$(toml_state_dir "$1")/templates"
    JAVAKATA_TEMPLATES_KEEP=false
    if [[ -d "$JAVAKATA_TEMPLATES_DIR" ]]; then
        JAVAKATA_TEMPLATES_KEEP=true
    fi
}

# templates_remove_new: removes that templates directory unless templates_note_before found it; fails only if rm does.
templates_remove_new() {
    if [[ -n "${JAVAKATA_TEMPLATES_DIR:-}" ]] && ! "${JAVAKATA_TEMPLATES_KEEP:-true}"; then
        rm -rf "$JAVAKATA_TEMPLATES_DIR"
    fi
}
