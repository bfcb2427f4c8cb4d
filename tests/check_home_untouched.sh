#!/usr/bin/env bash
# A test run must leave the user's home alone: tests/run_all.sh points Ansible,
# ansible-lint, molecule, ansible-test and the caches of other tools at build/home.
#
#   tests/check_home_untouched.sh snapshot FILE   list what the watched directories hold now
#   tests/check_home_untouched.sh compare FILE    fail if anything was added, changed or removed since
#
# Each entry is listed with its type, size and mtime, so a file created and removed
# again still shows as a changed directory. Another program writing there at the
# same time (an ansible run in another terminal) shows up too.
set -euo pipefail

WATCHED=(.ansible .cache .local/share .local/state)

listing() {
    local dir
    {
        # the home's own entries (a new ~/antsibull.log, ...), and the size and
        # mtime of its plain files that are not dotfiles (logs)
        find "$HOME" -mindepth 1 -maxdepth 1 -printf '%y - - %p\n'
        find "$HOME" -mindepth 1 -maxdepth 1 -type f ! -name '.*' -printf '%y %s %T@ %p\n'
        for dir in "${WATCHED[@]}"; do
            if [ -e "$HOME/$dir" ]; then
                find "$HOME/$dir" -printf '%y %s %T@ %p\n' 2>/dev/null || true
            else
                echo "absent - - $HOME/$dir"
            fi
        done
    } | LC_ALL=C sort -k4
}

case ${1:-} in
    snapshot)
        [ $# -eq 2 ] || { echo "usage: $0 snapshot FILE" >&2; exit 2; }
        listing >"$2"
        ;;
    compare)
        [ $# -eq 2 ] || { echo "usage: $0 compare FILE" >&2; exit 2; }
        if changes=$(listing | diff "$2" -); then
            echo "home untouched: no entry of $HOME and nothing in ${WATCHED[*]/#/$HOME/} was added, changed or removed"
        else
            echo "the test run wrote into $HOME (< before, > after):"
            echo "$changes"
            exit 1
        fi
        ;;
    *)
        echo "usage: $0 snapshot|compare FILE" >&2
        exit 2
        ;;
esac
