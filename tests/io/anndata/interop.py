#!/usr/bin/python3
"""Interop of Tessera's h5ad/zarr layer with the reference anndata 0.8 (Debian: h5py, zarr 2.13,
hdf5plugin, scipy, pandas; only /usr/bin/python3 has them).

    /usr/bin/python3 interop.py TESSERA_IO_ROUNDTRIP --part {serial,mpi,compression,atomic,all}
                               [--workdir DIR] [--keep]

Reference objects covering every encoding are written with anndata to .h5ad and .zarr;
tessera_io_roundtrip converts each into both formats (lazily and eagerly, without mpirun and
under mpirun at 2, 3 and 4 ranks, with and without compression); every result is read back with
anndata and compared element by element with anndata's reading of the source file: X, obs/var
(index, columns, dtypes, categories, orderedness, missing values, nullable arrays), uns
(recursively, dtypes included), obsm/varm/obsp/varp/layers, and raw (X, var, varm). The `atomic`
part checks that a write failing part-way (TESSERA_TEST_FAIL_WRITE) leaves nothing at the target.

Every failure names the run (object, direction, mode, ranks, compressor) and the element that
differs; the exit status is 1 when anything failed.
"""
import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import anndata as ad
import h5py
import hdf5plugin  # noqa: F401  (registers the Blosc and Zstd HDF5 filters for reading)
import numpy as np
import pandas as pd
import scipy.sparse as sp
import zarr
from pandas.core.arrays.masked import BaseMaskedArray

warnings.simplefilter("ignore")

MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OMPI_MCA_pml": "ob1",
    "OMPI_MCA_btl": "self,vader",
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
}
RUN_TIMEOUT = 45  # seconds for one tessera_io_roundtrip launch (normally < 3 s); longer is a hang
FORMATS = ("h5ad", "zarr")
SMALL_CHUNKS = "64"  # --chunk-bytes: many lazy chunks, so that every rank owns some

# ---------------------------------------------------------------------------------------------
# Reference objects


def unicode_names(prefix, n):
    special = ["ünï", "a b", 'q"uote', "it's", "日本語", "tab\tname", "back\\slash", "emoji 🧬"]
    return [special[i] if i < len(special) else f"{prefix}{i}" for i in range(n)]


def random_csr(rng, shape, density, dtype=np.float32):
    m = sp.random(shape[0], shape[1], density=density, format="csr", dtype=np.float64, random_state=rng)
    m.data = (m.data * 100).astype(dtype) + np.asarray(1, dtype=dtype)  # no explicit zeros
    return m


