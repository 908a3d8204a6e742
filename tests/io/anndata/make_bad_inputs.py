#!/usr/bin/python3
"""Fixtures for io_bad_input_test: broken .h5ad and .zarr stores, made with the reference tools.

    /usr/bin/python3 make_bad_inputs.py OUTDIR

A valid base object is written with anndata 0.8 to both formats; every case copies it and breaks
one thing with h5py or zarr-python directly (or with raw bytes). OUTDIR/manifest.json lists each
case for the C++ test:

    name      unique, a valid gtest parameter name
    path      the broken file or store
    stage     "open": the lazy read must throw; "compute": the lazy read must succeed and
              materializing must throw (the chunk is read then); "any": one of the two;
              "none": a valid control that must read and compute without error
    errors    accepted tessera error types ("FormatError", "IoError", "ValueError", "Error" = any)
    contains  substrings the message must contain (the element, the file)

Run with Debian's interpreter (/usr/bin/python3): it has anndata, h5py, zarr and hdf5plugin.
"""
import json
import os
import shutil
import struct
import sys
import warnings

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
import zarr

warnings.simplefilter("ignore")

N_OBS, N_VARS = 6, 4


def base_object():
    rng = np.random.default_rng(7)
    X = sp.csr_matrix(
        np.array(
            [[1, 0, 2, 0], [0, 0, 3, 0], [4, 5, 0, 0], [0, 0, 0, 6], [7, 0, 0, 8], [0, 9, 0, 0]],
            dtype=np.float32,
        )
    )
    obs = pd.DataFrame(
        {
            "cat": pd.Categorical(["a", "b", "c", "a", None, "b"]),
            "num": np.arange(N_OBS, dtype=np.float64),
            "nint": pd.array([1, None, 3, 4, 5, None], dtype="Int64"),
        },
        index=[f"cell{i}" for i in range(N_OBS)],
    )
    var = pd.DataFrame({"g": np.arange(N_VARS, dtype=np.int32)}, index=[f"gene{j}" for j in range(N_VARS)])
    a = ad.AnnData(X, obs=obs, var=var)
    a.layers["dense"] = rng.random((N_OBS, N_VARS)).astype(np.float32)
    a.obsm["pca"] = rng.random((N_OBS, 2))
    a.uns["a"] = 1
    a.uns["arr"] = np.arange(5, dtype=np.int64)
    big = ad.AnnData(rng.random((N_OBS, N_VARS + 2)).astype(np.float32))
    big.var_names = [f"rawgene{j}" for j in range(N_VARS + 2)]
    big.var["m"] = np.arange(N_VARS + 2, dtype=np.float64)
    a.raw = big
    return a


class Cases:
    def __init__(self, out):
        self.out = out
        self.cases = []
        self.base = {}

    def write_base(self, adata):
        for fmt in ("h5ad", "zarr"):
            path = os.path.join(self.out, f"base.{fmt}")
            if fmt == "h5ad":
                adata.write_h5ad(path)
            else:
                adata.write_zarr(path)
            self.base[fmt] = path
            self.add(f"valid_base_{fmt}", path, "none", [], [])

    def add(self, name, path, stage, errors, contains):
        assert name not in {c["name"] for c in self.cases}, name
        self.cases.append(
            {"name": name, "path": os.path.abspath(path), "stage": stage, "errors": errors, "contains": contains}
        )

    def copy(self, fmt, name):
        src = self.base[fmt]
        dst = os.path.join(self.out, f"{name}.{fmt}")
        if fmt == "h5ad":
            shutil.copyfile(src, dst)
        else:
            shutil.copytree(src, dst)
        return dst

    def mutate(self, fmt, name, fn, stage, contains, errors=("FormatError",)):
        """A copy of the base in `fmt`, changed by fn(root group) with h5py or zarr."""
        case = f"{name}_{fmt}"
        path = self.copy(fmt, case)
        if fmt == "h5ad":
            with h5py.File(path, "r+") as f:
                fn(f)
        else:
            fn(zarr.open_group(path, mode="r+"))
        self.add(case, path, stage, list(errors), list(contains))
        return path

    def both(self, name, fn, stage, contains, errors=("FormatError",)):
        for fmt in ("h5ad", "zarr"):
            self.mutate(fmt, name, fn, stage, contains, errors)


