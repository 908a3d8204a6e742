#!/usr/bin/python3
"""Small files in every on-disk layout anndata has written (0.5 -> 0.13, h5ad and zarr v2) that the
reference (Debian's anndata 0.8) cannot write itself, written with h5py and zarr 2.13 directly, plus
a few it can write (dataframes in obsm/varm, X absent, ...), and corrupt legacy files.

    /usr/bin/python3 make_fixtures.py OUTDIR

For every fixture NAME.{h5ad,zarr} it writes NAME.{h5ad,zarr}.expected.json, the expected reading
computed without Tessera:

  kind       "read" (must read and convert), "unknown" (an encoding Tessera is not expected to
             know: error, or dropped with --skip-unknown), "corrupt" (clean error)
  reference  true when anndata 0.8 reads the file as a modern anndata would: its reading is the
             expected value, element by element
  twin       otherwise a file anndata 0.8 does read and whose reading is the expected value of
             everything but the `special` elements (for most fixtures: the fixture with the
             special elements removed)
  special    {element path: {"dump": canonical dump (see dump()), "absent_ok": bool}}: what each
             element the reference cannot read must be on disk after `tessera convert`
  repr       the lines `tessera info` must print first (anndata's repr of the expected object)
  error      {"any": [element names], "needles": [...]} for unknown/corrupt: the one error line
             names one of the elements and contains every needle
  skip       for "unknown": {"warnings": [dropped elements], "twin": file, "repr": [...]}
  anndata_0_8  what the reference itself does with the file (for the record)

formats_check.py imports this module for dump(), strip() and the readers.
"""
import json
import os
import shutil
import sys
import warnings

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
import zarr

warnings.simplefilter("ignore")

# ---------------------------------------------------------------------------------------------
# Shared helpers (also used by formats_check.py)


def read_reference(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ad.read_h5ad(path) if path.endswith(".h5ad") else ad.read_zarr(path)


def open_store(path, mode="r"):
    if path.endswith(".h5ad") or path.endswith(".h5"):
        return h5py.File(path, mode)
    return zarr.open_group(path, mode=mode)


def close_store(root):
    if isinstance(root, h5py.File):
        root.close()


def is_group(node):
    return isinstance(node, (h5py.Group, zarr.hierarchy.Group))


def norm_scalar(v):
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.str_):
        return str(v)
    if isinstance(v, h5py.Reference):
        return "<object reference>"
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return "NaN" if f != f else f
    return v


def norm_attr(v):
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "SUO":
            return [norm_scalar(x) for x in v.ravel().tolist()]
        return [norm_scalar(x) for x in v.ravel()]
    if isinstance(v, (list, tuple)):
        return [norm_attr(x) for x in v]
    if isinstance(v, dict):
        return {k: norm_attr(x) for k, x in v.items()}
    return norm_scalar(v)


def dtype_name(dt):
    if dt.names:
        return [[n, dtype_name(dt.fields[n][0])] for n in dt.names]
    if dt.kind in "SUO":
        return "str"
    if dt.kind == "b":
        return "bool"
    if dt.subdtype is not None:
        return [dtype_name(dt.subdtype[0]), list(dt.subdtype[1])]
    return dt.newbyteorder("=").name


def norm_values(arr):
    if arr.dtype.names:
        return [[norm_values(np.asarray(arr[n])) for n in arr.dtype.names]]
    if arr.dtype.kind in "SUO":
        return [norm_scalar(x) for x in arr.ravel().tolist()]
    return [norm_scalar(x) for x in arr.ravel()]


def dump(node):
    """A canonical, format-independent description of an element: attributes (strings decoded,
    numbers as Python numbers), children, and for arrays the dtype (strings of any storage are
    "str"), shape and values. A `null` element is {"attrs": ..., "null": true}."""
    attrs = {k: norm_attr(v) for k, v in node.attrs.items()}
    if is_group(node):
        return {"attrs": attrs, "children": {k: dump(node[k]) for k in sorted(node.keys())}}
    if attrs.get("encoding-type") == "null":
        return {"attrs": attrs, "null": True}
    if isinstance(node, h5py.Dataset) and node.shape is None:
        return {"attrs": attrs, "empty-dataspace": True}
    arr = np.asarray(node[()] if node.shape == () else node[...])
    return {"attrs": attrs, "dtype": dtype_name(arr.dtype), "shape": list(arr.shape),
            "values": norm_values(arr)}


def compare_dump(want, got, where, out):
    """`want` must be in `got`: the same children, every expected attribute with its value, the
    same dtype, shape and values (extra attributes in `got` are allowed)."""
    for k, v in want.get("attrs", {}).items():
        if k not in got.get("attrs", {}):
            out.append(f"{where}: attribute {k!r} missing (expected {v!r})")
        elif got["attrs"][k] != v:
            out.append(f"{where}: attribute {k!r} is {got['attrs'][k]!r}, expected {v!r}")
    if "children" in want:
        if "children" not in got:
            out.append(f"{where}: an array, expected a group with {sorted(want['children'])}")
            return
        if sorted(want["children"]) != sorted(got["children"]):
            out.append(f"{where}: children {sorted(got['children'])}, expected {sorted(want['children'])}")
        for k in sorted(set(want["children"]) & set(got["children"])):
            compare_dump(want["children"][k], got["children"][k], f"{where}/{k}", out)
        return
    if want.get("null"):
        if not got.get("null"):
            out.append(f"{where}: not a null element (got {str(got)[:120]})")
        return
    if "children" in got:
        out.append(f"{where}: a group, expected an array")
        return
    for key in ("dtype", "shape", "values"):
        if want.get(key) != got.get(key):
            out.append(f"{where}: {key} {str(got.get(key))[:160]}, expected {str(want.get(key))[:160]}")


