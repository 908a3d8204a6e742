#!/usr/bin/env bash
# One Slurm test: submits a deploy/slurm batch script to the cluster that cluster.sh brought up,
# with `sbatch --wait` at NP tasks, and checks what the job wrote against the reference anndata.
#
#   slurm_test.sh STATE_FILE WORK_DIR TESSERA_BIN CASE [NP]
#   CASE: convert | concat | demo | scaling | mpirun | bad-input | refuse-second
#
# Exit 0 when the check holds, 77 (ctest's skip) without root or Slurm, 1 otherwise. Every wait is
# bounded: a job that runs past TESSERA_SLURM_JOB_TIMEOUT seconds (default 100) is cancelled.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deploy=$(cd "$here/../../deploy/slurm" && pwd)
state=$1 work=$2 tessera=$3 case=$4 np=${5:-2}
python=${TESSERA_REFERENCE_PYTHON:-/usr/bin/python3}
check="$python $here/slurm_check.py"
job_timeout=${TESSERA_SLURM_JOB_TIMEOUT:-100}

fail() {
  echo "FAIL ($case, $np tasks): $*" >&2
  exit 1
}
if [ "$(id -u)" -ne 0 ] || ! command -v sbatch >/dev/null; then
  echo "skipped: needs root and Slurm (slurmctld slurmd slurm-client munge)"
  exit 77
fi
[ -e "$state" ] || fail "no cluster: $state is missing (did slurm.cluster_up pass?)"
# shellcheck disable=SC1090
. "$state"
[ -x "$tessera" ] || fail "no tessera binary at $tessera"

dir=$work/$case.np$np
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir" || exit 1
inputs=$work/inputs

# What every job sees (sbatch passes the environment on): the binary, and the shared-memory
# transport this machine's tests use.
export TESSERA_BIN=$tessera
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
unset TESSERA_THREADS TESSERA_LAUNCHER TESSERA_MPIRUN_ARGS

# submit LOG SCRIPT ARGS...: runs the batch script at $np tasks on one node, waiting at most
# $job_timeout s; sets $status to sbatch's exit status (the job's, with --wait).
submit() {
  local log=$1 script=$2
  shift 2
  timeout --kill-after=5 "$job_timeout" sbatch --wait --parsable --time=3 --nodes=1 \
    --ntasks="$np" --ntasks-per-node="$np" --cpus-per-task=1 --chdir="$dir" --output="$log" \
    "$deploy/$script" "$@" >"$dir/job.id" 2>"$dir/sbatch.err"
  status=$?
  local job
  job=$(cut -d';' -f1 "$dir/job.id" 2>/dev/null)
  if [ $status -eq 124 ] || [ $status -eq 137 ]; then
    [ -n "$job" ] && scancel "$job"
    fail "job ${job:-?} ($script) still running after ${job_timeout}s: cancelled"
  fi
  echo "job ${job:-?}: $script $* -> sbatch exit $status"
  [ -s "$dir/sbatch.err" ] && sed 's/^/  sbatch: /' "$dir/sbatch.err"
  [ -e "$log" ] && sed 's/^/  | /' "$log"
  return 0
}

# The job succeeded: exit status 0 and, since sbatch --wait also returns 0 for a job whose record
# is gone before it polls, the script's own last line.
expect_success() {
  local log=$1
  [ "$status" -eq 0 ] || fail "sbatch --wait returned $status"
  grep -q "tessera exited with status 0" "$log" || fail "no 'tessera exited with status 0' in $log"
}

