#!/usr/bin/env bash
# Prints the directory holding promtool, fetching it first when needed:
# promtool from PATH, or the one in Debian's prometheus package, unpacked
# (never installed, never started) into the test bed's cache. The unit
# tests put it on PATH to check deploy/prometheus/alerts.yaml, run its rule
# unit tests (alerts_test.yaml) and parse the dashboard's queries. Prints
# nothing, and exits 0, where neither is to be had (the tests then say so).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if p=$(command -v promtool 2>/dev/null); then
  dirname "$p"
  exit 0
fi
dir=$CACHE_DIR/prometheus-deb
if [[ ! -x $dir/usr/bin/promtool ]]; then
  command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 || exit 0
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/floe-promtool.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    log "promtool: apt-get download prometheus failed; alert rules are not checked by promtool"
    exit 0
  fi
  rm -rf "$dir.tmp"
  dpkg -x "$tmp"/prometheus_*.deb "$dir.tmp"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi
printf '%s\n' "$dir/usr/bin"
