#!/usr/bin/env bash
# The runs of `make bench-longrun` on a test bed that is up: 64 partitions
# with table maintenance off (off.yaml) and, when maintenance.yaml exists
# beside this script, with it merged into the table's config; then the same
# at 1,000 partitions with fewer commits. Then the chart of every run.
# LONGRUN_RUNS (e.g. "p64-maintenance p1000-maintenance") picks runs.
#
# usage: e2e/benchlongrun/run.sh FLOE_BINARY [benchlongrun flags...]
# The chart goes to $LONGRUN_CHART (default docs/benchmarks/longrun.png).
# Extra flags apply to every run and come last, so they override the
# defaults below (e.g. -commits 500, -results DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
floe=$1
shift
results=/tmp/floe-longrun
for ((i = 1; i <= $#; i++)); do
  [[ ${!i} == -results ]] && { j=$((i + 1)); results=${!j}; }
  [[ ${!i} == -results=* ]] && results=${!i#-results=}
done
maint=e2e/benchlongrun/maintenance.yaml
off=e2e/benchlongrun/off.yaml
runs=${LONGRUN_RUNS:-p64-off p64-maintenance p1000-off p1000-maintenance}
mkdir -p "$results"
go build -o "$results/benchlongrun" ./e2e/benchlongrun

csvs=()
longrun() { # NAME FLAGS...
  local name=$1
  shift
  [[ " $runs " == *" $name "* ]] || return 0
  "$results/benchlongrun" -floe "$floe" -name "$name" "$@"
  csvs+=("$results/$name.csv")
}
longrun p64-off -partitions 64 -commits 2000 -table-config "$off" "$@"
if [[ -f $maint ]]; then
  longrun p64-maintenance -partitions 64 -commits 2000 -table-config "$maint" "$@"
fi
longrun p1000-off -partitions 1000 -commits 300 -table-config "$off" "$@"
if [[ -f $maint ]]; then
  # Five times the commits of the run without maintenance: the cost has to
  # level off once expiry holds the snapshots at their bound (~125 here).
  longrun p1000-maintenance -partitions 1000 -commits 1500 -table-config "$maint" "$@"
fi

python=$(sed -n 's/^E2E_PYTHON=//p' e2e/testbed/.run/env)
"$python" e2e/benchlongrun/chart.py -o "${LONGRUN_CHART:-docs/benchmarks/longrun.png}" "${csvs[@]}"