def full_object():
    """Dense float32 X and every other slot and column kind."""
    rng = np.random.default_rng(1)
    n, m = 9, 5
    obs_names = unicode_names("cell", n)
    var_names = unicode_names("gene", m)[::-1]
    obs = pd.DataFrame(
        {
            "float64": np.array([0.5, np.nan, -1.25, 3e100, np.inf, -np.inf, 0.0, -0.0, 7.0]),
            "float32": np.arange(n, dtype=np.float32) / 3,
            "int64": np.array([2**40, -(2**40), 0, 1, -1, 5, 6, 7, 8], dtype=np.int64),
            "int32": np.arange(n, dtype=np.int32) - 4,
            "int8": np.arange(n, dtype=np.int8) - 4,
            "uint8": np.arange(n, dtype=np.uint8) * 20,
            "uint64": np.arange(n, dtype=np.uint64) + np.uint64(2**63),
            "bool": np.array([True, False] * 4 + [True]),
            "str": [f"s{i} ü" for i in range(n)],  # unique: stays a string column
            "cat": pd.Categorical(["a", "b", None, "a", "c", "b", None, "a", "c"]),
            "cat_ordered": pd.Categorical(
                ["low", "high", None, "mid", "low", None, "high", "mid", "low"],
                categories=["low", "mid", "high"],
                ordered=True,
            ),
            "cat_int": pd.Categorical([10, 20, None, 30, 10, 20, 30, None, 10]),
            "cat_float": pd.Categorical([0.5, 1.5, 0.5, None, 1.5, 0.5, 0.5, 1.5, 0.5]),
            "cat_unused": pd.Categorical(["x", "y"] * 4 + ["x"], categories=["x", "y", "z"]),
            "cat_all_missing": pd.Categorical([None] * n, categories=["p", "q"]),
            "nint": pd.array([1, None, 3, -4, None, 6, 7, 8, 2**40], dtype="Int64"),
            "nint32": pd.array([None, 2, 3, None, 5, 6, 7, 8, 9], dtype="Int32"),
            "nint_full": pd.array(list(range(n)), dtype="Int64"),
            "nbool": pd.array([True, None, False, True, None, False, True, True, False], dtype="boolean"),
            "ünï": np.linspace(0, 1, n),
            "a b": np.arange(n, dtype=np.int16),
            'say "hi"': pd.Categorical(["ä", "ö", "ü"] * 3),
            "it's": [f"ünïcode {i}" for i in range(n)],
        },
        index=obs_names,
    )
    var = pd.DataFrame(
        {
            "highly_variable": np.array([True, False, True, False, True]),
            "mean": rng.random(m),
            "kind": pd.Categorical(["x", "y", "x", None, "y"]),
        },
        index=pd.Index(var_names, name="gene ids"),
    )
    X = (rng.random((n, m)) * 10).astype(np.float32)
    a = ad.AnnData(X, obs=obs, var=var)
    a.uns.update(
        {
            "int8": np.int8(-3),
            "int16": np.int16(-300),
            "int32": np.int32(70000),
            "int64": np.int64(2**40),
            "uint8": np.uint8(200),
            "uint32": np.uint32(4000000000),
            "uint64": np.uint64(2**63 + 5),
            "float32": np.float32(1.5),
            "float64": np.float64(-0.25),
            "nan": np.float64(np.nan),
            "pyint": 7,
            "pyfloat": 2.5,
            "bool": True,
            "np_bool": np.bool_(False),
            "string": "hello ünï",
            "empty_string": "",
            "arr_f32": np.linspace(0, 1, 4, dtype=np.float32),
            "arr_i64": np.arange(-3, 3, dtype=np.int64),
            "arr_u16": np.arange(5, dtype=np.uint16),
            "arr_bool": np.array([True, False, True]),
            "arr_2d_f64": rng.random((3, 4)),
            "arr_2d_i32": np.arange(6, dtype=np.int32).reshape(2, 3),
            "arr_empty": np.zeros(0, dtype=np.float64),
            "arr_one": np.array([42], dtype=np.int32),
            "strings": np.array(["a", "ü", "", "long string with spaces"], dtype=object),
            "strings_2d": np.array([["a", "b"], ["ç", "d"]], dtype=object),
            "nested": {
                "level2": {"level3": {"x": 1, "s": "deep", "arr": np.arange(3, dtype=np.int8)}, "y": 2.0},
                "empty": {},
                "clé ünï": "valeur",
            },
            "df": pd.DataFrame(
                {
                    "f": [1.0, 2.5, np.nan],
                    "i": np.array([1, 2, 3], dtype=np.int32),
                    "c": pd.Categorical(["u", "v", "u"]),
                    "s": ["p", "q", "r"],
                },
                index=["r0", "r1", "r ü"],
            ),
            "sparse": random_csr(rng, (4, 6), 0.4, np.float64),
            "a b 'c'": "key with spaces and quotes",
        }
    )
    a.obsm["X_pca"] = rng.random((n, 3))
    a.obsm["X_ümap"] = rng.random((n, 2)).astype(np.float32)
    a.obsm["ints"] = np.arange(2 * n, dtype=np.int32).reshape(n, 2)
    a.obsm["sparse"] = random_csr(rng, (n, 6), 0.3)
    a.varm["loadings"] = rng.random((m, 3))
    a.varm["sparse"] = random_csr(rng, (m, 4), 0.5, np.float64)
    a.obsp["distances"] = random_csr(rng, (n, n), 0.3, np.float64)
    a.obsp["connectivities"] = random_csr(rng, (n, n), 0.2)
    a.obsp["dense"] = rng.random((n, n)).astype(np.float32)
    a.varp["corr"] = random_csr(rng, (m, m), 0.4, np.float64)
    a.varp["dense"] = rng.random((m, m))
    a.layers["counts"] = (rng.random((n, m)) * 50).astype(np.int32)
    a.layers["ünï layer"] = rng.random((n, m))
    a.layers["sparse"] = random_csr(rng, (n, m), 0.4)
    # raw with more vars than X: the usual adata.raw = adata before selecting genes.
    extra = m + 3
    big = ad.AnnData(
        (rng.random((n, extra)) * 5).astype(np.float32),
        obs=pd.DataFrame(index=obs_names),
        var=pd.DataFrame(
            {"gene_type": pd.Categorical(["coding", "lnc", None, "coding", "lnc", "coding", "lnc", None]),
             "score": rng.random(extra)},
            index=var_names + ["extra1", "extra ü", "extra3"],
        ),
    )
    big.varm["raw_loadings"] = rng.random((extra, 2))
    a.raw = big
    return a


def dense_float64():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((11, 7))
    X[0, 0], X[1, 2], X[3, 3] = np.nan, np.inf, -np.inf
    a = ad.AnnData(X)
    a.obs["group"] = pd.Categorical(["a", "b"] * 5 + ["a"])
    return a


def dense_ints():
    rng = np.random.default_rng(3)
    a = ad.AnnData(rng.integers(-(2**40), 2**40, size=(8, 6), dtype=np.int64))
    a.layers["i32"] = rng.integers(-1000, 1000, size=(8, 6), dtype=np.int32)
    a.layers["u8"] = rng.integers(0, 255, size=(8, 6), dtype=np.uint8)
    a.layers["i16"] = rng.integers(-300, 300, size=(8, 6), dtype=np.int16)
    a.layers["u64"] = rng.integers(0, 2**62, size=(8, 6), dtype=np.uint64)
    a.layers["f32"] = rng.random((8, 6)).astype(np.float32)
    a.layers["bool"] = rng.random((8, 6)) > 0.5
    return a


def csr_int32():
    rng = np.random.default_rng(4)
    n, m = 40, 13
    X = random_csr(rng, (n, m), 0.2)
    X[5, :] = 0  # empty rows, in the middle and at the end
    X[n - 1, :] = 0
    X.eliminate_zeros()
    a = ad.AnnData(X)
    a.obs["batch"] = pd.Categorical(rng.choice(["b1", "b2", "b3"], n))
    a.obs_names = [f"c{i}" for i in range(n)]
    a.var_names = [f"g{j}" for j in range(m)]
    a.layers["sparse_f64"] = random_csr(rng, (n, m), 0.1, np.float64)
    a.layers["sparse_int"] = random_csr(rng, (n, m), 0.1, np.int64)
    big = ad.AnnData(random_csr(rng, (n, m + 4), 0.25), obs=pd.DataFrame(index=a.obs_names))
    big.var_names = [f"g{j}" for j in range(m + 4)]
    big.var["dispersion"] = rng.random(m + 4)
    a.raw = big
    return a