def dump_path(path, element):
    root = open_store(path)
    try:
        if element not in root:
            return None
        return dump(root[element])
    finally:
        close_store(root)


def copy_store(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst) if os.path.isdir(dst) else os.remove(dst)
    if os.path.isdir(src):
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)


def strip(src, dst, elements):
    """A copy of src without `elements`; a removed dataframe column leaves its column-order."""
    copy_store(src, dst)
    root = open_store(dst, "r+")
    try:
        for e in elements:
            if e not in root:
                continue
            del root[e]
            parent_name, _, leaf = e.rpartition("/")
            parent = root[parent_name] if parent_name else root
            order = parent.attrs.get("column-order")
            if order is not None:
                kept = [c for c in norm_attr(order) if c != leaf]
                if isinstance(root, h5py.File):
                    if kept:
                        parent.attrs["column-order"] = np.array(kept, dtype=h5py.string_dtype())
                    else:
                        parent.attrs["column-order"] = np.zeros(0, dtype=np.float64)
                else:
                    parent.attrs["column-order"] = kept
    finally:
        close_store(root)


def anndata_says(path):
    try:
        a = read_reference(path)
    except Exception as e:  # noqa: BLE001: what the reference does is the record
        return False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300], None
    return True, "reads it", a


# ---------------------------------------------------------------------------------------------
# Writing helpers (h5py and zarr alike)

VLEN = h5py.string_dtype("utf-8")


def enc(node, kind, version):
    node.attrs["encoding-type"] = kind
    node.attrs["encoding-version"] = version


def is_h5(root):
    return isinstance(root, h5py.Group)


def strings_ds(parent, name, values, encoded=True):
    values = list(values)
    if is_h5(parent):
        ds = parent.create_dataset(name, data=np.array(values, dtype=object), dtype=VLEN)
    else:
        import numcodecs

        ds = parent.create_dataset(name, shape=(len(values),), dtype=object, object_codec=numcodecs.VLenUTF8())
        ds[:] = np.array(values, dtype=object)
    if encoded:
        enc(ds, "string-array", "0.2.0")
    return ds


def array_ds(parent, name, data, encoded=True):
    ds = parent.create_dataset(name, data=np.asarray(data))
    if encoded:
        enc(ds, "array", "0.2.0")
    return ds


def str_attr_list(root, values):
    if is_h5(root):
        return np.array(list(values), dtype=VLEN) if len(values) else np.zeros(0, dtype=np.float64)
    return list(values)


def dataframe(parent, name, index, columns, index_name="_index"):
    """A dataframe 0.2.0; `columns` is a list of (name, writer) where writer(group, name)."""
    g = parent.create_group(name)
    enc(g, "dataframe", "0.2.0")
    g.attrs["_index"] = index_name
    g.attrs["column-order"] = str_attr_list(g, [c for c, _ in columns])
    strings_ds(g, index_name, index)
    for col, writer in columns:
        writer(g, col)
    return g


def fixed_utf8_scalar(group, name, text):
    """A 0-d fixed-length UTF-8 HDF5 string (h5py's high level only converts ASCII ones)."""
    b = text.encode()
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(max(len(b), 1))
    tid.set_cset(h5py.h5t.CSET_UTF8)
    tid.set_strpad(h5py.h5t.STR_NULLPAD)
    dsid = h5py.h5d.create(group.id, name.encode(), tid, h5py.h5s.create(h5py.h5s.SCALAR))
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array(b, dtype=f"S{max(len(b), 1)}"), mtype=tid)
    return group[name]


def null_element(parent, name):
    """anndata 0.12's None: HDF5 null dataspace; zarr: 0-d bool array with no chunk."""
    if is_h5(parent):
        ds = parent.create_dataset(name, data=h5py.Empty("f"))
    else:
        ds = parent.create_dataset(name, shape=(), dtype=bool, fill_value=None, write_empty_chunks=False)
    enc(ds, "null", "0.1.0")
    return ds


def nullable_strings(parent, name, values, na_value=None):
    g = parent.create_group(name)
    enc(g, "nullable-string-array", "0.1.0")
    if na_value is not None:
        g.attrs["na-value"] = na_value
    mask = np.array([v is None for v in values])
    strings_ds(g, "values", ["" if v is None else v for v in values])
    array_ds(g, "mask", mask)
    return g


def awkward_lists(parent, name, lists):
    """An awkward-array 0.1.0 group as anndata >= 0.9 writes ak.Array([[1.5, 2], [], [3]]):
    ak.to_buffers of a ListOffsetArray over a NumpyArray, attributes form (JSON) and length,
    children node0-offsets and node1-data written as arrays."""
    g = parent.create_group(name)
    enc(g, "awkward-array", "0.1.0")
    form = {
        "class": "ListOffsetArray",
        "offsets": "i64",
        "content": {"class": "NumpyArray", "primitive": "float64", "inner_shape": [], "parameters": {},
                    "form_key": "node1"},
        "parameters": {},
        "form_key": "node0",
    }
    g.attrs["form"] = json.dumps(form)
    g.attrs["length"] = len(lists)
    offsets = np.cumsum([0] + [len(x) for x in lists]).astype(np.int64)
    data = np.array([v for x in lists for v in x], dtype=np.float64)
    array_ds(g, "node0-offsets", offsets)
    array_ds(g, "node1-data", data)
    return g


