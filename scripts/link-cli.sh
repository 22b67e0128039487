#!/usr/bin/env bash
# Make the `dockyard` command installed at $1 (the virtualenv's) a command of the user's
# shell: link it into the first folder of PATH that can take it, ~/.local/bin or
# /usr/local/bin, and check that the shell finds it there. When none can, say the exact
# command to use instead. Messages go to stderr.
set -euo pipefail

target="$(readlink -f "$1")"

on_path() {
    case ":$PATH:" in *":$1:"*) return 0 ;; esac
    return 1
}

found_by_shell() {
    local found
    hash -r
    found="$(command -v dockyard 2>/dev/null)" || return 1
    [ "$(readlink -f "$found")" = "$target" ]
}

if ! found_by_shell; then
    for dir in "$HOME/.local/bin" /usr/local/bin; do
        on_path "$dir" || continue
        [ -d "$dir" ] || mkdir -p "$dir" 2>/dev/null || continue
        [ -w "$dir" ] || continue
        link="$dir/dockyard"
        # A dockyard that is not a link (installed otherwise) stays.
        if [ -e "$link" ] && [ ! -L "$link" ]; then
            continue
        fi
        ln -sfn "$target" "$link"
        found_by_shell && break
    done
fi

if found_by_shell; then
    echo "the dockyard command is ready: $(command -v dockyard) -> $target" >&2
else
    echo "note: no folder on your PATH takes the dockyard command; run it as" >&2
    echo "  $target" >&2
    echo "or first: export PATH=\"$(dirname "$target"):\$PATH\"" >&2
fi