def csr_int64():
    """CSR float64 X; the writers below store its indptr and indices as int64 (see INT64_INDEX)."""
    rng = np.random.default_rng(5)
    a = ad.AnnData(random_csr(rng, (25, 9), 0.3, np.float64))
    a.obsm["sparse64"] = random_csr(rng, (25, 4), 0.5, np.float64)
    return a


def csc_object():
    rng = np.random.default_rng(6)
    a = ad.AnnData(sp.csc_matrix(random_csr(rng, (17, 8), 0.3)))
    a.layers["csc_layer"] = sp.csc_matrix(random_csr(rng, (17, 8), 0.2, np.float64))
    return a


def one_by_one():
    a = ad.AnnData(np.array([[3.5]], dtype=np.float32))
    a.obs_names = ["only ünï"]
    a.var_names = ["gene"]
    a.obs["c"] = pd.Categorical(["x"])
    a.uns["n"] = 1
    return a


def zero_rows():
    a = ad.AnnData(np.zeros((0, 5), dtype=np.float32))
    a.var_names = [f"g{j}" for j in range(5)]
    a.var["mean"] = np.arange(5, dtype=np.float64)
    a.obs["f"] = np.zeros(0, dtype=np.float64)
    return a


def zero_rows_sparse():
    a = ad.AnnData(sp.csr_matrix((0, 4), dtype=np.float32))
    a.var_names = [f"g{j}" for j in range(4)]
    return a


def empty_sparse():
    return ad.AnnData(sp.csr_matrix((6, 4), dtype=np.float64))


def no_X():
    obs = pd.DataFrame({"a": np.arange(4.0)}, index=[f"c{i}" for i in range(4)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(3)])
    a = ad.AnnData(obs=obs, var=var)
    a.obsm["emb"] = np.ones((4, 2))
    return a


OBJECTS = {
    "full": full_object,
    "dense_f64": dense_float64,
    "dense_ints": dense_ints,
    "csr32": csr_int32,
    "csr64": csr_int64,
    "csc": csc_object,
    "one_by_one": one_by_one,
    "zero_rows": zero_rows,
    "zero_rows_sparse": zero_rows_sparse,
    "empty_sparse": empty_sparse,
    "no_X": no_X,
}
INT64_INDEX = {"csr64": ["X", "obsm/sparse64"]}  # sparse elements rewritten with int64 indptr/indices


def store_int64_indices(path, fmt, elements):
    """anndata 0.8 writes int32 indices for small matrices; rewrite them as int64, as big files have."""
    root = h5py.File(path, "r+") if fmt == "h5ad" else zarr.open_group(path, mode="r+")
    try:
        for element in elements:
            g = root[element]
            for key in ("indptr", "indices"):
                values = g[key][...].astype(np.int64)
                attrs = dict(g[key].attrs)
                del g[key]
                ds = g.create_dataset(key, data=values)
                for k, v in attrs.items():
                    ds.attrs[k] = v
            assert root[element]["indptr"].dtype == np.int64
    finally:
        if fmt == "h5ad":
            root.close()


def write_references(workdir, names):
    """Writes every object with anndata; returns {name: {fmt: path}} (objects anndata cannot write
    are reported and skipped)."""
    os.makedirs(workdir, exist_ok=True)
    refs = {}
    for name in names:
        adata = OBJECTS[name]()
        refs[name] = {}
        for fmt in FORMATS:
            path = os.path.join(workdir, f"{name}.{fmt}")
            try:
                if fmt == "h5ad":
                    adata.write_h5ad(path)
                else:
                    adata.write_zarr(path)
            except Exception as e:  # noqa: BLE001: the reference's own limits
                print(f"note: anndata 0.8 cannot write {name} as {fmt}: {e!r}; skipped")
                continue
            if name in INT64_INDEX:
                store_int64_indices(path, fmt, INT64_INDEX[name])
            refs[name][fmt] = path
    return refs


def read_reference(path):
    return ad.read_h5ad(path) if path.endswith(".h5ad") else ad.read_zarr(path)


# ---------------------------------------------------------------------------------------------
# Comparison: a list of differences, each naming the element


def fmt_value(v):
    s = repr(v)
    return s if len(s) < 200 else s[:200] + "…"


def type_name(v):
    if sp.issparse(v):
        return type(v).__name__
    if isinstance(v, np.ndarray):
        return f"ndarray[{v.dtype}]"
    if isinstance(v, np.generic):
        return f"{type(v).__name__}"
    return type(v).__name__