def shape_attr(node, shape):
    return np.array(shape, dtype=np.int64) if is_h5(node) else [int(x) for x in shape]


def csr(parent, name, m, index_dtype=None, indptr_dtype=None, legacy=False):
    m = sp.csr_matrix(m)
    g = parent.create_group(name)
    if legacy:
        g.attrs["h5sparse_format"] = "csr"
        g.attrs["h5sparse_shape"] = shape_attr(g, m.shape)
    else:
        enc(g, "csr_matrix", "0.1.0")
        g.attrs["shape"] = shape_attr(g, m.shape)
    g.create_dataset("data", data=m.data)
    g.create_dataset("indices", data=m.indices.astype(index_dtype or m.indices.dtype))
    g.create_dataset("indptr", data=m.indptr.astype(indptr_dtype or m.indptr.dtype))
    return g


def anndata_root(root):
    enc(root, "anndata", "0.1.0")
    for slot in ("layers", "obsm", "obsp", "uns", "varm", "varp"):
        enc(root.create_group(slot), "dict", "0.1.0")


def new_store(path):
    if os.path.exists(path):
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    if path.endswith(".h5ad"):
        return h5py.File(path, "w")
    return zarr.open_group(zarr.DirectoryStore(path), mode="w")


# ---------------------------------------------------------------------------------------------
# Objects

N_OBS, N_VARS = 4, 3
OBS_NAMES = ["c0", "c1", "c2", "c3"]
VAR_NAMES = ["g0", "g1", "g2"]
X_DENSE = (np.arange(N_OBS * N_VARS, dtype=np.float32).reshape(N_OBS, N_VARS) - 3) / 2


def modern_base(root, x=True, obs_columns=(), var_columns=()):
    """A minimal 0.8+ object: dense X, obs 'n' (float64) plus obs_columns, var 'len' plus var_columns."""
    anndata_root(root)
    if x:
        array_ds(root, "X", X_DENSE)
    dataframe(root, "obs", OBS_NAMES,
              [("n", lambda g, c: array_ds(g, c, np.arange(N_OBS, dtype=np.float64)))] + list(obs_columns))
    dataframe(root, "var", VAR_NAMES,
              [("len", lambda g, c: array_ds(g, c, np.array([10, 20, 30], dtype=np.int64)))] + list(var_columns))


FIXTURES = []


def fixture(name, formats, kind="read", special=(), absent_ok=(), twin=None, error=None, skip=None,
            reference=None, special_out=None):
    """Registers a writer f(path) for NAME.<fmt> for each fmt in formats.

    special: elements the reference cannot read (compared on disk after convert);
    twin: "strip" (default when special is set) or a writer g(path) of the reference-readable
    equivalent; error: {"any": [...], "needles": [...]}; skip: dropped elements with --skip-unknown.
    reference: None = decided by trying anndata 0.8 (must read when there is nothing special);
    special_out: {element: (element in the output, f(source path) -> expected dump)} for special
    elements that the 0.8+ encodings store elsewhere (e.g. pre-0.7 raw.varm -> raw/varm/<key>)."""

    def register(f):
        for fmt in formats:
            FIXTURES.append(dict(name=name, fmt=fmt, writer=f, kind=kind, special=list(special),
                                 absent_ok=list(absent_ok), twin=twin, error=error, skip=skip,
                                 reference=reference, special_out=special_out or {}))
        return f

    return register


# --- pre-0.7 -----------------------------------------------------------------------------------


def legacy_frame(names, columns, bytes_strings):
    """A compound (structured) dataframe, first field `index`."""
    width = max(len(n) for n in names)
    fields = [("index", f"S{width}" if bytes_strings else f"<U{width}")]
    fields += [(c, np.asarray(v).dtype) if np.asarray(v).ndim == 1 else (c, np.asarray(v).dtype, np.asarray(v).shape[1:])
               for c, v in columns]
    rec = np.zeros(len(names), dtype=fields)
    rec["index"] = [n.encode() for n in names] if bytes_strings else names
    for c, v in columns:
        rec[c] = v
    return rec


def legacy_common(root, bytes_strings):
    """What anndata <= 0.6 wrote: compound obs/var (categorical codes + uns/<col>_categories),
    compound obsm/varm, top-level raw.X / raw.var / raw.varm, no encoding attributes."""
    s = (lambda xs: np.array([x.encode() for x in xs])) if bytes_strings else (lambda xs: np.array(xs))
    root.create_dataset("obs", data=legacy_frame(OBS_NAMES, [
        ("n_counts", np.array([1.5, 2.5, 3.5, 4.5], dtype=np.float32)),
        ("louvain", np.array([0, 1, 1, 0], dtype=np.int8)),
        ("phase", np.array([2, 0, 1, 2], dtype=np.int8)),
    ], bytes_strings))
    root.create_dataset("var", data=legacy_frame(VAR_NAMES, [
        ("means", np.array([0.25, 0.5, 0.75])),
        ("highly_variable", np.array([True, False, True])),
        ("kind", np.array([1, 0, 1], dtype=np.int8)),
    ], bytes_strings))
    obsm = np.zeros(N_OBS, dtype=[("X_pca", "<f4", (2,)), ("X_umap", "<f8", (3,))])
    obsm["X_pca"] = np.arange(8, dtype=np.float32).reshape(4, 2)
    obsm["X_umap"] = np.linspace(0, 1, 12).reshape(4, 3)
    root.create_dataset("obsm", data=obsm)
    root.create_dataset("varm", data=np.array(
        [(np.arange(2) + i,) for i in range(N_VARS)], dtype=[("PCs", "<f8", (2,))]))
    uns = root.create_group("uns")
    uns.create_dataset("louvain_categories", data=s(["0", "1"]))
    uns.create_dataset("phase_categories", data=s(["G1", "G2M", "S"]))
    uns.create_dataset("kind_categories", data=s(["coding", "lnc"]))
    uns.create_dataset("louvain_colors", data=s(["#1f77b4", "#ff7f0e"]))
    params = uns.create_group("pca")
    params.create_dataset("variance", data=np.array([2.0, 1.0], dtype=np.float32))


