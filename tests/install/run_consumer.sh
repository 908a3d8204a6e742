#!/usr/bin/env bash
# Installs the built tree into a fresh prefix, configures and builds tests/install/consumer
# against it with find_package(Tessera), and runs it without a launcher and under mpirun -np 2.
#   run_consumer.sh BUILD_DIR SOURCE_DIR WORK_DIR MPIEXEC
set -euo pipefail
build=$1 source=$2 work=$3 mpiexec=$4
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$source/tests/install/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" -j 2 >/dev/null
test -x "$work/prefix/bin/tessera"
"$work/prefix/bin/tessera" --version
"$work/build/consumer" "$work/serial.h5ad"
"$mpiexec" -np 2 --oversubscribe "$work/build/consumer" "$work/np2.h5ad"
# The installed command reads what the application wrote.
"$work/prefix/bin/tessera" info "$work/np2.h5ad" | head -1
rm -rf "$work"
