#!/usr/bin/python3
"""Checks Tessera's concat and repr against the reference anndata (Debian's python3-anndata 0.8).

Usage: reference_check.py PROGRAM {concat|repr}   compare PROGRAM's output with anndata's
       reference_check.py {concat|repr}           print anndata's side only

PROGRAM (reference_cases.cpp) builds a fixed set of AnnData objects in C++ and prints, for each
case, either the result of tessera::concat (the repr, names, obs/var columns as text, every array
as numbers) or AnnData::repr(). This script builds the same objects with anndata, numpy, pandas
and scipy, runs anndata.concat with the same options (or repr), prints them in the same format
and compares case by case. PROGRAM runs once per case, so a crash spoils only its own case.

Both sides print numbers with '%.17g' and missing values as NA, so the comparison is exact. One
documented difference is kept out of the text: anndata 0.8 turns categorical columns with
different categories into object columns where Tessera keeps a categorical with the sorted union
of the categories; the values are compared as text, and categories only for the label column.
"""
import difflib
import subprocess
import sys
import warnings

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

warnings.simplefilter("ignore")


# ---- objects (mirrored in reference_cases.cpp) ---------------------------------------------------


def x_values(k, n_obs, n_vars):
    """X of object k: 100*k + r*n_vars + c + 1."""
    return (np.arange(n_obs * n_vars, dtype=np.float64).reshape(n_obs, n_vars) + 100 * k + 1)


def sparsified(values, k):
    """Zero where (r + c + k) % 3 == 0, as CSR."""
    out = values.copy()
    r, c = np.indices(out.shape)
    out[(r + c + k) % 3 == 0] = 0
    return sparse.csr_matrix(out)


def gene_number(name):
    return int(name[1:])


def var_frame(names):
    n = [gene_number(g) for g in names]
    return pd.DataFrame(
        {
            "gene_type": ["t%d" % i for i in n],
            "mean": np.array([0.25 * i for i in n], dtype=np.float64),
            "hv": np.array([i % 2 == 0 for i in n], dtype=bool),
        },
        index=pd.Index(names),
    )


def loadings(names):
    n = np.array([gene_number(g) for g in names], dtype=np.float64)
    return np.stack([n, n + 0.5], axis=1)


def obj_a(sparse_x=False):
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical(["x", "y", "x"], categories=["x", "y"]),
            "n_counts": np.array([10, 11, 12], dtype=np.int64),
            "score": np.array([0.5, 1.5, 2.25]),
            "kind": ["p", "q", "p"],
        },
        index=pd.Index(["a0", "a1", "a2"]),
    )
    var_names = ["g0", "g1", "g2", "g3"]
    x = x_values(0, 3, 4)
    X = sparsified(x, 0) if sparse_x else x
    a = ad.AnnData(X=X, obs=obs, var=var_frame(var_names), dtype=X.dtype)
    a.obsm["pca"] = np.arange(6, dtype=np.float64).reshape(3, 2) + 1000
    a.obsm["umap"] = np.arange(6, dtype=np.float64).reshape(3, 2) + 2000
    a.varm["loadings"] = loadings(var_names)
    a.layers["counts"] = x * 2
    a.layers["spliced"] = x + 0.5
    a.obsp["conn"] = np.eye(3)
    a.varp["corr"] = np.eye(4)
    a.uns["note"] = "hello"
    return a


def obj_b(sparse_x=False):
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical(["y", "z"], categories=["y", "z"]),
            "n_counts": np.array([20, 21], dtype=np.int64),
            "extra": np.array([9.5, 8.5]),
        },
        index=pd.Index(["b0", "b1"]),
    )
    var_names = ["g2", "g0", "g4", "g1"]
    x = x_values(1, 2, 4)
    X = sparsified(x, 1) if sparse_x else x
    b = ad.AnnData(X=X, obs=obs, var=var_frame(var_names), dtype=X.dtype)
    b.obsm["pca"] = np.arange(6, dtype=np.float64).reshape(2, 3) + 3000
    b.varm["loadings"] = loadings(var_names)
    b.layers["counts"] = x * 2
    return b