def dump_array(arr, encoding="array"):
    """The dump of an array as the 0.8+ writers store it."""
    arr = np.asarray(arr)
    return {"attrs": {"encoding-type": encoding, "encoding-version": "0.2.0"}, "dtype": dtype_name(arr.dtype),
            "shape": list(arr.shape), "values": norm_values(arr)}


LEGACY_RAW_VARM = np.array([(np.arange(2.0) * i,) for i in range(5)], dtype=[("PCs", "<f8", (2,))])


@fixture("legacy_05", ["h5ad"], special=["raw.varm"],
         special_out={"raw.varm": ("raw/varm/PCs", lambda p: dump_array(LEGACY_RAW_VARM["PCs"]))})
def legacy_05_h5(path):
    """anndata 0.5/0.6 h5ad: h5sparse CSR X, h5sparse graphs in uns/neighbors (moved to obsp by
    the reference), top-level raw.X (h5sparse CSC) / raw.var / raw.varm."""
    f = new_store(path)
    legacy_common(f, bytes_strings=True)
    csr(f, "X", X_DENSE * (X_DENSE > 0), legacy=True)
    nb = f["uns"].create_group("neighbors")
    dist = np.zeros((N_OBS, N_OBS))
    dist[0, 1] = dist[1, 0] = 0.5
    dist[2, 3] = dist[3, 2] = 1.25
    csr(nb, "distances", dist, legacy=True)
    csr(nb, "connectivities", (dist > 0).astype(np.float64) * 0.75, legacy=True)
    p = nb.create_group("params")
    p.create_dataset("n_neighbors", data=np.array([2]))
    p.create_dataset("method", data=np.array([b"umap"]))
    raw = np.arange(N_OBS * 5, dtype=np.float32).reshape(N_OBS, 5) % 3
    g = f.create_group("raw.X")
    m = sp.csc_matrix(raw)
    g.attrs["h5sparse_format"] = "csc"
    g.attrs["h5sparse_shape"] = np.array(m.shape)
    g.create_dataset("data", data=m.data)
    g.create_dataset("indices", data=m.indices)
    g.create_dataset("indptr", data=m.indptr)
    f.create_dataset("raw.var", data=legacy_frame(VAR_NAMES + ["g3", "g4"], [
        ("dispersion", np.linspace(1, 2, 5))], True))
    f.create_dataset("raw.varm", data=LEGACY_RAW_VARM)  # the reference cannot read it (anndata 0.8)
    f.close()


@fixture("legacy_06", ["zarr"])
def legacy_06_zarr(path):
    """anndata 0.6 zarr: no .zattrs anywhere (only .zgroup / .zarray), structured obs/var with U
    strings, uns/<col>_categories, structured obsm/varm, dense top-level raw.X, raw.var."""
    z = new_store(path)
    legacy_common(z, bytes_strings=False)
    z.create_dataset("X", data=X_DENSE)
    z.create_dataset("raw.X", data=np.arange(N_OBS * 5, dtype=np.float32).reshape(N_OBS, 5))
    z.create_dataset("raw.var", data=legacy_frame(VAR_NAMES + ["g3", "g4"], [
        ("dispersion", np.linspace(1, 2, 5))], False))
    for dirpath, _, files in os.walk(path):
        assert ".zattrs" not in files, dirpath


# --- 0.8+ encodings the reference cannot write (or read) ----------------------------------------


@fixture("nullable_strings", ["h5ad", "zarr"], special=["obs/label", "obs/label_na", "var/symbol"])
def nullable_strings_fx(path):
    """nullable-string-array (anndata 0.11, opt-in) without na-value, with na-value NA (0.13) and
    with na-value NaN; the mask marks missing values, stored as ""."""
    r = new_store(path)
    modern_base(r, obs_columns=[
        ("label", lambda g, c: nullable_strings(g, c, ["a", None, "ü b", ""])),
        ("label_na", lambda g, c: nullable_strings(g, c, [None, "x", "y", None], na_value="NA")),
    ], var_columns=[
        ("symbol", lambda g, c: nullable_strings(g, c, ["CD4", None, "MS4A1"], na_value="NaN")),
    ])
    close_store(r)


@fixture("null_uns", ["h5ad", "zarr"], special=["uns/nothing", "uns/nested/none"])
def null_uns_fx(path):
    """anndata 0.12's `null` encoding for None values in uns (top level and nested)."""
    r = new_store(path)
    modern_base(r)
    null_element(r["uns"], "nothing")
    nested = r["uns"].create_group("nested")
    enc(nested, "dict", "0.1.0")
    null_element(nested, "none")
    array_ds(nested, "kept", np.array([1, 2, 3], dtype=np.int32))
    close_store(r)