case $case in
  convert)
    # h5ad -> zarr (with chunks and a compressor) at 2 tasks, zarr -> h5ad at 4.
    if [ "$np" -lt 4 ]; then
      submit convert.out tessera-convert.sbatch "$inputs/a.h5ad" a.zarr --chunks 16,8 --compressor zstd
      expect_success convert.out
      $check same a.zarr "$inputs/a.h5ad" || fail "a.zarr differs from a.h5ad"
    else
      submit convert.out tessera-convert.sbatch "$inputs/c.zarr" c.h5ad
      expect_success convert.out
      $check same c.h5ad "$inputs/c.zarr" || fail "c.h5ad differs from c.zarr"
    fi
    ;;
  mpirun)
    # The mpirun alternative the scripts show; as root it needs --allow-run-as-root.
    TESSERA_LAUNCHER=mpirun TESSERA_MPIRUN_ARGS=--allow-run-as-root \
      submit convert.out tessera-convert.sbatch "$inputs/b.h5ad" b.zarr
    expect_success convert.out
    $check same b.zarr "$inputs/b.h5ad" || fail "b.zarr differs from b.h5ad"
    ;;
  concat)
    # An inner join of two h5ad files at 2 tasks; at 4, an outer join with every option, one h5ad
    # on the command line and the rest (h5ad and zarr) from a list file.
    if [ "$np" -lt 4 ]; then
      submit concat.out tessera-concat.sbatch -o inner.h5ad "$inputs/a.h5ad" "$inputs/b.h5ad"
      expect_success concat.out
      $check concat inner.h5ad "$inputs/a.h5ad" "$inputs/b.h5ad" || fail "inner.h5ad differs from anndata.concat"
    else
      printf '%s\n' "$inputs/b.h5ad" "$inputs/c.zarr" >list.txt
      TESSERA_CONCAT_LIST=list.txt submit concat.out tessera-concat.sbatch -o all.zarr \
        "$inputs/a.h5ad" --join outer --index-unique - --label batch --keys a,b,c
      expect_success concat.out
      $check concat all.zarr "$inputs/a.h5ad" "$inputs/b.h5ad" "$inputs/c.zarr" --join outer \
        --index-unique - --label batch --keys a,b,c || fail "all.zarr differs from anndata.concat"
    fi
    ;;
  demo)
    "$tessera" demo --n-obs 300 --n-vars 40 --chunks 64,16 --out serial >serial.log 2>&1 ||
      fail "the one-process demo failed: $(tail -3 serial.log)"
    submit demo.out tessera-demo.sbatch --n-obs 300 --n-vars 40 --chunks 64,16
    expect_success demo.out
    job=$(cut -d';' -f1 job.id)
    $check demo "tessera-demo-$job" 300 40 serial || fail "the demo's files"
    # The ranks formed one MPI job of NP ranks (not NP one-rank jobs), and what rank 0 printed is
    # what one process prints, apart from that line, the job's own lines, the cells' timings (the
    # "(...)" at the end of a line) and the folder's name.
    grep -q "^tessera demo on $np rank(s)" demo.out || fail "the demo did not run on $np ranks"
    normalize() {
      grep -v '^tessera-demo: \|^tessera demo on \|pictures, tables and files in' "$1" |
        sed -E "s/  \([^)]*\)\$//"
    }
    normalize demo.out >demo.txt
    normalize serial.log >serial.txt
    diff -q serial.txt demo.txt >/dev/null || fail "the demo printed otherwise than one process: $(diff serial.txt demo.txt | head -5)"
    ;;
  scaling)
    steps="1:1"
    for ((r = 2; r < np; r *= 2)); do steps+=" 1:$r"; done
    steps+=" 1:$np"
    if [ "$np" -ge 4 ]; then
      # No input: the job writes one with the demo first.
      TESSERA_SCALING_SIZE=200,30 TESSERA_SCALING_REPEATS=2 TESSERA_SCALING_OUT=results \
        submit scaling.out tessera-scaling.sbatch
      input=results/input/adata_concat.h5ad
    else
      TESSERA_SCALING_REPEATS=2 TESSERA_SCALING_OUT=results \
        submit scaling.out tessera-scaling.sbatch "$inputs/a.h5ad"
      input=$inputs/a.h5ad
    fi
    expect_success scaling.out
    $check scaling results "$input" "$steps" || fail "the scaling tables"
    grep -q '^| Workload | Nodes | Ranks' scaling.out || fail "no table in the job's output"
    ;;
  bad-input)
    # A missing input and a file that is not HDF5: non-zero job exit, tessera's error in the output.
    submit missing.out tessera-convert.sbatch "$dir/no-such-file.h5ad" out.zarr
    [ "$status" -ne 0 ] || fail "a convert of a missing file exited 0"
    grep -q "tessera: error: .*no-such-file.h5ad" missing.out || fail "no error naming the file in missing.out"
    grep -q "tessera exited with status [1-9]" missing.out || fail "no non-zero status line in missing.out"
    [ ! -e out.zarr ] || fail "a failed convert left out.zarr behind"
    head -c 4096 /dev/urandom >garbage.h5ad
    submit garbage.out tessera-concat.sbatch -o all.h5ad "$inputs/a.h5ad" garbage.h5ad
    [ "$status" -ne 0 ] || fail "a concat with a broken file exited 0"
    grep -q "tessera: error: .*garbage.h5ad" garbage.out || fail "no error naming the file in garbage.out"
    [ ! -e all.h5ad ] || fail "a failed concat left all.h5ad behind"
    TESSERA_SCALING_WORKLOADS=reduce TESSERA_SCALING_REPEATS=1 TESSERA_SCALING_WARMUP=0 \
      TESSERA_SCALING_OUT=results submit scaling.out tessera-scaling.sbatch "$dir/no-such-file.h5ad"
    [ "$status" -ne 0 ] || fail "a scaling job on a missing file exited 0"
    grep -q "tessera: error: .*no-such-file.h5ad" scaling.out || fail "no error naming the file in scaling.out"
    grep -q "| reduce | 1 | 1 | 1 | 0 | failed |" scaling.out || fail "the table does not show the failure"
    ;;
  refuse-second)
    # A second cluster on the same ports must not start while this one answers.
    if "$here/cluster.sh" up "$dir/second.env" >second.log 2>&1; then
      "$here/cluster.sh" down "$dir/second.env"
      fail "a second cluster started while the first was up"
    fi
    cat second.log
    grep -q "already answers\|in use" second.log || fail "no reason given: $(cat second.log)"
    scontrol ping | grep -q 'is UP' || fail "the first cluster no longer answers"
    ;;
  *) fail "unknown case" ;;
esac
echo "PASS ($case, $np tasks)"