def compare_arrays(a, b, where, out):
    """Two numpy arrays: dtype, shape, values (NaN equal NaN, -0.0 equal 0.0 only by value)."""
    if a.dtype != b.dtype:
        out.append(f"{where}: dtype {b.dtype}, reference {a.dtype}")
        return
    if a.shape != b.shape:
        out.append(f"{where}: shape {b.shape}, reference {a.shape}")
        return
    if a.dtype == object:
        al, bl = a.ravel().tolist(), b.ravel().tolist()
        for i, (x, y) in enumerate(zip(al, bl)):
            if type(x) is not type(y) or x != y:
                out.append(f"{where}: element {np.unravel_index(i, a.shape)} is {y!r}, reference {x!r}")
                return
        return
    if a.dtype.kind == "f":
        eq = (a == b) | (np.isnan(a) & np.isnan(b))
        # Bit patterns: -0.0 vs 0.0 matters for a format round trip.
        eq &= np.signbit(a) == np.signbit(b)
    else:
        eq = a == b
    if not np.all(eq):
        bad = np.argwhere(~np.asarray(eq))
        first = tuple(int(i) for i in bad[0])
        out.append(
            f"{where}: {len(bad)} values differ, first at {first}: {b[first]!r}, reference {a[first]!r}"
        )


def compare_matrix(a, b, where, out):
    if sp.issparse(a):
        if not sp.issparse(b):
            out.append(f"{where}: {type_name(b)}, reference {type_name(a)} (sparse became dense)")
            return
        if a.format != b.format:
            out.append(f"{where}: sparse format {b.format}, reference {a.format}")
        if a.dtype != b.dtype:
            out.append(f"{where}: dtype {b.dtype}, reference {a.dtype}")
            return
        if a.shape != b.shape:
            out.append(f"{where}: shape {b.shape}, reference {a.shape}")
            return
        if a.nnz != b.nnz:
            out.append(f"{where}: {b.nnz} stored values, reference {a.nnz}")
        compare_arrays(a.toarray(), b.toarray(), where + " (values)", out)
        return
    if sp.issparse(b):
        out.append(f"{where}: {type_name(b)}, reference {type_name(a)} (dense became sparse)")
        return
    if not isinstance(b, np.ndarray) or not isinstance(a, np.ndarray):
        out.append(f"{where}: {type_name(b)}, reference {type_name(a)}")
        return
    compare_arrays(a, b, where, out)


def compare_index(a, b, where, out):
    if a.dtype != b.dtype:
        out.append(f"{where}: index dtype {b.dtype}, reference {a.dtype}")
    if a.name != b.name:
        out.append(f"{where}: index name {b.name!r}, reference {a.name!r}")
    al, bl = list(a), list(b)
    if al != bl:
        diff = next((i for i, (x, y) in enumerate(zip(al, bl)) if x != y), min(len(al), len(bl)))
        out.append(
            f"{where}: index differs at {diff}: {bl[diff] if diff < len(bl) else '<end>'!r}, "
            f"reference {al[diff] if diff < len(al) else '<end>'!r} (lengths {len(bl)} / {len(al)})"
        )


def compare_series(a, b, where, out):
    if isinstance(a.dtype, pd.CategoricalDtype):
        if not isinstance(b.dtype, pd.CategoricalDtype):
            out.append(f"{where}: dtype {b.dtype}, reference categorical")
            return
        if a.cat.ordered != b.cat.ordered:
            out.append(f"{where}: ordered={b.cat.ordered}, reference ordered={a.cat.ordered}")
        ca, cb = a.cat.categories, b.cat.categories
        if ca.dtype != cb.dtype or list(ca) != list(cb):
            out.append(f"{where}: categories {list(cb)} ({cb.dtype}), reference {list(ca)} ({ca.dtype})")
            return
        compare_arrays(np.asarray(a.cat.codes), np.asarray(b.cat.codes), where + " codes", out)
        return
    if a.dtype != b.dtype:
        out.append(f"{where}: dtype {b.dtype}, reference {a.dtype}")
        return
    if isinstance(a.array, BaseMaskedArray):
        ma, mb = np.asarray(a.isna()), np.asarray(b.isna())
        compare_arrays(ma, mb, where + " missing mask", out)
        if np.array_equal(ma, mb):
            compare_arrays(
                np.asarray(a[~ma].to_numpy(dtype=a.dtype.numpy_dtype)),
                np.asarray(b[~mb].to_numpy(dtype=b.dtype.numpy_dtype)),
                where + " values",
                out,
            )
        return
    compare_arrays(np.asarray(a), np.asarray(b), where, out)


def compare_frame(a, b, where, out):
    if not isinstance(b, pd.DataFrame):
        out.append(f"{where}: {type_name(b)}, reference DataFrame")
        return
    compare_index(a.index, b.index, where, out)
    if list(a.columns) != list(b.columns):
        out.append(f"{where}: columns {list(b.columns)}, reference {list(a.columns)}")
    for col in a.columns:
        if col in b.columns and len(a) == len(b):
            compare_series(a[col], b[col], f"{where}[{col!r}]", out)


def compare_value(a, b, where, out):
    """One uns value, recursively."""
    if isinstance(a, dict):
        if not isinstance(b, dict):
            out.append(f"{where}: {type_name(b)}, reference dict")
            return
        ka, kb = set(a), set(b)
        if ka != kb:
            out.append(f"{where}: keys missing {sorted(ka - kb)}, extra {sorted(kb - ka)}")
        for k in sorted(ka & kb):
            compare_value(a[k], b[k], f"{where}[{k!r}]", out)
    elif isinstance(a, pd.DataFrame):
        compare_frame(a, b, where, out)
    elif sp.issparse(a) or isinstance(a, np.ndarray):
        compare_matrix(a, b, where, out) if sp.issparse(a) or a.ndim == 2 else (
            compare_arrays(a, b, where, out) if isinstance(b, np.ndarray)
            else out.append(f"{where}: {type_name(b)}, reference {type_name(a)}"))
    elif isinstance(a, np.generic):
        if type(a) is not type(b):
            out.append(f"{where}: {type_name(b)} {fmt_value(b)}, reference {type_name(a)} {fmt_value(a)}")
        elif not (a == b or (a != a and b != b)):
            out.append(f"{where}: {fmt_value(b)}, reference {fmt_value(a)}")
    else:
        if type(a) is not type(b) or a != b:
            out.append(f"{where}: {type_name(b)} {fmt_value(b)}, reference {type_name(a)} {fmt_value(a)}")


