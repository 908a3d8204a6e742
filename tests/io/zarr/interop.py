#!/usr/bin/python3
"""Interop of Tessera's Zarr v2 backend with the reference, zarr-python 2.13 / numcodecs 0.11.

usage: interop.py TOOL   (TOOL: the zarr_interop_tool binary)

1. zarr-python writes arrays of every dtype (both byte orders), every codec, fill values with
   missing chunks, Fortran order, '/' separators, strings (vlen-utf8, fixed <U / >U, |S) and
   attributes; `TOOL dump` reads them and prints values; we compare.
2. `TOOL write` writes its arrays; zarr-python reads them and we compare values, dtypes, shapes,
   chunks, compressor configs, the vlen-utf8 filter and attributes.
Exit status 0 when everything matches; every mismatch is printed.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import zarr
from numcodecs import GZip, Blosc, VLenUTF8, Zlib, Zstd

FAILURES = []
CHECKS = [0]


def check(cond, what):
    CHECKS[0] += 1
    if not cond:
        FAILURES.append(what)
        print("MISMATCH:", what, file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# The test pattern of zarr_test_util.hpp, element i (row-major flat index).

def pattern(dtype, n):
    dtype = np.dtype(dtype)
    i = np.arange(n, dtype=np.int64)
    if dtype.kind == "b":
        return (i * 7) % 3 == 0
    if dtype.kind == "f":
        v = (i.astype(np.float64) - 40.0) * 0.3125 + 1e-3 * (i % 7).astype(np.float64)
        v[i % 19 == 4] = -np.inf
        v[i % 17 == 3] = np.inf
        v[i % 13 == 5] = np.nan
        return v.astype(dtype)
    info = np.iinfo(dtype)
    with np.errstate(over="ignore"):
        v = (i * 37 - 500).astype(dtype)  # wraps like static_cast in C++20
    v[i % 11 == 1] = info.max
    v[i % 11 == 2] = info.min
    return v


SHAPES = {0: ((), ()), 1: ((23,), (5,)), 2: ((13, 7), (4, 3))}


def expected_compressor(name):
    base, _, shuffle = name.partition("_s")
    if base == "none":
        return None
    if base == "zlib":
        return {"id": "zlib", "level": 4}
    if base == "zstd-plain":
        return {"id": "zstd", "level": 3}
    cname = "zlib" if base == "blosc-zlib" else base
    return {"id": "blosc", "cname": cname, "clevel": 5,
            "shuffle": int(shuffle) if shuffle else 1, "blocksize": 0}


# ---------------------------------------------------------------------------------------------
# Comparing a dump of the C++ tool with numpy arrays

def same_values(dumped, arr, what):
    arr = np.asarray(arr)
    flat = arr.reshape(-1)
    if len(dumped) != flat.size:
        check(False, f"{what}: {len(dumped)} values, expected {flat.size}")
        return
    if arr.dtype.kind == "f":
        got = np.array([float(s) for s in dumped], dtype=np.float64)
        exp = flat.astype(np.float64)
        check(np.array_equal(got, exp, equal_nan=True), f"{what}: values differ\n {got}\n {exp}")
    elif arr.dtype.kind == "b":
        check([int(s) for s in dumped] == [int(x) for x in flat], f"{what}: values differ")
    elif arr.dtype.kind in "iu":
        check([int(s) for s in dumped] == [int(x) for x in flat], f"{what}: values differ")
    else:
        check(list(dumped) == [str(x) for x in flat], f"{what}: strings differ {dumped} {list(flat)}")


def same_json(a, b):
    """Attributes: NaN (dumped by nlohmann as null) equals None; bools only equal bools."""
    if isinstance(a, float) and math.isnan(a):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(b, float) and math.isnan(b):
        return a is None
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


# ---------------------------------------------------------------------------------------------
# 1. zarr-python writes, C++ reads

def python_writes(path):
    """Writes the store; returns {array path: (numpy array of expected values, chunks)}."""
    root = zarr.open_group(path, mode="w")
    expect = {}

    def put(group, name, data, chunks, **kw):
        z = group.create_dataset(name, shape=data.shape, chunks=chunks, dtype=data.dtype, **kw)
        z[...] = data
        expect[f"{group.path and '/' + group.path}/{name}"] = (data, chunks)
        return z

    dtypes = ["|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f4", "<f8",
              ">i2", ">i4", ">i8", ">u2", ">u4", ">u8", ">f4", ">f8"]
    codecs = [None, Blosc("lz4", 5, Blosc.SHUFFLE), Blosc("lz4", 1, Blosc.NOSHUFFLE),
              Blosc("lz4", 5, Blosc.BITSHUFFLE), Blosc("lz4", 5, Blosc.AUTOSHUFFLE),
              Blosc("lz4hc", 5, Blosc.SHUFFLE), Blosc("blosclz", 5, Blosc.SHUFFLE),
              Blosc("zstd", 3, Blosc.BITSHUFFLE), Blosc("zlib", 5, Blosc.SHUFFLE),
              Blosc("lz4", 5, Blosc.SHUFFLE, blocksize=256), Zlib(1), GZip(5), Zstd(3)]
    g = root.create_group("numbers")
    k = 0
    for dt in dtypes:
        for rank in (0, 1, 2):
            shape, chunks = SHAPES[rank]
            data = pattern(np.dtype(dt).newbyteorder("=") if dt[0] != "|" else dt,
                           int(np.prod(shape))).reshape(shape).astype(dt)
            comp = codecs[k % len(codecs)]
            k += 1
            name = f"{dt.replace('<', 'le_').replace('>', 'be_').replace('|', '')}__{rank}"
            put(g, name, data, chunks, compressor=comp)
    g = root.create_group("codecs")
    for j, comp in enumerate(codecs):
        data = pattern("<f8", 13 * 7).reshape(13, 7)
        put(g, f"c{j}", data, (4, 3), compressor=comp)
        data = pattern("<i2", 13 * 7).reshape(13, 7)
        put(g, f"i{j}", data, (4, 3), compressor=comp)

    g = root.create_group("layouts")
    # Fortran order, '/' separator, big chunks, one chunk per element.
    data = pattern("<f8", 6 * 5).reshape(6, 5)
    put(g, "fortran", data, (4, 2), order="F", compressor=Blosc("lz4"))
    data = pattern("<i4", 6 * 5).reshape(6, 5)
    put(g, "slash", data, (4, 2), dimension_separator="/", compressor=Zlib(1))
    put(g, "onechunk", data, (100, 100))
    put(g, "tiny", pattern("<u2", 6).reshape(2, 3), (1, 1))

    g = root.create_group("fill")
    # Missing chunks read as fill_value; NaN fill; partial writes.
    z = g.create_dataset("nanfill", shape=(7, 5), chunks=(3, 2), dtype="<f4", fill_value=np.nan)
    z[1:3, 1:4] = 2.5
    full = np.full((7, 5), np.nan, dtype="<f4")
    full[1:3, 1:4] = 2.5
    expect["/fill/nanfill"] = (full, (3, 2))
    z = g.create_dataset("intfill", shape=(10,), chunks=(3,), dtype=">i8", fill_value=-42)
    z[4:5] = 7
    full = np.full((10,), -42, dtype=">i8")
    full[4] = 7
    expect["/fill/intfill"] = (full, (3,))
    z = g.create_dataset("boolfill", shape=(5,), chunks=(2,), dtype="|b1", fill_value=True)
    z[0] = False
    expect["/fill/boolfill"] = (np.array([False, True, True, True, True]), (2,))
    z = g.create_dataset("inffill", shape=(4,), chunks=(2,), dtype="<f8", fill_value=-np.inf)
    expect["/fill/inffill"] = (np.full((4,), -np.inf), (2,))
    g.create_dataset("empty", shape=(0, 3), chunks=(2, 3), dtype="<f8")
    expect["/fill/empty"] = (np.zeros((0, 3)), (2, 3))

    g = root.create_group("strings")
    words = np.array(["", "a", "héllo", "€uro", "😀 emoji", "x" * 300, "tab\tnew\nline", "nul\x00in"],
                     dtype=object)
    z = g.create_dataset("vlen", shape=words.shape, chunks=(3,), dtype=object,
                         object_codec=VLenUTF8(), compressor=Blosc("zstd"))
    z[...] = words
    expect["/strings/vlen"] = (words, (3,))
    mat = np.array([[f"r{i}c{j}é" for j in range(4)] for i in range(5)], dtype=object)
    z = g.create_dataset("vlen2d", shape=mat.shape, chunks=(2, 3), dtype=object,
                         object_codec=VLenUTF8(), compressor=Zlib(1))
    z[...] = mat
    expect["/strings/vlen2d"] = (mat, (2, 3))
    z = g.create_dataset("vlen0d", shape=(), dtype=object, object_codec=VLenUTF8())
    z[...] = "scalar é"
    expect["/strings/vlen0d"] = (np.array("scalar é", dtype=object), ())
    z = g.create_dataset("vlenF", shape=mat.shape, chunks=(2, 3), dtype=object,
                         object_codec=VLenUTF8(), order="F")
    z[...] = mat
    expect["/strings/vlenF"] = (mat, (2, 3))
    # Older writers: fixed-width unicode (anndata < 0.8 stored scalar strings as "<U{n}").
    fixed = np.array(["ab", "héllo", "", "😀x"], dtype="<U5")
    put(g, "fixedU", fixed, (3,), compressor=Zstd(1))
    put(g, "fixedUbe", fixed.astype(">U5"), (4,))
    put(g, "fixedU0d", np.array("scalar", dtype="<U6"), ())
    put(g, "bytesS", np.array([b"abc", b"", b"xyzw"], dtype="|S4"), (2,))

    root.attrs["encoding-type"] = "anndata"
    root.attrs["encoding-version"] = "0.1.0"
    root.attrs["list"] = [1, 2, 3]
    root.attrs["nested"] = {"k": [1.5, "s"], "b": False}
    root.attrs["nan"] = float("nan")
    root.attrs["unicode"] = "ünï"
    root["numbers/le_f8__2"].attrs["encoding-type"] = "array"
    return expect


def check_python_to_cpp(tool, tmp):
    path = os.path.join(tmp, "from_python.zarr")
    expect = python_writes(path)
    out = subprocess.run([tool, "dump", path], capture_output=True, text=True)
    check(out.returncode == 0, f"dump failed: {out.stderr}")
    if out.returncode != 0:
        return
    dump = json.loads(out.stdout)
    arrays = dump["arrays"]
    check(set(arrays) == set(expect), f"array sets differ: {sorted(set(arrays) ^ set(expect))}")
    for name, (data, chunks) in expect.items():
        if name not in arrays:
            continue
        a = arrays[name]
        if "error" in a:
            check(False, f"{name}: C++ error {a['error']}")
            continue
        check(tuple(a["shape"]) == tuple(data.shape), f"{name}: shape {a['shape']} vs {data.shape}")
        check(tuple(a["chunks"]) == tuple(chunks), f"{name}: chunks {a['chunks']} vs {chunks}")
        if data.dtype.kind in "OUS":
            check(a["dtype"] == "string", f"{name}: dtype {a['dtype']}")
            values = [x.decode() if isinstance(x, bytes) else str(x) for x in data.reshape(-1)]
            check(a["values"] == values, f"{name}: strings {a['values']} vs {values}")
        else:
            check(a["dtype"] == data.dtype.newbyteorder("=").name,
                  f"{name}: dtype {a['dtype']} vs {data.dtype}")
            same_values(a["values"], data, name)
            check(a.get("boxes_agree", True), f"{name}: sub-box reads disagree with the whole")
    root = zarr.open_group(path, mode="r")
    check(same_json(dict(root.attrs), dump["groups"]["/"]), f"root attrs {dump['groups']['/']}")
    check(arrays["/numbers/le_f8__2"]["attrs"] == {"encoding-type": "array"}, "array attrs")
    check(set(dump["groups"]) == {"/", "/numbers", "/codecs", "/layouts", "/fill", "/strings"},
          f"groups {sorted(dump['groups'])}")


# ---------------------------------------------------------------------------------------------
# 2. C++ writes, zarr-python reads

def check_cpp_to_python(tool, tmp):
    path = os.path.join(tmp, "from_cpp.zarr")
    out = subprocess.run([tool, "write", path], capture_output=True, text=True)
    check(out.returncode == 0, f"write failed: {out.stderr}")
    if out.returncode != 0:
        return
    root = zarr.open_group(path, mode="r")
    count = 0
    for group_name in ("numbers", "codecs"):
        for name, z in root[group_name].arrays():
            dtype_name, rank, comp = name.split("__")
            rank = int(rank)
            shape, chunks = SHAPES[rank]
            dtype = np.dtype(dtype_name)
            check(z.dtype == dtype, f"{group_name}/{name}: dtype {z.dtype} vs {dtype}")
            check(z.dtype.str == dtype.str, f"{group_name}/{name}: dtype string {z.dtype.str}")
            check(z.shape == shape, f"{group_name}/{name}: shape {z.shape}")
            check(z.chunks == (chunks if rank else ()), f"{group_name}/{name}: chunks {z.chunks}")
            got_comp = z.compressor.get_config() if z.compressor is not None else None
            check(got_comp == expected_compressor(comp),
                  f"{group_name}/{name}: compressor {got_comp} vs {expected_compressor(comp)}")
            exp = pattern(dtype, int(np.prod(shape))).reshape(shape)
            got = z[...]
            check(got.dtype == dtype and np.array_equal(got, exp, equal_nan=(dtype.kind == "f")),
                  f"{group_name}/{name}: values\n{got}\n{exp}")
            count += 1
    check(count == 11 * 3 + 11, f"{count} numeric arrays")
    got = root["boxes/float32__2__lz4"][...]
    check(np.array_equal(got, pattern("<f4", 91).reshape(13, 7), equal_nan=True), "irregular boxes")
    got = root["boxes/partial"][...]
    check(got.tolist() == [0, 0, 0, 7, 8, 9, 0, 0, 0, 0], f"partial {got}")
    check(root["boxes/partial"].fill_value == 0, "fill value")

    words = ["" if i % 5 == 0 else f"w{i}" + ("é€😀" if i % 3 == 0 else "") for i in range(35)]
    vec = root["strings/vec"]
    check(vec.dtype == object and [f.get_config() for f in vec.filters] == [{"id": "vlen-utf8"}],
          f"vec dtype {vec.dtype} filters {vec.filters}")
    check(list(vec[...]) == words, f"vec {list(vec[...])}")
    mat = root["strings/mat"]
    check(mat.shape == (5, 7) and mat[...].tolist() == np.array(words, dtype=object).reshape(5, 7).tolist(),
          "mat")
    check(mat.compressor.get_config() == {"id": "zlib", "level": 4}, "mat compressor")
    check(root["strings/scalar"].shape == () and root["strings/scalar"][...] == "héllo", "scalar")
    check(root["strings/empty"].shape == (0,), "empty strings")

    attrs = dict(root.attrs)
    check(attrs.get("encoding-type") == "anndata" and attrs.get("encoding-version") == "0.1.0",
          f"attrs {attrs}")
    check(attrs.get("ints") == [1, -2, 3], "ints attr")
    check(attrs.get("nested") == {"a": 1.5, "b": ["x", "y"], "c": True}, "nested attr")
    check(isinstance(attrs.get("nan"), float) and math.isnan(attrs["nan"]), f"nan attr {attrs.get('nan')}")
    check(attrs.get("unicode") == "été", "unicode attr")
    check(dict(root["strings/vec"].attrs) == {"ordered": False}, "array attrs")
    check(sorted(root.group_keys()) == ["boxes", "codecs", "numbers", "strings"],
          f"groups {sorted(root.group_keys())}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    tool = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="tessera-zarr-interop-") as tmp:
        check_python_to_cpp(tool, tmp)
        check_cpp_to_python(tool, tmp)
    if FAILURES:
        print(f"{len(FAILURES)} mismatches", file=sys.stderr)
        return 1
    print(f"zarr interop: all {CHECKS[0]} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
