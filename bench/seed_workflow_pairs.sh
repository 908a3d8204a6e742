#!/bin/sh
# Paired runs of seed_workflow and its Python peer (docs/benchmarks.md, "Seed workflow (issue
# 14)"): each round runs Tessera at 1 rank (2 threads, --bind-to none), the peer (dask X, then
# anndata 0.8 as is), Tessera at 2 ranks, the peer again; every run under /usr/bin/time -v, after
# waiting until no other benchmark runs, with the load average logged. Then the medians.
#
#   bench/seed_workflow_pairs.sh BUILD_DIR M N OUTDIR [ROUNDS] > log
#   bench/seed_workflow_pairs.sh --summary log      # the medians of a log again
set -eu

here=$(cd "$(dirname "$0")" && pwd)

summary() {
  /usr/bin/python3 - "$1" <<'EOF'
import re, statistics, sys
runs = {}  # label -> list of {key: value}
label = None
for line in open(sys.argv[1]):
    if line.startswith("=== run "):
        label = line.split()[2]
        cur = {}
        runs.setdefault(label, []).append(cur)
    elif label and line.startswith("concat+rowsum="):
        cur.update({k: float(v.rstrip("s")) for k, v in re.findall(r"(\S+)=(\S+)", line)})
    elif label and line.startswith("# ") and not line.startswith("# stage_clock"):
        words = line.split()
        tag = "" if "=" in words[1] else words[1] + "."
        for k, v in re.findall(r"(\S+)=([0-9]+\.?[0-9]*)(?:s|GiB)?(?=\s|$)", line):
            cur.setdefault(tag + k, float(v))
    elif label and "Maximum resident set size" in line:
        cur["time_v_maxrss_GiB"] = int(line.split()[-1]) / 2**20
labels = list(runs)
keys = []
for l in labels:
    for r in runs[l]:
        keys += [k for k in r if k not in keys]
print("| median [min–max] | " + " | ".join(f"{l} (n={len(runs[l])})" for l in labels) + " |")
print("|---" * (len(labels) + 1) + "|")
for k in keys:
    cells = []
    for l in labels:
        vals = [r[k] for r in runs[l] if k in r]
        cells.append(f"{statistics.median(vals):.3f} [{min(vals):.3f}–{max(vals):.3f}]" if vals else "—")
    print(f"| {k} | " + " | ".join(cells) + " |")
EOF
}

if [ "${1:-}" = "--summary" ]; then
  summary "$2"
  exit 0
fi

build=$1 m=$2 n=$3 out=$4 rounds=${5:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
log=$(mktemp)

wait_quiet() {
  while pgrep -f tessera_bench > /dev/null; do sleep 10; done
}

run() {  # label command...
  label=$1
  shift
  wait_quiet
  echo "=== run $label round=$round uptime: $(uptime)" > "$log.run"
  status=0
  /usr/bin/time -v "$@" >> "$log.run" 2> "$log.err" || status=$?
  grep -E "Maximum resident set size|Elapsed" "$log.err" >> "$log.run" || true
  echo "=== end uptime: $(uptime)" >> "$log.run"
  cat "$log.run" >> "$log"
  cat "$log.run"
  if [ "$status" -ne 0 ]; then
    cat "$log.err" >&2
    exit 1
  fi
}

round=1
while [ "$round" -le "$rounds" ]; do
  run tessera_np1 mpirun -np 1 --bind-to none "$build/bench/seed_workflow" "$m" "$n" "$out"
  run peer_dask /usr/bin/python3 -W ignore "$here/seed_workflow_peer.py" "$m" "$n" "$out" --mode dask
  run peer_anndata /usr/bin/python3 -W ignore "$here/seed_workflow_peer.py" "$m" "$n" "$out" --mode anndata
  run tessera_np2 mpirun -np 2 "$build/bench/seed_workflow" "$m" "$n" "$out"
  run peer_dask /usr/bin/python3 -W ignore "$here/seed_workflow_peer.py" "$m" "$n" "$out" --mode dask
  run peer_anndata /usr/bin/python3 -W ignore "$here/seed_workflow_peer.py" "$m" "$n" "$out" --mode anndata
  round=$((round + 1))
done
echo
summary "$log"
rm -f "$log" "$log.err" "$log.run"