def compare_mapping(a, b, where, out):
    ka, kb = set(a.keys()), set(b.keys())
    if ka != kb:
        out.append(f"{where}: keys missing {sorted(ka - kb)}, extra {sorted(kb - ka)}")
    for k in sorted(ka & kb):
        if isinstance(a[k], pd.DataFrame):  # data frames in obsm/varm (anndata >= 0.7)
            compare_frame(a[k], b[k], f"{where}[{k!r}]", out)
        else:
            compare_matrix(a[k], b[k], f"{where}[{k!r}]", out)


def compare_anndata(a, b):
    out = []
    if a.shape != b.shape:
        out.append(f"shape {b.shape}, reference {a.shape}")
        return out
    if (a.X is None) != (b.X is None):
        out.append(f"X: {'absent' if b.X is None else 'present'}, reference {'absent' if a.X is None else 'present'}")
    elif a.X is not None:
        compare_matrix(a.X, b.X, "X", out)
    compare_frame(a.obs, b.obs, "obs", out)
    compare_frame(a.var, b.var, "var", out)
    compare_value(dict(a.uns), dict(b.uns), "uns", out)
    for slot in ("obsm", "varm", "obsp", "varp", "layers"):
        compare_mapping(getattr(a, slot), getattr(b, slot), slot, out)
    if (a.raw is None) != (b.raw is None):
        out.append(f"raw: {'absent' if b.raw is None else 'present'}, reference {'absent' if a.raw is None else 'present'}")
    elif a.raw is not None:
        compare_matrix(a.raw.X, b.raw.X, "raw.X", out)
        compare_frame(a.raw.var, b.raw.var, "raw.var", out)
        compare_mapping(a.raw.varm, b.raw.varm, "raw.varm", out)
    return out


# ---------------------------------------------------------------------------------------------
# Running tessera_io_roundtrip


class Runner:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
        self.failures = []
        self.runs = 0
        self.originals = {}

    def command(self, src, dst, ranks, eager=False, compressor=None, chunks=None, chunk_bytes=None):
        cmd = [self.binary, src, dst]
        if eager:
            cmd.append("--eager")
        if compressor:
            cmd += ["--compressor", compressor]
        if chunks:
            cmd += ["--chunks", chunks]
        if chunk_bytes:
            cmd += ["--chunk-bytes", chunk_bytes]
        env = dict(os.environ)
        for k in [k for k in env if k.startswith("TESSERA_TEST_")]:
            del env[k]
        if ranks:
            if not self.mpirun:
                raise RuntimeError("mpirun not found on PATH")
            cmd = [self.mpirun, "-np", str(ranks)] + cmd
            env.update(MPI_ENV)
        return cmd, env

    def launch(self, label, cmd, env):
        start = time.monotonic()
        # A session of its own: a hung run is ended with every rank mpirun started.
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                time.sleep(1)
            proc.communicate()
            return None, f"hang: no exit after {RUN_TIMEOUT} s", time.monotonic() - start
        return proc.returncode, (err or "") + (out or ""), time.monotonic() - start

    def fail(self, label, lines):
        self.failures.append((label, lines))
        print(f"FAIL {label}")
        for line in lines[:25]:
            print(f"     {line}")
        if len(lines) > 25:
            print(f"     … {len(lines) - 25} more differences")
        sys.stdout.flush()

    def original(self, path):
        if path not in self.originals:
            self.originals[path] = read_reference(path)
        return self.originals[path]

    def roundtrip(self, name, src, dst_fmt, ranks=0, eager=False, compressor=None, chunks=None,
                  chunk_bytes=None, check=None):
        src_fmt = "h5ad" if src.endswith(".h5ad") else "zarr"
        mode = "eager" if eager else "lazy"
        tag = "-".join(
            x for x in [mode, f"np{ranks}" if ranks else "serial", compressor and f"c_{compressor}",
                        chunks and f"chunks_{chunks.replace(',', 'x')}", chunk_bytes and f"cb{chunk_bytes}"] if x
        )
        label = f"{name} {src_fmt}->{dst_fmt} {tag}"
        dst = os.path.join(self.workdir, "out", f"{name}.{src_fmt}-{tag}.{dst_fmt}")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.exists(dst):
            shutil.rmtree(dst) if os.path.isdir(dst) else os.remove(dst)
        cmd, env = self.command(src, dst, ranks, eager, compressor, chunks, chunk_bytes)
        self.runs += 1
        code, output, seconds = self.launch(label, cmd, env)
        if code != 0:
            said = [line for line in output.splitlines() if line.startswith("tessera_io_roundtrip:")]
            said = said or [line for line in output.splitlines() if line.strip()]
            self.fail(label, [f"exit status {code}: {said[0] if said else '(no message)'}"] + said[1:4]
                      + ["command: " + " ".join(cmd)])
            return
        try:
            got = read_reference(dst)
        except Exception as e:  # noqa: BLE001: report any reader failure as this run's
            self.fail(label, [f"the reference cannot read Tessera's output {dst}: {e!r}"])
            return
        diffs = compare_anndata(self.original(src), got)
        if check:
            diffs += check(dst)
        if diffs:
            self.fail(label, diffs)
        else:
            print(f"ok   {label} ({seconds:.2f} s)")
            sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# Parts


