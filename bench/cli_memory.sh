#!/usr/bin/env bash
# Peak memory of the tessera command on a file of the seed's size, against the file's size and
# against the reference doing the same job (anndata 0.8 reads the whole file into memory), all
# measured in the same run with GNU time's maximum resident set size (per rank under mpirun).
#
#   bench/cli_memory.sh BUILD_DIR [WORK_DIR]
#
# The input is the demo's adata.h5ad (16384 × 8192 float64 X and one layer: 2 GiB of arrays).
# Results are described in docs/benchmarks.md ("Command line: memory while streaming").
set -euo pipefail
build=${1:?usage: cli_memory.sh BUILD_DIR [WORK_DIR]}
work=${2:-$(mktemp -d /tmp/tessera-cli-memory.XXXXXX)}
tessera=$build/cli/tessera
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

echo "making the input (tessera demo, full size) ..." >&2
"$tessera" --no-progress demo --out "$work/demo" >/dev/null
input=$work/demo/adata.h5ad
rm -rf "$work/demo/adata.zarr"
input_mib=$(( $(stat -c %s "$input") / 1048576 ))

# Peak RSS in MiB of a command; under mpirun, the largest over the ranks.
peak() {
  local log=$work/time.log
  rm -f "$log"
  "$@" >/dev/null
  awk '{ if ($1 > m) m = $1 } END { printf "%d", m / 1024 }' "$log"
}
timed() { /usr/bin/time -a -o "$work/time.log" -f %M "$@"; }

printf '| job | ranks | peak RSS per rank (MiB) | input (MiB) | RSS / input |\n|---|---|---|---|---|\n'
row() {
  local job=$1 ranks=$2 mib=$3
  awk -v j="$job" -v r="$ranks" -v m="$mib" -v i="$input_mib" \
    'BEGIN { printf "| %s | %s | %d | %d | %.3f |\n", j, r, m, i, m / i }'
}
mib=$(peak timed "$tessera" --no-progress convert "$input" "$work/out.zarr" --compressor lz4)
row "tessera convert h5ad → zarr (lz4)" 1 "$mib"
rm -rf "$work/out.zarr"
mib=$(peak mpirun -np 2 /usr/bin/time -a -o "$work/time.log" -f %M "$tessera" --no-progress \
  convert "$input" "$work/out.zarr" --compressor lz4)
row "tessera convert h5ad → zarr (lz4)" 2 "$mib"
rm -rf "$work/out.zarr"
mib=$(peak timed "$tessera" --no-progress concat "$input" "$input" -o "$work/cat.h5ad" --index-unique -)
row "tessera concat (2 × input) → h5ad" 1 "$mib"
rm -f "$work/cat.h5ad"
mib=$(peak timed "$tessera" --no-progress reduce "$input" --op sum --axis 0)
row "tessera reduce sum axis 0" 1 "$mib"
mib=$(peak timed /usr/bin/python3 -c "import anndata, sys; anndata.read_h5ad(sys.argv[1]).write_zarr(sys.argv[2])" \
  "$input" "$work/ref.zarr")
row "anndata: read_h5ad + write_zarr (peer)" 1 "$mib"
