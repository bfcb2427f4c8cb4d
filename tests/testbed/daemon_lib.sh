# shellcheck shell=bash
# Shared by start_daemons.sh and stop_daemons.sh (sourced, not run).

# pid from a pid file if that process is alive and is the named program, else empty
live_pid() {
  local file=$1 name=$2 pid
  [ -s "$file" ] || return 0
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] || return 0
  # alive, not a zombie (pid 1 here reaps orphans late), and the right program
  local stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null || true)
  case $stat in
    "$pid ($name) Z"*|"$pid ($name) X"*) return 0 ;;
    "$pid ($name) "*) echo "$pid" ;;
  esac
}