def directions(refs, name, pairs=None):
    for src_fmt, dst_fmt in pairs or [(s, d) for s in FORMATS for d in FORMATS]:
        if src_fmt in refs[name]:
            yield refs[name][src_fmt], dst_fmt


CROSS = [("h5ad", "zarr"), ("zarr", "h5ad")]
SAME = [("h5ad", "h5ad"), ("zarr", "zarr")]


def part_serial(r, refs):
    for name in refs:
        for src, dst_fmt in directions(refs, name):
            r.roundtrip(name, src, dst_fmt)
            r.roundtrip(name, src, dst_fmt, eager=True)
    # Many lazy chunks, and the file chunking of X and layers changed on the way.
    for name in ("full", "csr32", "csr64", "dense_ints"):
        for src, dst_fmt in directions(refs, name, CROSS + SAME):
            r.roundtrip(name, src, dst_fmt, chunk_bytes=SMALL_CHUNKS)
    for name in ("full", "dense_f64"):
        for src, dst_fmt in directions(refs, name, CROSS):
            r.roundtrip(name, src, dst_fmt, chunks="4,3")
            r.roundtrip(name, src, dst_fmt, chunks="1,-1", chunk_bytes=SMALL_CHUNKS)


def part_mpi(r, refs):
    for name in refs:  # every object, both readers and both writers, at 2 ranks
        for src, dst_fmt in directions(refs, name, CROSS):
            r.roundtrip(name, src, dst_fmt, ranks=2, chunk_bytes=SMALL_CHUNKS)
    for name in ("full", "csr32"):
        for src, dst_fmt in directions(refs, name, SAME):
            r.roundtrip(name, src, dst_fmt, ranks=2, chunk_bytes=SMALL_CHUNKS)
        for src, dst_fmt in directions(refs, name, CROSS):
            r.roundtrip(name, src, dst_fmt, ranks=2, eager=True)
            r.roundtrip(name, src, dst_fmt, ranks=2)
    # Odd rank count, and file chunks that do not follow the ranks' rows.
    for name in ("full", "csr32"):
        for src, dst_fmt in directions(refs, name, [("h5ad", "h5ad"), ("zarr", "zarr")]):
            r.roundtrip(name, src, dst_fmt, ranks=3, chunks="2,3", chunk_bytes=SMALL_CHUNKS)
    # A focused set at 4 ranks: more ranks than some arrays have chunks or rows.
    for name in ("full",):
        for src, dst_fmt in directions(refs, name):
            r.roundtrip(name, src, dst_fmt, ranks=4, chunk_bytes=SMALL_CHUNKS)
    for name in ("csr64", "csc", "one_by_one", "zero_rows", "empty_sparse"):
        for src, dst_fmt in directions(refs, name, CROSS):
            r.roundtrip(name, src, dst_fmt, ranks=4, chunk_bytes=SMALL_CHUNKS)
    # Edge shapes through the parallel writers of each format (ranks with nothing to write).
    for name in ("one_by_one", "zero_rows", "zero_rows_sparse", "empty_sparse", "no_X"):
        for src, dst_fmt in directions(refs, name, SAME):
            r.roundtrip(name, src, dst_fmt, ranks=2, chunk_bytes=SMALL_CHUNKS)
    for src, dst_fmt in directions(refs, "dense_ints", [("h5ad", "h5ad")]):
        r.roundtrip("dense_ints", src, dst_fmt, ranks=4, eager=True)


def compression_check(compressor):
    """The big arrays of Tessera's output must carry the requested codec."""

    def h5_filters(ds):
        return ds._filters  # {"gzip": 4} or {"32001": (…)}

    def check(dst):
        out = []
        elements = ["X", "layers/counts", "layers/sparse", "obsm/X_pca", "obsp/distances", "raw/X"]
        if dst.endswith(".h5ad"):
            with h5py.File(dst, "r") as f:
                for e in elements:
                    if e not in f:
                        continue
                    ds = f[e] if isinstance(f[e], h5py.Dataset) else f[e]["data"]
                    filters = h5_filters(ds)
                    want = "gzip" if compressor == "zlib" else "32001"
                    if want not in filters:
                        out.append(f"{e}: HDF5 filters {filters}, expected {want} for --compressor {compressor}")
                    elif want == "32001":
                        cname = {0: "blosclz", 1: "lz4", 2: "lz4hc", 4: "zlib", 5: "zstd"}.get(filters[want][6])
                        if cname != ("zlib" if compressor == "blosc-zlib" else compressor):
                            out.append(f"{e}: Blosc cname {cname}, expected {compressor}")
        else:
            z = zarr.open_group(dst, mode="r")
            for e in elements:
                if e not in z:
                    continue
                arr = z[e] if isinstance(z[e], zarr.core.Array) else z[e]["data"]
                c = arr.compressor
                cfg = c.get_config() if c is not None else None
                if compressor == "zlib":
                    ok = cfg is not None and cfg["id"] in ("zlib", "gzip")
                else:
                    want = "zlib" if compressor == "blosc-zlib" else compressor
                    ok = cfg is not None and cfg["id"] == "blosc" and cfg["cname"] == want
                if not ok:
                    out.append(f"{e}: zarr compressor {cfg}, expected {compressor}")
        return out

    return check


