#!/usr/bin/env bash
# Runs every check of the collection (or the stages named as arguments), prints
# each stage's output, then one summary line. Exits non-zero if any stage failed.
# Expects `make setup` to have run (the Makefile's `test` target does that).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$ROOT/build/collections"
STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=(lint sanity unit integration molecule)
LOG_DIR=$ROOT/build/test-logs
mkdir -p "$LOG_DIR"

# The run leaves the user's home alone (checked at the end): what the tools keep
# goes under build/home. ANSIBLE_HOME moves ~/.ansible (tmp/, galaxy_cache/,
# and the collections ansible-lint installs and molecule's scenario directories,
# through ansible-compat); the modules run on this machine, so their remote_tmp
# too; the ssh connection's control sockets (to the real Debian VMs) default to
# ~/.ansible/cp whatever ANSIBLE_HOME says, so they are moved on their own;
# XDG_CACHE_HOME moves ~/.cache (pip, ansible-lint's schemas, ...).
# ansible-test uses ~/.ansible/test and antsibull-docs ~/antsibull.log whatever
# the environment: they run with HOME=build/home.
TEST_HOME=$ROOT/build/home
export ANSIBLE_HOME="$TEST_HOME/.ansible"
export ANSIBLE_LOCAL_TEMP="$ANSIBLE_HOME/tmp" ANSIBLE_REMOTE_TMP="$ANSIBLE_HOME/remote_tmp"
export ANSIBLE_SSH_CONTROL_PATH_DIR="$ANSIBLE_HOME/cp"
export XDG_CACHE_HOME="$TEST_HOME/.cache" XDG_DATA_HOME="$TEST_HOME/.local/share" XDG_STATE_HOME="$TEST_HOME/.local/state"
mkdir -p "$ANSIBLE_HOME" "$XDG_CACHE_HOME"
tests/check_home_untouched.sh snapshot "$LOG_DIR/home-before.txt"
declare -a SUMMARY=()
FAILED=0

run_stage() {  # name, command...
    local name=$1; shift
    local start=$SECONDS log="$LOG_DIR/$name.log"
    echo "=== $name: $*"
    if "$@" 2>&1 | tee "$log"; then
        SUMMARY+=("$name ok ($((SECONDS - start))s$(detail "$name" "$log"))")
    else
        SUMMARY+=("$name FAILED ($((SECONDS - start))s, log: build/test-logs/$name.log)")
        FAILED=1
    fi
}

detail() {  # a short figure from a stage's log: pytest counts and the like
    local counts
    counts=$(grep -Eo '[0-9]+ passed[^=]*' "$2" | tail -n 1 | sed 's/ in [0-9.]*s.*//')
    [ -n "$counts" ] && echo ", $counts"
}

# Runs through run_stage ("$@"), which shellcheck cannot follow.
# shellcheck disable=SC2317
sanity() {
    # ansible-test only runs from .../ansible_collections/<namespace>/<name>/ (a
    # real directory, not a symlink), so check a copy of the tracked files; it
    # lives outside this checkout, where git would hide the (ignored) copy.
    local dest=${TMPDIR:-/tmp}/virtops-sanity/ansible_collections/virtops/libvirt
    rm -rf "$dest" && mkdir -p "$dest"
    git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$dest/"
    # ansible-test bootstraps pip in its venvs with a script from a host that is
    # not reachable here; its documented cache takes our ensurepip stand-in.
    local pip_version
    pip_version=$(python -c 'import ansible_test._internal.python_requirements as r, inspect, re;
print(re.search(r"pip=.([0-9.]+).", inspect.getsource(r)).group(1))')
    mkdir -p "$TEST_HOME/.ansible/test/cache"
    cp tests/sanity/get_pip_bootstrap.py "$TEST_HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
    # A test whose program is missing is skipped with a warning only: fail instead.
    local output rc
    output=$(mktemp)
    (cd "$dest" && HOME=$TEST_HOME ansible-test sanity --color no --venv --python 3.11) 2>&1 | tee "$output"
    rc=${PIPESTATUS[0]}
    if grep -q 'Required program .* not found' "$output"; then
        echo "sanity: a test was skipped for a missing program; tests/testbed/install_system.sh installs them"
        rc=1
    fi
    rm -f "$output"
    return "$rc"
}

# Runs through run_stage ("$@"), which shellcheck cannot follow.
# shellcheck disable=SC2317
mypy_plugins() {
    # mypy resolves ansible_collections.virtops.libvirt through a tree like Ansible's.
    local tree=$ROOT/build/mypy
    mkdir -p "$tree/ansible_collections/virtops"
    ln -sfn "$ROOT" "$tree/ansible_collections/virtops/libvirt"
    (cd "$tree" && MYPYPATH=$tree mypy --config-file "$ROOT/mypy.ini" --cache-dir "$ROOT/build/mypy-cache" \
        -p ansible_collections.virtops.libvirt.plugins)
}

for stage in "${STAGES[@]}"; do
    case $stage in
        lint)
            run_stage ruff ruff check plugins tests
            run_stage format ruff format --check --diff plugins tests
            run_stage mypy mypy_plugins
            run_stage ansible-lint ansible-lint --profile production --nocolor
            # Only this collection on the path: the docs of the ~100 collections of
            # the `ansible` package (there for the benchmark) take minutes to dump.
            # antsibull-docs logs to ~/antsibull.log: HOME=build/home puts it there.
            run_stage docs env ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false HOME="$TEST_HOME" \
                antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs=all .
            run_stage changelog antsibull-changelog lint
            ;;
        sanity) run_stage sanity sanity ;;
        unit) run_stage unit pytest -q -p no:cacheprovider tests/unit ;;
        integration) run_stage integration pytest -v --durations=15 -p no:cacheprovider tests/integration ;;
        molecule) run_stage molecule env NO_COLOR=1 molecule test --all ;;
        *) echo "unknown stage: $stage"; exit 2 ;;
    esac
done

run_stage home tests/check_home_untouched.sh compare "$LOG_DIR/home-before.txt"

echo
echo "=== summary: ${SUMMARY[*]}" | sed 's/) /); /g'
if [ $FAILED -eq 0 ]; then
    echo "make test: all ${#SUMMARY[@]} stages passed"
else
    echo "make test: FAILED"
fi
exit $FAILED