@fixture("raw_null", ["zarr"], special=["raw"], absent_ok=["raw"])
def raw_null_fx(path):
    """anndata 0.12 zarr writes `raw` as a null element when the object has no raw."""
    r = new_store(path)
    modern_base(r)
    null_element(r, "raw")
    close_store(r)


@fixture("string_scalars", ["h5ad", "zarr"])
def string_scalars_fx(path):
    """String scalars: zarr <= 0.11 fixed-width <U (UTF-32), 0.12 variable-length (object, vlen-utf8);
    h5ad variable-length UTF-8 (every version) and fixed-length (other writers)."""
    r = new_store(path)
    modern_base(r)
    uns = r["uns"]
    if is_h5(r):
        ds = uns.create_dataset("vlen", data=np.array("hé llo", dtype=VLEN))
        enc(ds, "string", "0.2.0")
        ds = fixed_utf8_scalar(uns, "fixed", "fixed wïdth")
        enc(ds, "string", "0.2.0")
    else:
        import numcodecs

        ds = uns.create_dataset("vlen", shape=(), dtype=object, object_codec=numcodecs.VLenUTF8())
        ds[...] = "hé llo"
        enc(ds, "string", "0.2.0")
        ds = uns.create_dataset("fixed", data=np.array("fixed wïdth"))  # <U11
        assert ds.dtype == np.dtype("<U11")
        enc(ds, "string", "0.2.0")
    ds = uns.create_dataset("empty", data=np.array("", dtype=VLEN) if is_h5(r) else np.array(""))
    enc(ds, "string", "0.2.0")
    close_store(r)


@fixture("awkward", ["h5ad", "zarr"], special=["uns/ragged", "obsm/ragged"])
def awkward_fx(path):
    """awkward-array 0.1.0 (anndata >= 0.9) in uns and in obsm (length n_obs)."""
    r = new_store(path)
    modern_base(r)
    awkward_lists(r["uns"], "ragged", [[1.5, 2.0], [], [3.0]])
    awkward_lists(r["obsm"], "ragged", [[1.0], [2.0, 3.0], [], [4.5, 5.5, 6.5]])
    array_ds(r["obsm"], "X_pca", np.ones((N_OBS, 2)))
    close_store(r)


@fixture("df_in_obsm", ["h5ad", "zarr"])
def df_in_obsm_fx(path):
    """Data frames in obsm and varm (anndata 0.8 writes these itself), one without columns."""
    a = ad.AnnData(X_DENSE.copy(), obs=pd.DataFrame(index=OBS_NAMES), var=pd.DataFrame(index=VAR_NAMES))
    a.obsm["meta"] = pd.DataFrame({"score": [0.5, 1.5, 2.5, 3.5], "cat": pd.Categorical(["a", "b", "a", "b"]),
                                   "count": np.arange(4, dtype=np.int32)}, index=OBS_NAMES)
    a.varm["info"] = pd.DataFrame({"flag": [True, False, True]}, index=VAR_NAMES)
    a.obsm["X_pca"] = np.ones((N_OBS, 2), dtype=np.float32)
    a.obsm["no_columns"] = pd.DataFrame(index=OBS_NAMES)  # h5ad: column-order an empty float64 array
    a.write_h5ad(path) if path.endswith(".h5ad") else a.write_zarr(path)


@fixture("categorical_kinds", ["h5ad", "zarr"])
def categorical_kinds_fx(path):
    """Categoricals with int and float categories, int8 (anndata's default) and int16 codes, an
    ordered one with all codes -1 but one."""
    r = new_store(path)

    def categorical(codes, categories, ordered=False, cat_writer=array_ds):
        def w(g, c):
            cg = g.create_group(c)
            enc(cg, "categorical", "0.2.0")
            cg.attrs["ordered"] = ordered
            array_ds(cg, "codes", codes)
            cat_writer(cg, "categories", categories)
        return w

    modern_base(r, obs_columns=[
        ("int_cats", categorical(np.array([0, 1, -1, 1], dtype=np.int8), np.array([10, 20], dtype=np.int64))),
        ("float_cats", categorical(np.array([1, 0, 0, 1], dtype=np.int8), np.array([0.5, 1.5]))),
        ("int16_codes", categorical(np.array([2, -1, 0, 1], dtype=np.int16), ["x", "y", "z"], ordered=True,
                                    cat_writer=strings_ds)),
        ("uint_cats", categorical(np.array([0, 0, 1, -1], dtype=np.int8), np.array([3, 7], dtype=np.uint16))),
    ], var_columns=[
        ("int32_codes", categorical(np.array([0, 1, 0], dtype=np.int32), ["p", "q"], cat_writer=strings_ds)),
    ])
    close_store(r)


@fixture("unsigned_indices", ["h5ad", "zarr"])
def unsigned_indices_fx(path):
    """CSR X with uint16 indices and uint32 indptr; a CSC layer with uint32 indices and indptr
    (anndata 0.12.9+ keeps unsigned indices)."""
    r = new_store(path)
    modern_base(r, x=False)
    m = sp.csr_matrix(X_DENSE * (X_DENSE > 0))
    csr(r, "X", m, index_dtype=np.uint16, indptr_dtype=np.uint32)
    c = sp.csc_matrix(np.eye(N_OBS, N_VARS) * 2.5)
    g = r["layers"].create_group("counts")
    enc(g, "csc_matrix", "0.1.0")
    g.attrs["shape"] = shape_attr(g, c.shape)
    g.create_dataset("data", data=c.data)
    g.create_dataset("indices", data=c.indices.astype(np.uint32))
    g.create_dataset("indptr", data=c.indptr.astype(np.uint32))  # scipy cannot densify uint64 ones
    close_store(r)