PLAIN_READER = r"""
import sys
import numpy as np
import scipy.sparse as sp
import anndata as ad
a = ad.read_h5ad(sys.argv[1])
assert "hdf5plugin" not in sys.modules
arrays = {"X": a.X}
for slot in ("layers", "obsm", "obsp"):
    arrays.update({f"{slot}/{k}": v for k, v in getattr(a, slot).items()})
if a.raw is not None:
    arrays["raw/X"] = a.raw.X
np.savez(sys.argv[2], **{k.replace("/", "|"): v.toarray() if sp.issparse(v) else np.asarray(v)
                         for k, v in arrays.items() if v is not None})
"""


def plain_reader_check(dst):
    """A user reads Tessera's Blosc-compressed h5ad (filter 32001) with plain anndata, without
    importing hdf5plugin: HDF5 must find the filter by itself (Debian's
    hdf5-filter-plugin-blosc-serial), and every array must equal what the reference reads."""
    npz = dst + ".plain.npz"
    env = {k: v for k, v in os.environ.items() if k != "HDF5_PLUGIN_PATH"}
    p = subprocess.run([sys.executable, "-c", PLAIN_READER, dst, npz], capture_output=True,
                       text=True, timeout=120, env=env)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        return [f"plain anndata (no hdf5plugin) cannot read {dst}: {last}"]
    ref = read_reference(dst)
    want = {"X": ref.X}
    for slot in ("layers", "obsm", "obsp"):
        want.update({f"{slot}/{k}": v for k, v in getattr(ref, slot).items()})
    if ref.raw is not None:
        want["raw/X"] = ref.raw.X
    out = []
    with np.load(npz) as got:
        if sorted(got.files) != sorted(k.replace("/", "|") for k, v in want.items() if v is not None):
            out.append(f"plain anndata read arrays {sorted(got.files)}, reference {sorted(want)}")
        for k, v in want.items():
            key = k.replace("/", "|")
            if v is not None and key in got.files:
                compare_arrays(v.toarray() if sp.issparse(v) else np.asarray(v), got[key],
                               f"{k} (plain anndata)", out)
    return out


def compressed_sources(workdir, refs):
    """Reference files whose arrays are compressed by the reference's writers (gzip, lzf, Blosc
    through hdf5plugin, zarr zlib), for Tessera's readers."""
    base = OBJECTS["full"]()
    out = {}
    for codec in ("gzip", "lzf"):
        path = os.path.join(workdir, f"full_{codec}.h5ad")
        base.write_h5ad(path, compression=codec)
        out[f"full_{codec}"] = path
    # Blosc (zstd, bit shuffle) and Zstd filters on X and a layer, rewritten with h5py.
    for label, filt in (("blosc_zstd", hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.BITSHUFFLE)),
                        ("blosc_lz4", hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE)),
                        ("zstd", hdf5plugin.Zstd(clevel=3))):
        if not h5py.h5z.filter_avail(filt["compression"]):
            print(f"note: this hdf5plugin has no filter {filt['compression']} ({label}); skipped")
            continue
        path = os.path.join(workdir, f"full_{label}.h5ad")
        shutil.copyfile(refs["full"]["h5ad"], path)
        with h5py.File(path, "r+") as f:
            for e in ("X", "layers/counts", "obsp/distances/data", "raw/X"):
                data, attrs = f[e][...], dict(f[e].attrs)
                del f[e]
                ds = f.create_dataset(e, data=data, chunks=True, **filt)
                for k, v in attrs.items():
                    ds.attrs[k] = v
        out[f"full_{label}"] = path
    path = os.path.join(workdir, "full_zlib.zarr")
    shutil.copytree(refs["full"]["zarr"], path)
    z = zarr.open_group(path, mode="r+")
    import numcodecs

    for e in ("X", "layers/counts"):
        data, attrs = z[e][...], dict(z[e].attrs)
        del z[e]
        arr = z.create_dataset(e, data=data, chunks=(4, 2), compressor=numcodecs.Zlib(level=6))
        arr.attrs.update(attrs)
    out["full_zlib_zarr"] = path
    return out


def part_compression(r, refs):
    for compressor in ("lz4", "zstd", "zlib", "blosc-zlib"):
        for name in ("full", "csr32"):
            for dst_fmt in FORMATS:
                r.roundtrip(name, refs[name]["h5ad"], dst_fmt, compressor=compressor,
                            check=compression_check(compressor))
    r.roundtrip("full", refs["full"]["h5ad"], "h5ad", ranks=2, compressor="lz4", chunk_bytes=SMALL_CHUNKS,
                check=compression_check("lz4"))
    r.roundtrip("csr32", refs["csr32"]["zarr"], "h5ad", ranks=2, compressor="zstd", chunk_bytes=SMALL_CHUNKS,
                check=compression_check("zstd"))
    r.roundtrip("full", refs["full"]["zarr"], "zarr", ranks=2, compressor="zlib", chunk_bytes=SMALL_CHUNKS,
                check=compression_check("zlib"))
    r.roundtrip("csr32", refs["csr32"]["h5ad"], "zarr", ranks=4, compressor="zstd", chunk_bytes=SMALL_CHUNKS,
                check=compression_check("zstd"))
    # --compressor zstd (and lz4) in h5ad is Blosc (filter 32001): plain anndata reads it.
    for compressor in ("zstd", "lz4"):
        for name in ("full", "csr32"):
            r.roundtrip(name, refs[name]["zarr"], "h5ad", ranks=2, compressor=compressor,
                        chunk_bytes=SMALL_CHUNKS,
                        check=lambda dst, c=compressor: compression_check(c)(dst) + plain_reader_check(dst))
    # Compressed inputs written by the reference tools.
    for label, src in compressed_sources(r.workdir, refs).items():
        for dst_fmt in FORMATS:
            r.roundtrip(label, src, dst_fmt)
        r.roundtrip(label, src, "zarr" if src.endswith(".h5ad") else "h5ad", ranks=2, chunk_bytes=SMALL_CHUNKS)


