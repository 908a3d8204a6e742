#!/usr/bin/python3
"""The Python peers of tessera_bench_io: h5py and zarr-python writing and reading the same array.

Started by rank 0 of tessera_bench_io (bench/io_bench.cpp; docs/benchmarks.md, "I/O") as

  /usr/bin/python3 bench/peers/io_peer.py --input X.raw --shape 16384 8192 --chunks 4096 4096

The input is the benchmark's array X as raw float64 chunks (chunk-major: chunk (i, j) of the
regular grid at offset (i * chunk_cols_count + j) * chunk_bytes, each chunk C-ordered), which is
how the C++ raw-disk peer lays it out. It is loaded once, before any timer starts; the script then
answers commands on stdin, one JSON line each on stdout, so that the benchmark can time the peer
in the same iterations as Tessera:

  write LIB OUT    {"write_s": s, "sync_s": s}  write X and layers/a, fsync every file and folder,
                                                remove; write_s until the writer returned (data in
                                                the page cache), durable = write_s + sync_s
  prepare LIB OUT  the same, keeping the file (for reads)
  read LIB OUT     {"read_s": s}                after `sync` and dropping the page cache (root)
  remove OUT, quit

LIB is h5py (two chunked datasets, like Tessera's uncompressed h5ad) or zarr (zarr-python 2.x,
Blosc lz4, clevel 5, byte shuffle: Tessera's default), both with the same chunks as Tessera, and
layers/a is X itself, as in the seed. Every read is checked against the input, outside the timer.
Errors come back as {"error": "..."}.
"""

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np


def load_input(path, shape, chunks):
    rows, cols = shape
    crows, ccols = chunks
    if rows % crows or cols % ccols:
        sys.exit("io_peer: the shape must be a whole number of chunks")
    x = np.empty((rows, cols), dtype="<f8")
    per_chunk = crows * ccols
    nc = cols // ccols
    with open(path, "rb") as f:
        for i in range(rows // crows):
            for j in range(nc):
                f.seek((i * nc + j) * per_chunk * 8)
                block = np.fromfile(f, dtype="<f8", count=per_chunk)
                if block.size != per_chunk:
                    sys.exit("io_peer: the input file is too short")
                x[i * crows:(i + 1) * crows, j * ccols:(j + 1) * ccols] = block.reshape(crows, ccols)
    return x


def fsync_tree(path):
    """fsync every file and folder below path (and path itself), as the C++ side does."""
    if os.path.isdir(path):
        for folder, _, files in os.walk(path):
            for name in files:
                fd = os.open(os.path.join(folder, name), os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            fd = os.open(folder, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
    else:
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    parent = os.path.dirname(os.path.abspath(path))
    fd = os.open(parent, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def write_h5py(x, out, chunks):
    import h5py
    with h5py.File(out, "w") as f:
        f.create_dataset("X", data=x, chunks=tuple(chunks))
        f.create_group("layers").create_dataset("a", data=x, chunks=tuple(chunks))


def read_h5py(out):
    import h5py
    with h5py.File(out, "r") as f:
        return f["X"][...], f["layers/a"][...]


def write_zarr(x, out, chunks):
    import zarr
    from numcodecs import Blosc
    compressor = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)
    root = zarr.group(store=zarr.DirectoryStore(out), overwrite=True)
    root.create_dataset("X", data=x, chunks=tuple(chunks), compressor=compressor)
    root.create_group("layers").create_dataset("a", data=x, chunks=tuple(chunks),
                                               compressor=compressor)


def read_zarr(out):
    import zarr
    root = zarr.open_group(zarr.DirectoryStore(out), mode="r")
    return root["X"][...], root["layers"]["a"][...]


def serve(x, chunks):
    """Answers one command per line of stdin with one JSON line on stdout."""
    writers = {"h5py": write_h5py, "zarr": write_zarr}
    readers = {"h5py": read_h5py, "zarr": read_zarr}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                break
            if words[0] == "remove":
                remove(words[1])
                result = {"ok": True}
            elif words[0] in ("write", "prepare"):
                library, out = words[1], words[2]
                remove(out)
                t0 = time.perf_counter()
                writers[library](x, out, chunks)
                t1 = time.perf_counter()
                fsync_tree(out)
                t2 = time.perf_counter()
                result = {"write_s": t1 - t0, "sync_s": t2 - t1}
                if words[0] == "write":
                    remove(out)
            elif words[0] == "read":
                library, out = words[1], words[2]
                drop_caches()
                t0 = time.perf_counter()
                a, b = readers[library](out)
                t1 = time.perf_counter()
                if not (np.array_equal(a, x) and np.array_equal(b, x)):
                    raise RuntimeError("what was read differs from what was written")
                del a, b
                result = {"read_s": t1 - t0}
            else:
                raise RuntimeError("unknown command " + words[0])
        except Exception as e:  # reported to the benchmark, which skips with the message
            result = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--shape", type=int, nargs=2, required=True)
    parser.add_argument("--chunks", type=int, nargs=2, required=True)
    args = parser.parse_args()
    x = load_input(args.input, args.shape, args.chunks)
    # Imports happen here, outside every timer (the first import of zarr takes a noticeable time).
    import h5py  # noqa: F401
    import zarr  # noqa: F401
    serve(x, args.chunks)


if __name__ == "__main__":
    main()
