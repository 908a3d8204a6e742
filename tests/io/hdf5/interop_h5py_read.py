"""h5py (and anndata 0.8) write; Tessera reads. Every dtype and byte order at 0-2 dimensions,
strings (variable and fixed length, UTF-8 and ASCII), attributes of every kind, gzip, shuffle,
fletcher32, LZF, Blosc (each compressor and shuffle) and Zstd, creation-ordered groups, and objects
Tessera must refuse with an error (3-D, compound). Usage: interop_h5py_read.py TOOL WORKDIR"""

import os
import sys
import warnings

import h5py
import hdf5plugin
import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h5_describe import compare, describe, filter_available, run_tool  # noqa: E402

DTYPES = ["bool", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8",
          ">i2", ">i4", ">u8", ">f4", ">f8"]
SHAPES = [(), (6,), (3, 4), (0,), (2, 0)]


def make(dt, shape, rng):
    dt = np.dtype(dt)
    if dt.kind == "b":
        return rng.random(shape) > 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        data = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt.newbyteorder("="))
        flat = data.reshape(-1)
        if flat.size >= 3:
            flat[0], flat[1], flat[2] = info.min, info.max, 0
        return data.astype(dt)
    data = (rng.standard_normal(shape) * 1000).astype(dt)
    flat = data.reshape(-1)
    if flat.size >= 6:
        flat[0], flat[1], flat[2] = np.inf, -np.inf, np.nan
        flat[3], flat[4] = np.finfo(dt).max, np.finfo(dt).tiny
    return data


def write_fixture(path):
    rng = np.random.default_rng(7)
    with h5py.File(path, "w") as f:
        g = f.create_group("dtypes")
        for dt in DTYPES:
            label = dt.replace(">", "be_")
            for shape in SHAPES:
                name = f"{label}_{len(shape)}d" + ("_empty" if 0 in shape else "")
                g.create_dataset(name, data=make(dt, shape, rng))
        colors = h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="i1")
        g.create_dataset("enum_i1", data=np.array([0, 2, 1, 2], dtype="i1"), dtype=colors)

        s = f.create_group("strings")
        s["scalar"] = "a scalar string"
        s.create_dataset("vlen", data=np.array(["", "plain", "Grüße", "日本語"], dtype=object),
                         dtype=h5py.string_dtype())
        s.create_dataset("vlen_2d", data=np.array([["a", "b"], ["c", "dé"]], dtype=object),
                         dtype=h5py.string_dtype())
        s.create_dataset("vlen_empty", shape=(0,), dtype=h5py.string_dtype())
        s.create_dataset("ascii", data=np.array([b"x", b"yz"], dtype=object),
                         dtype=h5py.string_dtype("ascii"))
        s.create_dataset("fixed", data=np.array([b"ab", b"cde", b""], dtype="S5"))
        s.create_dataset("fixed_scalar", data=np.bytes_(b"fixed!"))
        s.create_dataset("gzip", data=np.array(["x"] * 50 + ["y"] * 50, dtype=object),
                         dtype=h5py.string_dtype(), compression="gzip", chunks=(32,))

        c = f.create_group("compressed")
        base = (rng.standard_normal((100, 7)) * 100).astype("f4")
        ints = rng.integers(-1000, 1000, size=(100, 7)).astype("i4")
        c.create_dataset("gzip", data=base, chunks=(16, 7), compression="gzip", compression_opts=6)
        c.create_dataset("gzip_shuffle", data=ints, chunks=(16, 7), compression="gzip", shuffle=True)
        c.create_dataset("fletcher32", data=ints, chunks=(30, 4), fletcher32=True)
        c.create_dataset("lzf", data=base, chunks=(16, 7), compression="lzf")
        c.create_dataset("lzf_ints", data=np.arange(5000, dtype="i8"), chunks=(1000,), compression="lzf")
        for cname in ["blosclz", "lz4", "lz4hc", "zlib", "zstd"]:
            for shuffle in [0, 1, 2]:
                c.create_dataset(f"blosc_{cname}_{shuffle}", data=base if shuffle != 1 else ints,
                                 chunks=(16, 7),
                                 **hdf5plugin.Blosc(cname=cname, clevel=5, shuffle=shuffle))
        c.create_dataset("blosc_bool", data=rng.random(300) > 0.3, chunks=(64,),
                         **hdf5plugin.Blosc(cname="lz4"))
        c.create_dataset("blosc_f8_1d", data=rng.standard_normal(1000), chunks=(128,),
                         **hdf5plugin.Blosc(cname="zstd", clevel=9, shuffle=2))
        if filter_available(32015):  # no Debian plugin for hdf5plugin's Zstd
            c.create_dataset("zstd", data=ints, chunks=(16, 7), **hdf5plugin.Zstd(clevel=5))

        a = f.create_group("attrs")
        a.attrs["str"] = "dataframe"
        a.attrs["unicode"] = "Grüße 世界"
        a.attrs["int"] = 42
        a.attrs["float"] = 0.1
        a.attrs["bool"] = True
        a.attrs["np_bool"] = np.bool_(False)
        a.attrs["int32"] = np.int32(-3)
        a.attrs["uint64"] = np.uint64(2**64 - 1)
        a.attrs["float32"] = np.float32(1.5)
        a.attrs["bools"] = np.array([True, False, True])
        a.attrs["ints"] = np.array([1, 2, 3])
        a.attrs["shape"] = (30, 7)
        a.attrs["floats"] = np.array([1.5, -2.5], dtype="f4")
        a.attrs["strings"] = ["b", "a", "ünï"]
        a.attrs["empty"] = np.array([])
        a.attrs["empty_strings"] = np.array([], dtype=h5py.string_dtype())
        a.attrs["null"] = h5py.Empty("f")
        a.attrs["fixed"] = np.bytes_(b"fixed")
        a.attrs["fixed_array"] = np.array([b"x", b"yy"], dtype="S2")
        a.attrs["matrix"] = np.arange(6).reshape(2, 3)
        a.attrs["compound"] = np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
        d = a.create_dataset("x", data=np.arange(3, dtype="i2"))
        d.attrs["encoding-type"] = "array"
        d.attrs["ordered"] = np.bool_(True)

        o = f.create_group("ordered", track_order=True)
        for name in ["zeta", "alpha", "mid"]:
            o.create_group(name)
        o.create_dataset("beta", data=[1])
        n = f.create_group("name_order")
        for name in ["zeta", "alpha", "Mid", "_index"]:
            n.create_group(name)

        u = f.create_group("unsupported")
        u.create_dataset("cube", data=np.zeros((2, 2, 2)))
        u.create_dataset("compound", data=np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]))


