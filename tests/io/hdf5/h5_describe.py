"""What h5py reads from an HDF5 file, in the JSON form io_hdf5_interop_tool prints, and a strict
comparison (bools, ints, floats and strings must match in kind, not only in value)."""

import json
import math
import subprocess

import h5py
import hdf5plugin  # noqa: F401  (registers Blosc and Zstd for h5py)
import numpy as np


def scalar(v):
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8")
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    raise TypeError(f"unexpected value {v!r} of type {type(v)}")


def dtype_name(dt):
    if h5py.check_string_dtype(dt) is not None or dt.kind in ("S", "U", "O"):
        return "str"
    return np.dtype(dt.name).name  # byte order dropped: '>i4' is int32


def attributes(obj):
    out = {}
    for key in obj.attrs:
        v = obj.attrs[key]
        if isinstance(v, h5py.Empty):
            out[key] = None
        elif isinstance(v, np.void) or (isinstance(v, np.ndarray) and v.dtype.names):
            continue  # compound: no JSON form, Tessera skips it
        elif isinstance(v, np.ndarray):
            out[key] = [scalar(x) for x in v.reshape(-1)]
        else:
            out[key] = scalar(v)
    return out


def filters(ds):
    plist = ds.id.get_create_plist()
    out = []
    for i in range(plist.get_nfilters()):
        code, _flags, values, _name = plist.get_filter(i)
        out.append([int(code), [int(x) for x in values]])
    return out


def filter_available(code):
    """Whether this h5py can decode filter `code` (Debian ships no plugin for Zstd, 32015)."""
    return bool(h5py.h5z.filter_avail(code))


def dataset(ds):
    if ds.dtype.names is not None or ds.ndim > 2:
        return {"kind": "array", "unsupported": True}
    node = {
        "kind": "array",
        "attrs": attributes(ds),
        "shape": list(ds.shape),
        "chunks": list(ds.chunks or []),
        "dtype": dtype_name(ds.dtype),
        "filters": filters(ds),
    }
    missing = [code for code, _ in node["filters"] if not filter_available(code)]
    if missing:
        node["values"] = f"h5py lacks filter {missing[0]}"
        return node
    if node["dtype"] == "str":
        values = ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) else ds[()]
    else:
        values = ds[()]
    node["values"] = [scalar(x) for x in np.asarray(values, dtype=object).reshape(-1)]
    return node


def describe(path):
    out = {}
    with h5py.File(path, "r") as f:

        def visit(name, group):
            out[name] = {"kind": "group", "attrs": attributes(group), "children": list(group)}
            for key in group:
                child_name = ("" if name == "/" else name) + "/" + key
                child = group.get(key)
                if isinstance(child, h5py.Group):
                    visit(child_name, child)
                elif isinstance(child, h5py.Dataset):
                    out[child_name] = dataset(child)

        visit("/", f)
    return out


def run_tool(tool, *args):
    result = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{tool} {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout)


def strict_equal(a, b):
    """Equal values of equal JSON kinds (True is not 1, 2.0 is not 2)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    return a == b


def compare(expected, actual, ignore=()):
    """Messages for every object whose description differs (keys in `ignore` are skipped)."""
    problems = []
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            problems.append(f"{path}: missing from the reader's view")
            continue
        if path not in expected:
            problems.append(f"{path}: not expected, read as {actual[path]}")
            continue
        e = {k: v for k, v in expected[path].items() if k not in ignore}
        a = {k: v for k, v in actual[path].items() if k not in ignore}
        for side in (e, a):  # values h5py could not decode are not compared
            if isinstance(side.get("values"), str):
                e.pop("values", None)
                a.pop("values", None)
        for key in sorted(set(e) | set(a)):
            if not strict_equal(e.get(key), a.get(key)):
                problems.append(f"{path} {key}: expected {e.get(key)!r}, got {a.get(key)!r}")
    return problems