@fixture("no_x", ["h5ad", "zarr"])
def no_x_fx(path):
    """An object of obs and var only: no X (any generation)."""
    r = new_store(path)
    modern_base(r, x=False)
    array_ds(r["obsm"], "emb", np.arange(8.0).reshape(N_OBS, 2))
    close_store(r)


@fixture("empty_column_order", ["h5ad"])
def empty_column_order_fx(path):
    """Dataframes without columns: h5py stores the empty column-order as an empty float64 array."""
    f = new_store(path)
    anndata_root(f)
    array_ds(f, "X", X_DENSE)
    for name, index in (("obs", OBS_NAMES), ("var", VAR_NAMES)):
        g = dataframe(f, name, index, [])
        assert g.attrs["column-order"].dtype == np.float64 and g.attrs["column-order"].size == 0
    f.close()


def _fixed_attrs_source(path):
    a = ad.AnnData(X_DENSE.copy(), obs=pd.DataFrame(
        {"cat": pd.Categorical(["a", "b", "a", "b"]), "val": np.arange(4.0), "name": ["w", "x", "y", "z"]},
        index=OBS_NAMES), var=pd.DataFrame({"gene": ["A", "B", "C"]}, index=pd.Index(VAR_NAMES, name="ids")))
    a.layers["sparse"] = sp.csr_matrix(X_DENSE * (X_DENSE > 1))
    a.uns["title"] = "from R"
    a.uns["params"] = {"k": 3, "method": "umap"}
    a.obsm["X_pca"] = np.ones((N_OBS, 2))
    a.write_h5ad(path)


@fixture("fixed_length_attrs", ["h5ad"], twin=_fixed_attrs_source)
def fixed_length_attrs_fx(path):
    """As written by R (hdf5r / rhdf5, ASCII) and Julia (HDF5.jl, UTF-8) writers: every string
    attribute (encoding-type, encoding-version, _index, column-order) fixed-length, not
    variable-length. The expected reading is the same object with variable-length attributes."""
    _fixed_attrs_source(path)
    f = h5py.File(path, "r+")
    count = [0]

    def rewrite(name, node):
        for k, v in list(node.attrs.items()):
            cset = "ascii" if count[0] % 2 == 0 else "utf-8"
            if isinstance(v, str):
                b = v.encode()
                del node.attrs[k]
                node.attrs.create(k, np.array(b, dtype=f"S{max(len(b), 1)}"),
                                  dtype=h5py.string_dtype(cset, max(len(b), 1)))
                count[0] += 1
            elif isinstance(v, np.ndarray) and v.dtype.kind == "O":
                bs = [x.encode() for x in v]
                width = max([len(b) for b in bs] + [1])
                del node.attrs[k]
                node.attrs.create(k, np.array(bs, dtype=f"S{width}"), dtype=h5py.string_dtype(cset, width))
                count[0] += 1

    rewrite("/", f)
    f.visititems(rewrite)
    f.close()
    f = h5py.File(path, "r")
    t = f["obs"].attrs.get_id("encoding-type").get_type()
    assert isinstance(t, h5py.h5t.TypeStringID) and not t.is_variable_str(), "not fixed-length"
    f.close()


@fixture("recarrays", ["h5ad", "zarr"])
def recarrays_fx(path):
    """rec-array 0.2.0 in uns (scanpy's rank_genes_groups): h5 compound with fixed-length S fields
    (anndata 0.7) and with variable-length str fields (0.8+); zarr structured dtype with U fields."""
    r = new_store(path)
    modern_base(r)
    rgg = r["uns"].create_group("rank_genes_groups")
    enc(rgg, "dict", "0.1.0")
    if is_h5(r):
        fixed = np.array([(b"g0", b"g2", 1.5), (b"g1", b"g0", -0.5)], dtype=[("A", "S2"), ("B", "S2"), ("s", "<f4")])
        ds = rgg.create_dataset("names_fixed", data=fixed)
        enc(ds, "rec-array", "0.2.0")
        vdt = np.dtype([("A", VLEN), ("B", VLEN), ("n", "<i4")])
        vl = np.array([("g0", "gène", 1), ("g1", "g0", 2)], dtype=vdt)
        ds = rgg.create_dataset("names_vlen", data=vl)
        enc(ds, "rec-array", "0.2.0")
    else:
        u = np.array([("g0", "gène", 1.5), ("g1", "g0", -0.5)], dtype=[("A", "<U2"), ("B", "<U4"), ("s", "<f8")])
        ds = rgg.create_dataset("names", data=u)
        enc(ds, "rec-array", "0.2.0")
    close_store(r)


# --- unknown encodings ------------------------------------------------------------------------


def future_thing(parent, name, rows=None):
    g = parent.create_group(name)
    enc(g, "my-future-thing", "0.3.0")
    array_ds(g, "payload", np.arange(rows or 3, dtype=np.int64))
    return g


UNKNOWN_ERROR = {"any": ["uns/future", "obsm/future"], "needles": ["my-future-thing", "0.3.0"]}