def obj_c():
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical(["x", "x", "y", "x"], categories=["x", "y"]),
            "n_counts": np.array([30, 31, 32, 33], dtype=np.int64),
            "score": np.array([3.5, 4.5, 5.5, 6.5]),
            "kind": ["q", "q", "p", "r"],
        },
        index=pd.Index(["c0", "c1", "c2", "c3"]),
    )
    var_names = ["g0", "g1", "g2", "g3"]
    x = x_values(2, 4, 4)
    X = sparsified(x, 2)
    c = ad.AnnData(X=X, obs=obs, var=var_frame(var_names), dtype=X.dtype)
    c.obsm["pca"] = np.arange(8, dtype=np.float64).reshape(4, 2) + 4000
    c.obsm["umap"] = np.arange(8, dtype=np.float64).reshape(4, 2) + 5000
    c.varm["loadings"] = loadings(var_names)
    c.varm["only_c"] = np.ones((4, 1))
    c.layers["counts"] = x * 2
    c.varp["corr"] = np.eye(4)
    return c


def obj_k():
    """Vars of A, obs columns of A's names in another order plus one of its own."""
    obs = pd.DataFrame(
        {
            "kind": ["r", "s"],
            "w": np.array([7.25, 8.25]),
            "batch": pd.Categorical(["y", "x"], categories=["x", "y"]),
            "n_counts": np.array([40, 41], dtype=np.int64),
        },
        index=pd.Index(["k0", "k1"]),
    )
    x = x_values(3, 2, 4)
    return ad.AnnData(X=x, obs=obs, var=var_frame(["g0", "g1", "g2", "g3"]), dtype=x.dtype)


def with_raw(a, extra):
    """a with raw: X's vars plus `extra` more (r4, r5, …), raw.X[r, c] = 0.5 * (r + c) + k."""
    names = list(a.var_names) + ["r%d" % (4 + i) for i in range(extra)]
    raw_x = np.fromfunction(lambda r, c: 0.5 * (r + c), (a.n_obs, len(names)))
    raw_x = raw_x + float(a.obs["n_counts"].iloc[0])
    raw_var = pd.DataFrame({"rv": np.arange(len(names), dtype=np.float64)}, index=pd.Index(names))
    raw = ad.AnnData(X=raw_x, var=raw_var, obs=pd.DataFrame(index=a.obs_names), dtype=raw_x.dtype)
    a = a.copy()
    a.raw = raw
    return a


def obj_n(k):
    """Objects with missing values: categorical with missing, nullable integer and bool."""
    if k == 0:
        obs = pd.DataFrame(
            {
                "grp": pd.Categorical(["u", None, "v"], categories=["u", "v"]),
                "cnt": pd.array([1, None, 3], dtype="Int64"),
                "flag": pd.array([True, None, False], dtype="boolean"),
            },
            index=pd.Index(["n0", "n1", "n2"]),
        )
    else:
        obs = pd.DataFrame(
            {
                "grp": pd.Categorical(["w", None], categories=["v", "w"]),
                "cnt": pd.array([None, 5], dtype="Int64"),
                "flag": pd.array([False, True], dtype="boolean"),
            },
            index=pd.Index(["m0", "m1"]),
        )
    x = x_values(k, obs.shape[0], 2)
    return ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=pd.Index(["g0", "g1"])), dtype=x.dtype)


def obj_axis1(k):
    """Objects for axis=1: shared observations, different variables."""
    if k == 0:
        obs_names, var_names = ["o0", "o1", "o2"], ["d0", "d1"]
        cond = ["ctl", "trt", "ctl"]
    else:
        obs_names, var_names = ["o1", "o0", "o3"], ["e0", "e1", "e2"]
        cond = ["trt", "ctl", "trt"]
    obs = pd.DataFrame({"cond": cond}, index=pd.Index(obs_names))
    vtype = ["v%d_%d" % (k, i) for i in range(len(var_names))]
    var = pd.DataFrame({"vtype": vtype}, index=pd.Index(var_names))
    x = x_values(k, len(obs_names), len(var_names))
    a = ad.AnnData(X=x, obs=obs, var=var, dtype=x.dtype)
    a.obsm["emb"] = np.arange(len(obs_names) * 2, dtype=np.float64).reshape(-1, 2) + 10 * k
    a.varm["vload"] = np.arange(len(var_names) * 2, dtype=np.float64).reshape(-1, 2) + 10 * k
    a.layers["L"] = x + 0.25
    return a


def obj_int(k):
    """Integer X (int64), vars g0, g1, g2 (object 1: g1, g2, g5 when k == 2)."""
    var_names = ["g1", "g2", "g5"] if k == 2 else ["g0", "g1", "g2"]
    x = (np.arange(6, dtype=np.int64).reshape(2, 3) + 10 * k)
    return ad.AnnData(
        X=x, obs=pd.DataFrame(index=pd.Index(["i%d_%d" % (k, r) for r in range(2)])),
        var=pd.DataFrame(index=pd.Index(var_names)), dtype=x.dtype)


