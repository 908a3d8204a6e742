#!/usr/bin/env bash
# Tessera's one entry point for a newcomer and for CI.
#   ./tessera.sh demo   install what is missing, build, run the walkthrough under mpirun
#   ./tessera.sh test   install what is missing, build, run the whole test suite (ctest)
# Also: setup (packages only), build (configure + build), bench (Google Benchmark suite).
# Environment: BUILD_DIR (default ./build), BUILD_TYPE (default Release), JOBS (default nproc).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=${BUILD_DIR:-$here/build}
build_type=${BUILD_TYPE:-Release}
jobs=${JOBS:-$(nproc)}

# Debian 12 packages, one per line: the build, the libraries, and the interop test peers.
packages=(
  cmake g++ make pkg-config git
  openmpi-bin libopenmpi-dev
  libboost-mpi-dev libboost-serialization-dev
  libhdf5-openmpi-dev libblosc-dev libzip-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev librandom123-dev libfmt-dev libspdlog-dev zlib1g-dev libzstd-dev
  graphviz
  python3-numpy python3-scipy python3-h5py python3-zarr python3-anndata python3-hdf5plugin
  python3-dask
  hdf5-filter-plugin-blosc-serial
  slurmctld slurmd slurm-client munge
)

# Open MPI refuses root unless told, and more ranks than cores need oversubscription.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader

log() { printf '[tessera.sh] %s\n' "$*" >&2; }

setup() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "all Debian packages present"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "missing packages (run as root, or install them): ${missing[*]}"
    exit 1
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  cmake -S "$here" -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" >/dev/null
  cmake --build "$build_dir" -j "$jobs"
}

run_tests() {
  cd "$build_dir"
  # The slurm label starts a one-host Slurm cluster (munged, slurmctld, slurmd), which needs root.
  local exclude=()
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: leaving out the Slurm tests (ctest -LE slurm)"
    exclude=(-LE slurm)
  fi
  ctest --output-on-failure -j "$jobs" "${exclude[@]}" "$@"
}

demo() {
  local np=${NP:-2}
  mpirun -np "$np" "$build_dir/cli/tessera" demo "$@"
}

bench() {
  "$build_dir/bench/tessera_bench" "$@"
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup) setup ;;
  build) setup; build ;;
  test) setup; build; run_tests "$@" ;;
  demo) setup; build; demo "$@" ;;
  bench) setup; build; bench "$@" ;;
  *) sed -n '2,6p' "$0"; exit 2 ;;
esac