@fixture("unknown_encoding", ["h5ad", "zarr"], kind="unknown", error=UNKNOWN_ERROR,
         skip=["uns/future", "obsm/future"])
def unknown_encoding_fx(path):
    """An encoding from the future (encoding-type my-future-thing, 0.3.0) in uns and in obsm."""
    r = new_store(path)
    modern_base(r)
    future_thing(r["uns"], "future")
    future_thing(r["obsm"], "future", rows=N_OBS)
    array_ds(r["obsm"], "X_pca", np.ones((N_OBS, 2)))
    array_ds(r["uns"], "kept", np.array([1.0, 2.0]))
    close_store(r)


@fixture("unknown_version", ["h5ad", "zarr"], kind="unknown",
         error={"any": ["varm/loadings"], "needles": ["csr_matrix", "0.9.0"]}, skip=["varm/loadings"])
def unknown_version_fx(path):
    """A known encoding-type at a version nobody wrote yet (csr_matrix 0.9.0) in varm."""
    r = new_store(path)
    modern_base(r)
    g = csr(r["varm"], "loadings", np.eye(N_VARS))
    g.attrs["encoding-version"] = "0.9.0"
    close_store(r)


# --- corrupt legacy files -----------------------------------------------------------------------


def corrupt_category_reference(path, how):
    r = new_store(path)
    enc(r, "anndata", "0.1.0")
    array_ds(r, "X", X_DENSE, encoded=False)
    for name, index in (("obs", OBS_NAMES), ("var", VAR_NAMES)):
        g = r.create_group(name)
        enc(g, "dataframe", "0.1.0")
        g.attrs["_index"] = "_index"
        g.attrs["column-order"] = str_attr_list(g, ["cell_type"] if name == "obs" else [])
        strings_ds(g, "_index", index, encoded=False)
    obs = r["obs"]
    cats = obs.create_group("__categories")
    strings_ds(cats, "cell_type", ["T", "B"], encoded=False)
    codes = obs.create_dataset("cell_type", data=np.array([0, 1, 1, 0], dtype=np.int8))
    if how == "group":
        codes.attrs["categories"] = cats.ref if is_h5(r) else "__categories"
    elif is_h5(r):
        codes.attrs.create("categories", h5py.Reference(), dtype=h5py.ref_dtype)
    else:
        codes.attrs["categories"] = "__categories/cell_type_gone"
    for slot in ("uns", "obsm", "varm", "layers"):
        r.create_group(slot)
    close_store(r)


CATEGORY_REFERENCE_ERROR = {"any": ["obs/cell_type", "obs/__categories/cell_type", "obs/__categories"], "needles": []}


@fixture("corrupt_category_reference", ["h5ad", "zarr"], kind="corrupt", error=CATEGORY_REFERENCE_ERROR)
def corrupt_category_reference_fx(path):
    """anndata 0.7 dataframe 0.1.0 whose categorical column's `categories` reference points
    nowhere (h5ad: a null object reference; zarr: a path string to a missing array)."""
    corrupt_category_reference(path, "nowhere")


@fixture("corrupt_category_group", ["h5ad", "zarr"], kind="corrupt", error=CATEGORY_REFERENCE_ERROR)
def corrupt_category_group_fx(path):
    """anndata 0.7 categorical whose `categories` reference (path) names a group, not an array."""
    corrupt_category_reference(path, "group")


@fixture("corrupt_compound_index", ["h5ad"], kind="corrupt",
         error={"any": ["obs"], "needles": ["index"]})
def corrupt_compound_index_fx(path):
    """A pre-0.7 compound obs whose `index` field is float64, not a string."""
    f = new_store(path)
    f.create_dataset("X", data=X_DENSE)
    f.create_dataset("obs", data=np.array([(float(i), 1.0 * i) for i in range(N_OBS)],
                                          dtype=[("index", "<f8"), ("n", "<f8")]))
    f.create_dataset("var", data=legacy_frame(VAR_NAMES, [("m", np.arange(3.0))], True))
    f.create_group("uns")
    f.close()


@fixture("corrupt_compound_nested", ["h5ad"], kind="corrupt",
         error={"any": ["var", "var/inner"], "needles": ["inner"]})
def corrupt_compound_nested_fx(path):
    """A pre-0.7 compound var with a nested compound field (no column can hold it)."""
    f = new_store(path)
    f.create_dataset("X", data=X_DENSE)
    f.create_dataset("obs", data=legacy_frame(OBS_NAMES, [("n", np.arange(4.0))], True))
    dt = np.dtype([("index", "S2"), ("inner", [("a", "<i4"), ("b", "<f8")])])
    var = np.zeros(N_VARS, dtype=dt)
    var["index"] = [v.encode() for v in VAR_NAMES]
    var["inner"]["a"] = [1, 2, 3]
    f.create_dataset("var", data=var)
    f.create_group("uns")
    f.close()


@fixture("corrupt_legacy_codes", ["h5ad", "zarr"], kind="corrupt",
         error={"any": ["obs/louvain", "uns/louvain_categories", "louvain"], "needles": []})
def corrupt_legacy_codes_fx(path):
    """Pre-0.7: obs codes (5) out of range of uns/louvain_categories (two categories)."""
    r = new_store(path)
    bytes_strings = is_h5(r)
    r.create_dataset("X", data=X_DENSE)
    r.create_dataset("obs", data=legacy_frame(OBS_NAMES, [("louvain", np.array([0, 1, 5, 0], dtype=np.int8))],
                                              bytes_strings))
    r.create_dataset("var", data=legacy_frame(VAR_NAMES, [("m", np.arange(3.0))], bytes_strings))
    uns = r.create_group("uns")
    uns.create_dataset("louvain_categories", data=np.array([b"0", b"1"] if bytes_strings else ["0", "1"]))
    close_store(r)