def concat_cases():
    A, B, C = obj_a(), obj_b(), obj_c()
    As, Bs = obj_a(True), obj_b(True)
    yield "inner_AB", ad.concat([A, B])
    yield "outer_AB", ad.concat([A, B], join="outer")
    yield "outer_AB_fill", ad.concat([A, B], join="outer", fill_value=-1.0)
    yield "inner_ABC_label_keys", ad.concat(
        [A, B, C], label="source", keys=["A", "B", "C"], index_unique="-")
    yield "outer_ABC_label_default", ad.concat([A, B, C], join="outer", label="src", index_unique="_")
    def as_float32(a):
        a = a.copy()
        a.X = a.X.astype(np.float32)
        return a

    yield "outer_AB_float32", ad.concat([as_float32(A), as_float32(B)], join="outer")
    yield "outer_sparse_AB", ad.concat([As, Bs], join="outer")
    yield "outer_dense_sparse_AB", ad.concat([A, Bs], join="outer")
    yield "inner_AC_sparse_dense", ad.concat([A, C])
    for m in ["same", "unique", "first", "only"]:
        yield "merge_%s_ABC" % m, ad.concat([A, B, C], merge=m)
        yield "merge_%s_AC_outer" % m, ad.concat([A, C], join="outer", merge=m)
    yield "missing_values", ad.concat([obj_n(0), obj_n(1)], join="outer", label="part")
    D, E = obj_axis1(0), obj_axis1(1)
    yield "axis1_inner", ad.concat([D, E], axis=1, label="which", index_unique=":")
    yield "axis1_outer", ad.concat([D, E], axis=1, join="outer", merge="first")
    yield "axis1_outer_same", ad.concat([D, E], axis=1, join="outer", merge="same")
    yield "int_identical", ad.concat([obj_int(0), obj_int(1)])
    yield "int_outer", ad.concat([obj_int(0), obj_int(2)], join="outer")
    yield "raw_inner", ad.concat([with_raw(A, 1), with_raw(C, 2)])
    yield "raw_outer", ad.concat([with_raw(A, 1), with_raw(C, 2)], join="outer")
    yield "raw_merge_same", ad.concat([with_raw(A, 1), with_raw(C, 2)], merge="same")
    yield "column_order_inner", ad.concat([A, obj_k()])
    yield "column_order_outer", ad.concat([obj_k(), A], join="outer", merge="same")
    yield "same_object_twice", ad.concat([A, A], index_unique="-", label="copy", keys=["first", "second"])
    yield "view_inputs", ad.concat([A[[2, 0], ["g3", "g1", "g0"]], B[[True, False]]], join="outer")


# ---- text format (mirrored in reference_cases.cpp) ------------------------------------------------


def number(v):
    v = float(v)
    return "nan" if np.isnan(v) else "%.17g" % v


def dense(a):
    if sparse.issparse(a):
        return a.toarray()
    return np.asarray(a)


def array_lines(tag, a):
    layout = "sparse" if sparse.issparse(a) else "dense"
    d = dense(a)
    lines = ["%s %s %s %dx%d" % (tag, layout, d.dtype.name, d.shape[0], d.shape[1])]
    for row in d:
        lines.append("  " + " ".join(number(v) for v in row))
    return lines


def column_text(values):
    out = []
    for v in values:
        out.append("NA" if pd.isna(v) else str(v))
    return "|".join(out)


def frame_lines(tag, df, categories_of=()):
    lines = ["%s_names %s" % (tag, "|".join(df.index))]
    for col in df.columns:
        lines.append("%s[%s] %s" % (tag, col, column_text(df[col].tolist())))
        if col in categories_of:
            lines.append("%s[%s].categories %s" % (tag, col, "|".join(map(str, df[col].cat.categories))))
    return lines


def concat_text(name, a, label):
    lines = ["=== " + name]
    lines += repr(a).split("\n")
    lines += frame_lines("obs", a.obs, [label] if label else [])
    lines += frame_lines("var", a.var, [label] if label else [])
    if a.X is not None:
        lines += array_lines("X", a.X)
    for attr in ["layers", "obsm", "varm", "obsp", "varp"]:
        for k, v in getattr(a, attr).items():
            lines += array_lines("%s[%s]" % (attr, k), v)
    if a.raw is not None:
        lines += frame_lines("raw.var", a.raw.var)
        lines += array_lines("raw.X", a.raw.X)
    return lines