def tree_digest(path):
    h = hashlib.sha256()
    if os.path.isfile(path):
        with open(path, "rb") as f:
            h.update(f.read())
    else:
        for root, dirs, files in sorted(os.walk(path)):
            dirs.sort()
            for fn in sorted(files):
                p = os.path.join(root, fn)
                h.update(os.path.relpath(p, path).encode())
                with open(p, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


def part_atomic(r, refs):
    """A write failing part-way (the last rank throws while writing a slot) leaves nothing at the
    target and no temporary sibling; an existing target stays as it was."""
    serial_slots = ["X", "layers/sparse", "layers/ünï layer", "obsp/distances", "raw/X"]
    parallel_slots = ["X", "layers/sparse", "obsm/X_pca", "raw/X"]
    for ranks, slots in ((0, serial_slots), (2, parallel_slots)):
        for slot in slots:
            for dst_fmt in FORMATS:
                for existing in (False, True):
                    atomic_case(r, "full", refs["full"]["h5ad"], dst_fmt, slot, ranks, existing)


def atomic_case(r, name, src, dst_fmt, slot, ranks, existing):
    label = f"atomic {name} ->{dst_fmt} fail at {slot!r} {'np%d' % ranks if ranks else 'serial'}" + (
        " over an existing target" if existing else "")
    d = os.path.join(r.workdir, "atomic", f"{dst_fmt}-{ranks}-{int(existing)}-{abs(hash(slot)) % 10**8}")
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    target = os.path.join(d, f"target.{dst_fmt}")
    before = None
    if existing:
        cmd, env = r.command(src, target, 0)
        code, output, _ = r.launch(label, cmd, env)
        if code != 0:
            r.fail(label, [f"writing the existing target failed ({code}): {output.strip()}"])
            return
        before = tree_digest(target)
    cmd, env = r.command(src, target, ranks)
    env["TESSERA_TEST_FAIL_WRITE"] = slot
    r.runs += 1
    code, output, seconds = r.launch(label, cmd, env)
    problems = []
    if code is None:
        problems.append(output)
    elif code == 0:
        problems.append("exited 0 although the write was made to fail")
    if code not in (None, 0) and slot not in output:
        problems.append("the error does not name the slot: " + " | ".join(output.strip().splitlines()[:3]))
    left = sorted(n for n in os.listdir(d) if n.startswith(f".target.{dst_fmt}.tessera-"))
    if left:
        problems.append(f"temporary siblings remain: {left}")
    if existing:
        if not os.path.exists(target):
            problems.append("the existing target was removed")
        elif tree_digest(target) != before:
            problems.append("the existing target was changed")
        else:
            try:
                read_reference(target)
            except Exception as e:  # noqa: BLE001
                problems.append(f"the existing target no longer reads: {e!r}")
    elif os.path.exists(target):
        problems.append(f"a failed write left {target}")
    if problems:
        r.fail(label, problems)
    else:
        print(f"ok   {label} ({seconds:.2f} s)")


PARTS = {"serial": part_serial, "mpi": part_mpi, "compression": part_compression, "atomic": part_atomic}
PART_OBJECTS = {
    "serial": list(OBJECTS),
    "mpi": list(OBJECTS),
    "compression": ["full", "csr32"],
    "atomic": ["full"],
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binary", help="path of tessera_io_roundtrip")
    p.add_argument("--part", choices=list(PARTS) + ["all"], default="all")
    p.add_argument("--workdir", help="scratch directory (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = p.parse_args()

    workdir = args.workdir or tempfile.mkdtemp(prefix="tessera-interop-")
    if os.path.exists(workdir):
        shutil.rmtree(workdir)
    os.makedirs(workdir)
    start = time.monotonic()
    parts = list(PARTS) if args.part == "all" else [args.part]
    names = sorted({n for part in parts for n in PART_OBJECTS[part]}, key=list(OBJECTS).index)
    refs = write_references(os.path.join(workdir, "reference"), names)
    r = Runner(os.path.abspath(args.binary), workdir)
    for part in parts:
        print(f"== {part}")
        PARTS[part](r, {n: refs[n] for n in PART_OBJECTS[part] if refs.get(n)})
    elapsed = time.monotonic() - start
    print(f"\n{r.runs} runs, {len(r.failures)} failed, {elapsed:.1f} s")
    if r.failures:
        print("\nFailed runs:")
        for label, lines in r.failures:
            print(f"  {label}: {lines[0]}")
        # Keep the evidence for whoever reads the failure.
        print(f"\n(files kept in {workdir})")
        return 1
    if not args.keep:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