@fixture("corrupt_codes", ["h5ad", "zarr"], kind="corrupt",
         error={"any": ["obs/cat", "obs/cat/codes"], "needles": []})
def corrupt_codes_fx(path):
    """categorical 0.2.0 with a code (3) beyond its two categories."""
    r = new_store(path)

    def bad(g, c):
        cg = g.create_group(c)
        enc(cg, "categorical", "0.2.0")
        cg.attrs["ordered"] = False
        array_ds(cg, "codes", np.array([0, 1, 3, -1], dtype=np.int8))
        strings_ds(cg, "categories", ["a", "b"])

    modern_base(r, obs_columns=[("cat", bad)])
    close_store(r)


# ---------------------------------------------------------------------------------------------
# Expectations


def repr_with_placeholders(twin_adata, src, special):
    """anndata's repr of the expected object: the twin's reading with the special elements put
    back (as placeholders) where the source file has them, in the source's key order."""
    a = twin_adata.copy()
    root = open_store(src)
    try:
        for slot in ("obs", "var"):
            cols = [e.split("/", 1)[1] for e in special if e.startswith(slot + "/") and e.count("/") == 1]
            if cols:
                order = norm_attr(root[slot].attrs["column-order"])
                df = getattr(a, slot)
                n = len(df)
                new = pd.DataFrame({c: (df[c] if c in df.columns else np.zeros(n)) for c in order}, index=df.index)
                setattr(a, slot, new)
        for slot in ("uns", "obsm", "varm", "layers", "obsp", "varp"):
            keys = [e.split("/")[1] for e in special if e.startswith(slot + "/")]
            if not keys:
                continue
            mapping = getattr(a, slot)
            current = dict(mapping)
            order = sorted(root[slot].keys())
            for k in keys:
                if k not in current:
                    rows = a.n_obs if slot in ("obsm", "layers", "obsp") else a.n_vars
                    current[k] = None if slot == "uns" else np.zeros((rows, 0) if slot in ("obsm", "varm") else (rows, rows))
            if slot == "uns":
                a.uns = {k: current[k] for k in order if k in current}
            else:
                for k in list(mapping.keys()):
                    del mapping[k]
                for k in order:
                    if k in current:
                        mapping[k] = current[k]
    finally:
        close_store(root)
    return repr(a).splitlines()


def write_expectation(outdir, fx):
    name, fmt = fx["name"], fx["fmt"]
    fname = f"{name}.{fmt}"
    path = os.path.join(outdir, fname)
    fx["writer"](path)
    exp = {"name": name, "file": fname, "kind": fx["kind"], "doc": " ".join((fx["writer"].__doc__ or "").split())}
    ok, said, a = anndata_says(path)
    exp["anndata_0_8"] = said
    if fx["kind"] == "read":
        special = fx["special"]
        twin = fx["twin"]
        if not special and twin is None:
            if not ok:
                raise RuntimeError(f"{fname}: the reference cannot read it ({said}); mark its special elements")
            exp.update(reference=True, twin=None, special={}, repr=repr(a).splitlines(), has_X=a.X is not None)
        else:
            twin_name = f"{name}.twin.{fmt}"
            twin_path = os.path.join(outdir, twin_name)
            if twin is None:
                strip(path, twin_path, special)
            else:
                twin(twin_path)
            tok, tsaid, ta = anndata_says(twin_path)
            if not tok:
                raise RuntimeError(f"{twin_name}: the reference cannot read the twin: {tsaid}")
            dumps = {}
            for e in special:
                out_e, want = fx["special_out"].get(e, (e, lambda p, e=e: dump_path(p, e)))
                dumps[out_e] = {"dump": want(path), "absent_ok": e in fx["absent_ok"], "source": e}
            exp.update(reference=False, twin=twin_name, special=dumps,
                       repr=repr_with_placeholders(ta, path, [e for e in special if e not in fx["absent_ok"]]),
                       has_X=ta.X is not None)
    elif fx["kind"] == "unknown":
        twin_name = f"{name}.twin.{fmt}"
        twin_path = os.path.join(outdir, twin_name)
        strip(path, twin_path, fx["skip"])
        tok, tsaid, ta = anndata_says(twin_path)
        if not tok:
            raise RuntimeError(f"{twin_name}: the reference cannot read the twin: {tsaid}")
        exp.update(reference=False, error=fx["error"],
                   skip={"warnings": fx["skip"], "twin": twin_name, "repr": repr(ta).splitlines()},
                   has_X=ta.X is not None)
    else:
        exp.update(reference=False, error=fx["error"])
    with open(path + ".expected.json", "w") as fh:
        json.dump(exp, fh, indent=1, ensure_ascii=False)
    return exp


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        p = os.path.join(outdir, f)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    for fx in FIXTURES:
        exp = write_expectation(outdir, fx)
        tag = {"read": "reference reads it" if exp.get("reference") else f"twin {exp.get('twin')}",
               "unknown": "unknown encoding", "corrupt": "corrupt"}[fx["kind"]]
        print(f"{exp['file']:40s} {tag}; anndata 0.8: {exp['anndata_0_8']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