LABELS = {
    "inner_ABC_label_keys": "source",
    "outer_ABC_label_default": "src",
    "missing_values": "part",
    "axis1_inner": "which",
    "same_object_twice": "copy",
}


def repr_cases():
    A, B, C = obj_a(), obj_b(), obj_c()
    yield "empty", ad.AnnData(np.zeros((0, 0)), dtype=np.float64)
    yield "shape_only", ad.AnnData(
        obs=pd.DataFrame(index=["a", "b", "c"]), var=pd.DataFrame(index=["x", "y"]))
    yield "A", A
    yield "B", B
    yield "C", C
    yield "view_A_rows", A[[0, 2]]
    yield "view_A_all", A[:, :]
    yield "view_of_view", A[1:][:, ["g1", "g0"]]
    yield "copy_of_view", A[[0, 2]].copy()
    yield "concat_ABC", ad.concat([A, B, C], label="batch_id", merge="same")
    u = ad.AnnData(np.ones((2, 2)), dtype=np.float64)
    u.obs["it's"] = [1, 2]
    u.obs['say "hi"'] = [1, 2]
    u.var["both'\""] = [1.0, 2.0]
    u.var["größe 细胞 🧬"] = ["a", "b"]
    u.uns["back\\slash"] = 1
    u.uns["tab\there"] = "t"
    u.uns["new\nline"] = np.arange(3)
    u.obsm["émbedding"] = np.zeros((2, 1))
    u.varm["ключ"] = np.zeros((2, 1))
    u.layers["🙂"] = np.zeros((2, 2))
    u.obsp["dist'"] = np.zeros((2, 2))
    u.varp['"q"'] = np.zeros((2, 2))
    yield "unicode_quotes", u
    w = ad.AnnData(np.ones((1, 1)), dtype=np.float64)
    w.uns["nb\xa0space"] = 1
    w.uns["zero\u200bwidth"] = 2
    w.uns["bell\x07"] = 3
    yield "nonprintable_keys", w
    nested = ad.AnnData(np.ones((2, 3)), dtype=np.float64)
    nested.uns["params"] = {"n": 3, "sub": {"a": "b"}}
    nested.uns["table"] = pd.DataFrame({"c": [1, 2]})
    nested.uns["names"] = np.array(["x", "y"])
    yield "uns_nested", nested


def run_reference(mode):
    out = []
    if mode == "concat":
        for name, a in concat_cases():
            out += concat_text(name, a, LABELS.get(name))
    else:
        for name, a in repr_cases():
            out += ["=== " + name] + repr(a).split("\n")
    return out


def split_cases(lines):
    cases, name = {}, None
    order = []
    for line in lines:
        if line.startswith("=== "):
            name = line[4:]
            order.append(name)
            cases[name] = []
        elif name is not None:
            cases[name].append(line)
    return order, cases


def main():
    program, mode = sys.argv[1], sys.argv[2]
    expected = run_reference(mode)
    order, exp_cases = split_cases(expected)
    got_cases = {}
    for name in order:
        # One process per case: a crash in one case leaves the others comparable.
        run = subprocess.run([program, mode, name], capture_output=True, text=True)
        lines = run.stdout.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if run.returncode != 0:
            detail = (": " + run.stderr.strip()) if run.stderr.strip() else ""
            lines.append("exit status %d%s" % (run.returncode, detail))
        got_cases.update(split_cases(lines)[1])
        if name not in got_cases and run.returncode != 0:
            got_cases[name] = lines
    failed = []
    for name in order:
        e = exp_cases[name]
        g = got_cases.get(name)
        if g is None:
            print("[%s] missing from the C++ output" % name)
            failed.append(name)
            continue
        if g != e:
            failed.append(name)
            print("[%s] differs from anndata %s:" % (name, ad.__version__))
            if len(g) == 1 and (g[0].startswith("exit status") or g[0].startswith("error:")):
                print("    tessera failed: " + g[0])
                continue
            for line in difflib.unified_diff(e, g, "anndata", "tessera", lineterm="", n=2):
                print("    " + line)
        else:
            print("[%s] ok (%d lines)" % (name, len(e)))
    if failed:
        print("FAILED: %d of %d cases differ: %s" % (len(failed), len(order), ", ".join(failed)))
        return 1
    print("all %d %s cases equal anndata %s" % (len(order), mode, ad.__version__))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in ("concat", "repr"):
        print("\n".join(run_reference(sys.argv[1])))
        sys.exit(0)
    sys.exit(main())