def replace(group, name, data, **attrs):
    """Replaces dataset `name` of `group` with `data`, keeping (or setting) attributes."""
    old = dict(group[name].attrs) if name in group else {}
    del group[name]
    ds = group.create_dataset(name, data=data)
    for k, v in {**old, **attrs}.items():
        set_attr(ds, k, v)
    return ds


def set_attr(obj, key, value):
    if isinstance(obj, (zarr.hierarchy.Group, zarr.core.Array)) and isinstance(value, np.ndarray):
        value = value.tolist()  # zarr attributes are JSON
    obj.attrs[key] = value


def del_attr(obj, key):
    del obj.attrs[key]


def zarr_key_path(store, key):
    return os.path.join(store, *key.split("/"))


def write_json(path, doc):
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc))


def edit_zarray(cases, name, element, change, stage, contains, errors=("FormatError",)):
    """A zarr copy whose `element`/.zarray is changed by change(dict) (or replaced by a string)."""
    path = cases.copy("zarr", f"{name}_zarr")
    meta_path = zarr_key_path(path, element + "/.zarray")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    result = change(meta)
    write_json(meta_path, meta if result is None else result)
    cases.add(f"{name}_zarr", path, stage, list(errors), list(contains))


def make(out):
    os.makedirs(out, exist_ok=True)
    cases = Cases(out)
    cases.write_base(base_object())
    base_h5 = cases.base["h5ad"]
    size = os.path.getsize(base_h5)

    # ---- files that are not (whole) HDF5 files
    def raw_file(name, data, stage="open", errors=("FormatError", "IoError")):
        path = os.path.join(out, f"{name}.h5ad")
        with open(path, "wb") as f:
            f.write(data)
        cases.add(name, path, stage, list(errors), [f"{name}.h5ad"])

    with open(base_h5, "rb") as f:
        whole = f.read()
    raw_file("truncated_half", whole[: size // 2], stage="any")
    raw_file("truncated_head", whole[:1000], stage="any")
    raw_file("not_hdf5", b"this is not an HDF5 file, only text named like one\n" * 50)
    raw_file("empty_file", b"")
    raw_file("zarr_bytes_named_h5ad", b'{\n    "zarr_format": 2\n}')
    os.makedirs(os.path.join(out, "directory_named.h5ad"), exist_ok=True)
    cases.add("directory_named_h5ad", os.path.join(out, "directory_named.h5ad"), "open",
              ["FormatError", "IoError"], ["directory_named.h5ad"])
    not_zarr = os.path.join(out, "plain_directory.zarr")
    os.makedirs(not_zarr, exist_ok=True)
    with open(os.path.join(not_zarr, "readme.txt"), "w") as f:
        f.write("no .zgroup here\n")
    cases.add("plain_directory_zarr", not_zarr, "open", ["FormatError", "IoError"], ["plain_directory.zarr"])
    file_zarr = os.path.join(out, "regular_file.zarr")
    with open(file_zarr, "w") as f:
        f.write("a file, not a directory\n")
    cases.add("regular_file_zarr", file_zarr, "open", ["FormatError", "IoError"], ["regular_file.zarr"])

    # ---- missing or wrong attributes
    cases.both("X_without_encoding_type", lambda f: del_attr(f["X"], "encoding-type"), "open", ["X"])
    cases.both("csr_without_shape", lambda f: del_attr(f["X"], "shape"), "open", ["X", "shape"])
    cases.both("csr_shape_not_integers", lambda f: set_attr(f["X"], "shape", "six by four"), "open",
               ["X", "shape"])
    cases.both("csr_shape_negative", lambda f: set_attr(f["X"], "shape", np.array([-6, 4], dtype=np.int64)),
               "open", ["X", "shape"])
    cases.both("obs_without_index_attribute", lambda f: del_attr(f["obs"], "_index"), "open", ["obs", "_index"])
    cases.both("obs_index_names_missing_element",
               lambda f: set_attr(f["obs"], "_index", "no_such_index"), "open", ["no_such_index"])
    cases.both("obs_without_encoding_type", lambda f: del_attr(f["obs"], "encoding-type"), "open", ["obs"])
    cases.both("categorical_without_encoding_type", lambda f: del_attr(f["obs/cat"], "encoding-type"),
               "open", ["obs/cat"])
    cases.both("column_order_names_missing_column",
               lambda f: set_attr(f["obs"], "column-order", np.array(["cat", "ghost"], dtype=object)),
               "open", ["ghost"])
    cases.both("encoding_type_not_string", lambda f: set_attr(f["X"], "encoding-type", 7), "open", ["X"])

    # ---- unknown encodings and versions
    cases.both("unknown_matrix_encoding", lambda f: set_attr(f["X"], "encoding-type", "weird_matrix"), "open",
               ["X", "weird_matrix"])
    cases.both("unknown_column_encoding", lambda f: set_attr(f["obs/cat"], "encoding-type", "fancy-column"),
               "open", ["obs/cat", "fancy-column"])
    cases.both("unknown_uns_encoding", lambda f: set_attr(f["uns/arr"], "encoding-type", "mystery"), "open",
               ["uns/arr", "mystery"])
    cases.both("unsupported_csr_version", lambda f: set_attr(f["X"], "encoding-version", "0.9.0"), "open",
               ["X", "0.9.0"])
    cases.both("unsupported_root_version", lambda f: set_attr(f, "encoding-version", "9.0.0"), "open",
               ["9.0.0"])
    cases.both("unsupported_dataframe_version", lambda f: set_attr(f["obs"], "encoding-version", "0.3.0"),
               "open", ["obs", "0.3.0"])
    cases.both("unsupported_categorical_version",
               lambda f: set_attr(f["obs/cat"], "encoding-version", "0.5.0"), "open", ["obs/cat", "0.5.0"])
    cases.both("unsupported_nullable_version",
               lambda f: set_attr(f["obs/nint"], "encoding-version", "2.0.0"), "open", ["obs/nint", "2.0.0"])
    cases.both("unsupported_array_version",
               lambda f: set_attr(f["layers/dense"], "encoding-version", "0.7.0"), "open",
               ["layers/dense", "0.7.0"])

    # ---- shapes that disagree
    def x_more_rows(f):
        indptr = f["X/indptr"][...]
        replace(f["X"], "indptr", np.append(indptr, indptr[-1]).astype(indptr.dtype))
        set_attr(f["X"], "shape", np.array([N_OBS + 1, N_VARS], dtype=np.int64))

    cases.both("X_rows_differ_from_obs", x_more_rows, "open", ["X"])
    cases.both("csr_shape_disagrees_with_indptr",
               lambda f: set_attr(f["X"], "shape", np.array([N_OBS + 2, N_VARS], dtype=np.int64)), "open",
               ["X", "indptr"])
    cases.both("dense_layer_rows_differ",
               lambda f: replace(f["layers"], "dense", np.zeros((N_OBS + 1, N_VARS), dtype=np.float32)),
               "open", ["layers/dense"])
    cases.both("dense_layer_one_dimensional",
               lambda f: replace(f["layers"], "dense", np.zeros(N_OBS, dtype=np.float32)), "open",
               ["layers/dense"])
    cases.both("obsm_rows_differ", lambda f: replace(f["obsm"], "pca", np.zeros((N_OBS + 2, 2))), "open",
               ["obsm/pca"])
    cases.both("raw_X_columns_differ_from_raw_var",
               lambda f: replace(f["raw"], "X", np.zeros((N_OBS, N_VARS + 3), dtype=np.float32)), "open",
               ["raw"])
    cases.both("column_shorter_than_index", lambda f: replace(f["obs"], "num", np.arange(N_OBS - 2.0)), "open",
               ["obs/num"])
    cases.both("nullable_mask_shorter",
               lambda f: replace(f["obs/nint"], "mask", np.zeros(N_OBS - 1, dtype=bool)), "open", ["obs/nint"])

    # ---- sparse structure
    def poke(element, position, value, dtype=None):
        def fn(f):
            data = f[element][...]
            data = data.astype(dtype or data.dtype)
            data[position] = value
            group, name = element.rsplit("/", 1)
            replace(f[group], name, data)

        return fn

    # indptr of the base X is [0 2 3 5 6 8 9].
    cases.both("indptr_not_monotone", poke("X/indptr", 2, 6), "open", ["X", "indptr"])
    cases.both("indptr_past_the_end", poke("X/indptr", N_OBS, 50), "open", ["X", "indptr"])
    cases.both("indptr_middle_past_the_end", poke("X/indptr", 3, 1000), "open", ["X", "indptr"])
    cases.both("indptr_not_starting_at_zero", poke("X/indptr", 0, 1), "open", ["X", "indptr"])
    cases.both("indptr_of_floats",
               lambda f: replace(f["X"], "indptr", f["X/indptr"][...].astype(np.float64)), "open",
               ["X", "indptr"])
    cases.both("indices_out_of_range", poke("X/indices", 4, N_VARS + 3), "compute", ["X"])
    cases.both("indices_negative", poke("X/indices", 1, -1), "compute", ["X"])
    cases.both("indices_out_of_range_int64", poke("X/indices", 8, 2**40, np.int64), "compute", ["X"])
    cases.both("indices_equal_to_column_count", poke("X/indices", 0, N_VARS), "compute", ["X"])

    # ---- categoricals
    cases.both("categorical_code_out_of_range", poke("obs/cat/codes", 0, 3), "open", ["obs/cat"])
    cases.both("categorical_code_below_minus_one", poke("obs/cat/codes", 1, -7), "open", ["obs/cat"])
    cases.both("categorical_codes_of_floats",
               lambda f: replace(f["obs/cat"], "codes", f["obs/cat/codes"][...].astype(np.float32)), "open",
               ["obs/cat", "codes"])

    # ---- element names that try to leave their group (zarr keys) or the store
    # A store next to the zarr cases that a traversing reader would find: ../escape/.zarray etc.
    escape = os.path.join(out, "escape")
    z = zarr.open_array(escape, mode="w", shape=(N_OBS,), dtype=str)
    z[...] = np.array([f"escaped{i}" for i in range(N_OBS)])

    def zarr_only(name, fn, stage, contains, errors=("FormatError",)):
        cases.mutate("zarr", name, fn, stage, contains, errors)

    zarr_only("index_name_with_dotdot", lambda f: set_attr(f["obs"], "_index", "../../escape"), "open",
              ["obs", "../../escape"])
    zarr_only("column_name_with_dotdot",
              lambda f: set_attr(f["obs"], "column-order", ["cat", "../../escape"]), "open",
              ["obs", "../../escape"])
    zarr_only("column_name_is_dotdot", lambda f: set_attr(f["obs"], "column-order", [".."]), "open", ["obs"])

    def nested_column(f):
        sub = f["obs"].create_group("sub")
        sub.create_dataset("col", data=np.arange(N_OBS, dtype=np.float64))
        f["obs"].attrs["column-order"] = ["cat", "sub/col"]

    zarr_only("column_name_with_slash", nested_column, "open", ["obs", "sub/col"])
    zarr_only("index_name_absolute", lambda f: set_attr(f["obs"], "_index", "/var/_index"), "open",
              ["obs", "/var/_index"])
    zarr_only("column_name_is_metadata_key", lambda f: set_attr(f["obs"], "column-order", [".zattrs"]), "open",
              ["obs"])
    zarr_only("index_name_with_backslash", lambda f: set_attr(f["obs"], "_index", "..\\..\\escape"), "open",
              ["obs"])

    # HDF5 resolves "/var/_index" from the file's root: a name from the file must not.
    cases.mutate("h5ad", "index_name_absolute", lambda f: set_attr(f["obs"], "_index", "/var/_index"), "open",
                 ["obs", "/var/_index"])
    cases.mutate("h5ad", "column_name_absolute", lambda f: set_attr(f["obs"], "column-order", ["/obs/num"]),
                 "open", ["obs", "/obs/num"])
    cases.mutate("h5ad", "column_name_with_dotdot", lambda f: set_attr(f["obs"], "column-order", ["../X"]),
                 "open", ["obs", "../X"])

    # ---- zarr chunks that do not decode (read when the chunk is computed)
    def zarr_bytes(name, key, change, stage, contains, errors=("FormatError",)):
        path = cases.copy("zarr", f"{name}_zarr")
        chunk = zarr_key_path(path, key)
        with open(chunk, "rb") as f:
            data = f.read()
        with open(chunk, "wb") as f:
            f.write(change(data))
        cases.add(f"{name}_zarr", path, stage, list(errors), list(contains))

    garbage = bytes((i * 97 + 13) % 256 for i in range(300))
    zarr_bytes("corrupt_dense_chunk", "layers/dense/0.0", lambda d: garbage, "compute", ["layers/dense"])
    zarr_bytes("truncated_dense_chunk", "layers/dense/0.0", lambda d: d[: len(d) // 2], "compute",
               ["layers/dense"])
    zarr_bytes("blosc_header_lies", "layers/dense/0.0",
               lambda d: d[:4] + struct.pack("<I", 1 << 30) + d[8:], "compute", ["layers/dense"])
    zarr_bytes("corrupt_sparse_data_chunk", "X/data/0", lambda d: garbage, "compute", ["X"])
    zarr_bytes("corrupt_indptr_chunk", "X/indptr/0", lambda d: garbage, "open", ["X", "indptr"])
    zarr_bytes("corrupt_index_strings", "obs/_index/0", lambda d: garbage, "open", ["obs"])
    zarr_bytes("empty_dense_chunk", "layers/dense/0.0", lambda d: b"", "compute", ["layers/dense"])

    def uncompressed(name, element, chunk_key, payload, stage, contains):
        path = cases.copy("zarr", f"{name}_zarr")
        meta_path = zarr_key_path(path, element + "/.zarray")
        with open(meta_path) as f:
            meta = json.load(f)
        meta["compressor"] = None
        write_json(meta_path, meta)
        with open(zarr_key_path(path, chunk_key), "wb") as f:
            f.write(payload)
        cases.add(f"{name}_zarr", path, stage, ["FormatError"], contains)

    # 6x4 float32 is 96 bytes; give fewer.
    uncompressed("uncompressed_chunk_too_short", "layers/dense", "layers/dense/0.0", b"\0" * 40, "compute",
                 ["layers/dense"])
    # vlen-utf8: item count, then per item a length and the bytes. A length far past the end:
    uncompressed("vlen_length_past_the_end", "obs/_index", "obs/_index/0",
                 struct.pack("<I", N_OBS) + struct.pack("<I", 0xFFFFFFF0) + b"abc", "open", ["obs"])
    uncompressed("vlen_count_enormous", "obs/_index", "obs/_index/0", struct.pack("<I", 0xFFFFFFFF), "open",
                 ["obs"])
    uncompressed("vlen_invalid_utf8", "obs/_index", "obs/_index/0",
                 struct.pack("<I", N_OBS) + b"".join(struct.pack("<I", 2) + b"\xff\xfe" for _ in range(N_OBS)),
                 "open", ["obs"])

    # ---- hostile .zarray
    def set_key(key, value):
        def change(meta):
            meta[key] = value

        return change

    edit_zarray(cases, "zarray_negative_shape", "layers/dense", set_key("shape", [-6, 4]), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_enormous_shape", "layers/dense", set_key("shape", [2**62, 4]), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_shape_overflows", "layers/dense", set_key("shape", [2**62, 2**62]), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_shape_beyond_int64", "layers/dense", set_key("shape", [2**70, 4]), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_shape_of_floats", "layers/dense", set_key("shape", [6.5, 4]), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_three_dimensions", "layers/dense",
                lambda m: m.update(shape=[6, 4, 1], chunks=[6, 4, 1]), "open", ["layers/dense"])
    edit_zarray(cases, "zarray_zero_chunks", "layers/dense", set_key("chunks", [0, 4]), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_negative_chunks", "layers/dense", set_key("chunks", [-1, 4]), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_enormous_chunks", "layers/dense", set_key("chunks", [2**40, 2**40]), "any",
                ["layers/dense"])
    edit_zarray(cases, "zarray_chunks_rank_differs", "layers/dense", set_key("chunks", [6]), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_unknown_dtype", "layers/dense", set_key("dtype", "<c16"), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_nonsense_dtype", "layers/dense", set_key("dtype", "nonsense"), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_structured_dtype", "layers/dense", set_key("dtype", [["a", "<f4"]]), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_dtype_number", "layers/dense", set_key("dtype", 5), "open", ["layers/dense"])
    edit_zarray(cases, "zarray_huge_itemsize", "layers/dense", set_key("dtype", "<f99999999999"), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_unknown_compressor", "layers/dense", set_key("compressor", {"id": "lzma2000"}),
                "any", ["layers/dense"])
    edit_zarray(cases, "zarray_unknown_filter", "layers/dense", set_key("filters", [{"id": "rot13"}]), "any",
                ["layers/dense"])
    edit_zarray(cases, "zarray_bad_order", "layers/dense", set_key("order", "Q"), "open", ["layers/dense"])
    edit_zarray(cases, "zarray_wrong_format_version", "layers/dense", set_key("zarr_format", 7), "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_missing_keys", "layers/dense", lambda m: {"zarr_format": 2}, "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_malformed_json", "layers/dense", lambda m: '{"shape": [6, 4], ', "open",
                ["layers/dense"])
    edit_zarray(cases, "zarray_not_an_object", "layers/dense", lambda m: "[6, 4]", "open", ["layers/dense"])
    edit_zarray(cases, "zarray_bad_dimension_separator", "layers/dense",
                set_key("dimension_separator", "../"), "open", ["layers/dense"])
    edit_zarray(cases, "index_zarray_enormous", "obs/_index", set_key("shape", [2**62]), "open", ["obs"])
    edit_zarray(cases, "uns_array_enormous", "uns/arr", lambda m: m.update(shape=[2**40], chunks=[2**40]),
                "open", ["uns/arr"], errors=("FormatError", "IoError"))
    edit_zarray(cases, "uns_array_many_chunks", "uns/arr", lambda m: m.update(shape=[2**40], chunks=[1]),
                "open", ["uns/arr"], errors=("FormatError", "IoError"))

    def zattrs_text(name, element, text, contains):
        path = cases.copy("zarr", f"{name}_zarr")
        write_json(zarr_key_path(path, element + "/.zattrs"), text)
        cases.add(f"{name}_zarr", path, "open", ["FormatError"], contains)

    zattrs_text("zattrs_malformed_json", "obs", "{\"_index\": ", ["obs"])
    zattrs_text("zattrs_not_an_object", "obs", "[1, 2, 3]", ["obs"])
    os.remove(zarr_key_path(cases.copy("zarr", "root_without_zgroup_zarr"), ".zgroup"))
    cases.add("root_without_zgroup_zarr", os.path.join(out, "root_without_zgroup_zarr.zarr"), "open",
              ["FormatError"], ["root_without_zgroup_zarr.zarr"])

    # ---- hostile HDF5 datasets: huge declared sizes (nothing allocated by h5py)
    def h5_huge(f):
        del f["uns/arr"]
        ds = f["uns"].create_dataset("arr", shape=(2**40,), dtype=np.float64, chunks=(1024,))
        ds.attrs["encoding-type"] = "array"
        ds.attrs["encoding-version"] = "0.2.0"

    cases.mutate("h5ad", "uns_array_enormous", h5_huge, "open", ["uns/arr"], errors=("FormatError", "IoError"))

    def h5_huge_index(f):
        del f["obs/_index"]
        f["obs"].create_dataset("_index", shape=(2**40,), dtype=h5py.string_dtype(), chunks=(1024,))

    cases.mutate("h5ad", "index_enormous", h5_huge_index, "open", ["obs"], errors=("FormatError", "IoError"))

    def h5_huge_indptr(f):
        del f["X/indptr"]
        f["X"].create_dataset("indptr", shape=(2**40,), dtype=np.int64, chunks=(1024,))
        f["X"].attrs["shape"] = np.array([2**40 - 1, N_VARS], dtype=np.int64)

    cases.mutate("h5ad", "indptr_enormous", h5_huge_indptr, "open", ["X"], errors=("FormatError", "IoError"))

    def h5_corrupt_chunk(f):
        data = f["layers/dense"][...]
        attrs = dict(f["layers/dense"].attrs)
        del f["layers/dense"]
        ds = f["layers"].create_dataset("dense", data=data, chunks=(3, 4), compression="gzip")
        for k, v in attrs.items():
            ds.attrs[k] = v

    path = cases.mutate("h5ad", "corrupt_gzip_chunk", h5_corrupt_chunk, "compute", ["layers/dense"],
                        errors=("FormatError", "IoError"))
    with h5py.File(path, "r") as f:
        offset = f["layers/dense"].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(garbage[:32])

    # ---- damaged HDF5 metadata that crashes libhdf5 1.10 itself (a segmentation fault in
    # H5HG_read, seen in random-damage runs): the size of the first object of the first global
    # heap collection (where variable-length strings live) made huge, or past the collection.
    # Tessera reads the structure in a child process first and refuses the file.
    gcol = whole.find(b"GCOL")
    assert gcol >= 0 and whole[gcol + 4] == 1, "no global heap collection in the base file"
    for name, size_value in (("global_heap_object_huge", 0x00FFFFFFFFFFFF00),
                             ("global_heap_object_past_collection", 1 << 20)):
        damaged = bytearray(whole)
        struct.pack_into("<Q", damaged, gcol + 16 + 8, size_value)
        raw_file(name, bytes(damaged), errors=("FormatError",))

    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"cases": cases.cases}, f, indent=1)
    print(f"{len(cases.cases)} cases in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_bad_inputs.py OUTDIR")
    target = sys.argv[1]
    if os.path.exists(target):
        shutil.rmtree(target)
    make(target)