def write_anndata(path):
    import anndata
    import pandas as pd

    rng = np.random.default_rng(3)
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical(["a", "b", "a", "c", "b"]),
            "count": np.arange(5, dtype="i8"),
            "score": rng.standard_normal(5),
            "flag": np.array([True, False, True, True, False]),
            "name": [f"n{i}" for i in range(5)],
        },
        index=[f"cell_{i}" for i in range(5)],
    )
    var = pd.DataFrame(index=[f"gene_{i}" for i in range(4)])
    adata = anndata.AnnData(X=rng.standard_normal((5, 4)).astype("f4"), obs=obs, var=var)
    adata.obsm["X_pca"] = rng.standard_normal((5, 2))
    adata.uns["title"] = "demo"
    adata.uns["params"] = {"k": 3, "alpha": 0.5, "names": ["x", "y"], "on": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata.write_h5ad(path, compression="gzip")


def main():
    tool, workdir = sys.argv[1], sys.argv[2]
    if not filter_available(32001):
        print("h5py cannot load Blosc (Debian: apt-get install hdf5-filter-plugin-blosc-serial)")
        return 77
    os.makedirs(workdir, exist_ok=True)
    problems = []

    path = os.path.join(workdir, "h5py_fixture.h5")
    write_fixture(path)
    expected = describe(path)
    actual = run_tool(tool, "dump", path)
    for p, node in list(expected.items()):
        if node.get("unsupported"):
            got = actual.pop(p, {})
            if "error" not in got or path not in got["error"]:
                problems.append(f"{p}: expected an error naming the file, got {got}")
            del expected[p]
        elif node["kind"] == "array" and node["dtype"] == "float16":
            node["dtype"] = "float32"  # Tessera widens half floats
    problems += compare(expected, actual, ignore=("filters",))

    h5ad = os.path.join(workdir, "anndata.h5ad")
    write_anndata(h5ad)
    problems += compare(describe(h5ad), run_tool(tool, "dump", h5ad), ignore=("filters",))

    for p in problems:
        print("MISMATCH", p)
    print(f"{len(problems)} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
