#!/usr/bin/python3
"""tessera qc / filter / normalize checked against scanpy's formulas, written here in numpy.

    analysis_check.py TESSERA --part qc|filter|normalize --ranks 0|1|2|3 --workdir DIR

scanpy is not in Debian, so the reference below is an independent numpy/scipy transcription of
what scanpy.pp.calculate_qc_metrics, filter_cells, filter_genes, normalize_total and log1p
compute (dtypes included: scipy's getnnz is int32, sums keep float dtypes and widen integers to
int64, means are float32 for float32 data, log1p keeps float32, percentages in float64 or float32
as pandas gives them). Inputs are generated counts (negative-binomial-like, MT- genes, all-zero
genes, near-empty and empty cells) as CSR and dense, float32, float64 and int32, in h5ad, Zarr v2,
Zarr v3 and Cell Ranger .h5, read in small chunks so that every rank owns some.

--ranks 0 runs tessera without a launcher; K > 0 under `mpirun -np K`. Every output is compared
with the reference (float32 within 1e-5 relative, float64 within 1e-9, integers and booleans
exactly), and with the output of one process (K = 1: no launcher; K > 1: `mpirun -np 1`), which
must hold the very same bits.
"""
import argparse
import os
import shutil
import subprocess
import sys

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "io", "anndata"))
import interop  # noqa: E402  (MPI_ENV)

RUN_TIMEOUT = 120
N_OBS, N_VARS, N_MT = 300, 120, 10
ZERO_GENES = range(20, 25)
READ = ["--read-chunk-bytes", "6000"]  # about 20-60 cells per chunk: several chunks per rank


class Checker:
    def __init__(self, tessera, ranks, workdir):
        self.tessera, self.ranks, self.workdir = tessera, ranks, workdir
        self.failures = []

    def path(self, name):
        return os.path.join(self.workdir, name)

    def run(self, args, ranks, expect_ok=True):
        cmd = [self.tessera, "--no-progress", *args]
        if ranks > 0:
            cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", *cmd]
        env = dict(os.environ, **interop.MPI_ENV)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
        except subprocess.TimeoutExpired:
            self.fail(" ".join(args), [f"no answer within {RUN_TIMEOUT} s (a hang)"])
            return None
        if expect_ok and p.returncode != 0:
            self.fail(" ".join(args), [f"exit {p.returncode} at {ranks} ranks", p.stderr.strip()])
            return None
        return p

    def fail(self, label, lines):
        self.failures.append((label, lines))
        print(f"FAIL {label}")
        for line in lines:
            print(f"     {line}")

    def check(self, label, problems):
        if problems:
            self.fail(label, problems)
        else:
            print(f"ok   {label}")


# ---------------------------------------------------------------------------------------------
# Generated counts


def counts(seed, n_obs=N_OBS, n_vars=N_VARS):
    """Negative-binomial-like counts: gene means spread over decades, cell size factors, MT- genes
    with a large share in some cells, all-zero genes and near-empty cells (cell 0 empty)."""
    rng = np.random.default_rng(seed)
    gene_mean = np.exp(rng.normal(-1.0, 1.5, n_vars))
    gene_mean[:N_MT] *= 4
    size = np.exp(rng.normal(0.0, 0.6, n_obs))
    size[rng.choice(n_obs, 15, replace=False)] *= 0.05  # poor cells
    mu = size[:, None] * gene_mean[None, :]
    mito_heavy = rng.choice(n_obs, 20, replace=False)
    mu[mito_heavy, :N_MT] *= 30
    r = 2.0
    X = rng.negative_binomial(r, r / (r + mu)).astype(np.int64)
    X[:, list(ZERO_GENES)] = 0
    X[0, :] = 0
    X[1, :] = 0
    X[1, 30] = 1
    X[2, :] = 0
    X[2, [0, 40]] = [2, 1]
    return X


def names(n_obs=N_OBS, n_vars=N_VARS):
    var = [f"MT-{i}" if i < N_MT else f"GENE{i}" for i in range(n_vars)]
    var[N_MT] = "mt-lower"  # not a prefix match: case matters
    return [f"cell{i}" for i in range(n_obs)], var


def make_object(X, sparse):
    obs_names, var_names = names(X.shape[0], X.shape[1])
    obs = pd.DataFrame({"batch": pd.Categorical(["a", "b", "c"] * (X.shape[0] // 3))},
                       index=obs_names)
    var = pd.DataFrame({"gene_ids": [f"ENSG{i:05d}" for i in range(X.shape[1])]}, index=var_names)
    return ad.AnnData(sp.csr_matrix(X) if sparse else X, obs=obs, var=var)


def write_cellranger(path, X, var_names):
    """A Cell Ranger >= 3 matrix: features x barcodes stored as CSC, i.e. the cells' CSR."""
    m = sp.csr_matrix(X.astype(np.int32))
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g["barcodes"] = np.array([f"AAAC{i:06d}-1".encode() for i in range(X.shape[0])])
        g["data"] = m.data.astype(np.int32)
        g["indices"] = m.indices.astype(np.int64)
        g["indptr"] = m.indptr.astype(np.int64)
        g["shape"] = np.array([X.shape[1], X.shape[0]], dtype=np.int32)
        feat = g.create_group("features")
        feat["id"] = np.array([f"ENSG{i:05d}".encode() for i in range(X.shape[1])])
        feat["name"] = np.array([v.encode() for v in var_names])
        feat["feature_type"] = np.array([b"Gene Expression"] * X.shape[1])
        feat["genome"] = np.array([b"GRCh38"] * X.shape[1])
        feat["_all_tag_keys"] = np.array([b"genome"])


def write_inputs(c):
    """name -> (path, AnnData as the reference sees it)."""
    out = {}
    a = make_object(counts(1).astype(np.float32), sparse=True)
    a.layers["ints"] = sp.csr_matrix(counts(2).astype(np.int32))
    a.write_h5ad(c.path("csr32.h5ad"))
    out["csr32"] = (c.path("csr32.h5ad"), a)

    k = make_object(counts(8).astype(np.float32), sparse=True)
    k.X = sp.csc_matrix(k.X)
    k.write_h5ad(c.path("csc32.h5ad"))
    out["csc32"] = (c.path("csc32.h5ad"), k)

    b = make_object(counts(3).astype(np.float32), sparse=False)
    b.write_zarr(c.path("dense32.zarr"), chunks=(32, N_VARS))
    out["dense32"] = (c.path("dense32.zarr"), b)

    i = make_object(counts(4).astype(np.int32), sparse=True)
    i.write_zarr(c.path("csrint.zarr"))
    out["csrint"] = (c.path("csrint.zarr"), i)

    d = make_object(counts(5).astype(np.float64) * 0.5, sparse=False)
    d.layers["L"] = counts(6).astype(np.float64)
    d.write_h5ad(c.path("dense64.h5ad"))
    out["dense64"] = (c.path("dense64.h5ad"), d)

    # Zarr v3 (sharded) and Cell Ranger inputs of the counts of csr32.
    p = c.run(["convert", c.path("dense32.zarr"), c.path("dense32_v3.zarr"), "--zarr-format", "3",
               "--chunks", "16", "--shards", "64"], 0)
    if p is not None:
        out["dense32_v3"] = (c.path("dense32_v3.zarr"), b)
    p = c.run(["convert", c.path("csr32.h5ad"), c.path("csr32.zarr.zip")], 0)
    if p is not None:
        out["csr32_zip"] = (c.path("csr32.zarr.zip"), a)
    X = counts(7)
    _, var_names = names()
    write_cellranger(c.path("cellranger.h5"), X, var_names)
    r = ad.AnnData(sp.csr_matrix(X.astype(np.float32)))
    r.obs_names = [f"AAAC{i:06d}-1" for i in range(N_OBS)]
    r.var_names = var_names
    r.var["gene_ids"] = [f"ENSG{i:05d}" for i in range(N_VARS)]
    r.var["feature_types"] = ["Gene Expression"] * N_VARS
    r.var["genome"] = ["GRCh38"] * N_VARS
    out["cellranger"] = (c.path("cellranger.h5"), r)
    return out


# ---------------------------------------------------------------------------------------------
# The reference: scanpy's formulas in numpy


def dense_of(m):
    return m.toarray() if sp.issparse(m) else np.asarray(m)


def sum_dtype(dtype):
    return dtype if dtype.kind == "f" else np.dtype(np.int64)


def log1p_dtype(dtype):
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


def typed(values, dtype):
    return np.asarray(values).astype(dtype)


def pct_of(part, total, S):
    """pandas' total_counts_{q} / total_counts * 100 on the sums' dtype: float32 arithmetic for
    float32 sums (where 51 / 170 * 100 is 30.000002, above 30), float64 for integer sums."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return typed(part, S) / typed(total, S) * 100


def ref_qc(a, qc_vars, percent_top, layer=None, log1p=True):
    """calculate_qc_metrics(a, qc_vars=..., percent_top=..., inplace=True): (obs, var) frames."""
    m = a.layers[layer] if layer else a.X
    X = dense_of(m)
    Xd = X.astype(np.float64)
    S = sum_dtype(X.dtype)
    obs, var = a.obs.copy(), a.var.copy()
    for name, prefix in qc_vars:
        var[name] = np.array([v.startswith(prefix) for v in a.var_names])
    # scipy's getnnz(axis=1): np.diff of a CSR's int32 indptr, a bincount (int64) for CSC.
    n = np.count_nonzero(X, axis=1).astype(np.int32 if sp.isspmatrix_csr(m) else np.int64)
    obs["n_genes_by_counts"] = n
    obs["log1p_n_genes_by_counts"] = np.log1p(n.astype(np.float64))
    total = typed(Xd.sum(axis=1), S)
    obs["total_counts"] = total
    obs["log1p_total_counts"] = typed(np.log1p(Xd.sum(axis=1)), log1p_dtype(S))
    if percent_top:
        top = -np.sort(-Xd, axis=1)
        cum = np.cumsum(top, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for k in sorted(percent_top):
                obs[f"pct_counts_in_top_{k}_genes"] = cum[:, k - 1] / Xd.sum(axis=1) * 100
    for name, _ in qc_vars:
        q = Xd[:, var[name].values].sum(axis=1)
        obs[f"total_counts_{name}"] = typed(q, S)
        obs[f"log1p_total_counts_{name}"] = typed(np.log1p(q), log1p_dtype(S))
        obs[f"pct_counts_{name}"] = pct_of(q, Xd.sum(axis=1), S)
    mean_dtype = np.float32 if X.dtype == np.float32 else np.float64
    ncells = np.count_nonzero(X, axis=0).astype(np.int64)
    var["n_cells_by_counts"] = ncells
    var["mean_counts"] = typed(Xd.mean(axis=0), mean_dtype)
    var["log1p_mean_counts"] = typed(np.log1p(Xd.mean(axis=0)), mean_dtype)
    var["pct_dropout_by_counts"] = (1 - ncells / X.shape[0]) * 100
    var["total_counts"] = typed(Xd.sum(axis=0), S)
    var["log1p_total_counts"] = typed(np.log1p(Xd.sum(axis=0)), log1p_dtype(S))
    if not log1p:
        obs = obs[[k for k in obs.columns if not k.startswith("log1p_")]]
        var = var[[k for k in var.columns if not k.startswith("log1p_")]]
    return obs, var


def ref_filter(a, min_genes=None, max_genes=None, min_counts=None, max_counts=None, max_pct=(),
               min_cells=None, mask_from_var=True):
    """filter_cells(min_genes), (max_genes), (min_counts), (max_counts), the
    pct_counts_{qc} <= P cut, then filter_genes(min_cells): (obs, var, X)."""
    X = dense_of(a.X)
    Xd = X.astype(np.float64)
    obs, var = a.obs.copy(), a.var.copy()
    keep = np.ones(X.shape[0], dtype=bool)
    if min_genes is not None or max_genes is not None:
        ng = (X > 0).sum(axis=1).astype(np.int64)
        obs["n_genes"] = ng
        if min_genes is not None:
            keep &= ng >= min_genes
        if max_genes is not None:
            keep &= ng <= max_genes
    if min_counts is not None or max_counts is not None:
        nc = typed(Xd.sum(axis=1), sum_dtype(X.dtype))
        obs["n_counts"] = nc
        if min_counts is not None:
            keep &= nc >= min_counts
        if max_counts is not None:
            keep &= nc <= max_counts
    for name, limit in max_pct:
        if mask_from_var:
            pct = pct_of(Xd[:, var[name].values].sum(axis=1), Xd.sum(axis=1), sum_dtype(X.dtype))
        else:
            pct = obs[f"pct_counts_{name}"].values
        keep &= pct <= limit
    obs = obs[keep]
    Xk = X[keep]
    if min_cells is not None:
        nce = (Xk > 0).sum(axis=0).astype(np.int64)
        var["n_cells"] = nce
        gkeep = nce >= min_cells
        var = var[gkeep]
        Xk = Xk[:, gkeep]
    return obs, var, Xk


def ref_normalize(m, target_sum=None, log1p=False):
    """normalize_total then log1p of one matrix, in the dtype scanpy computes in."""
    X = dense_of(m)
    dt = X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)
    Xf = X.astype(dt)
    cnt = typed(Xf.astype(np.float64).sum(axis=1), dt)
    if target_sum is None:
        target = np.median(cnt[cnt > 0])
    else:
        target = dt.type(target_sum)
    scaled = cnt / dt.type(target)
    scaled = scaled + (scaled == 0)
    out = Xf / scaled[:, None]
    if log1p:
        out = np.log1p(out)
    return out, float(target)


# ---------------------------------------------------------------------------------------------
# Comparisons


def tolerance(dtype):
    return 1e-5 if dtype == np.float32 else 1e-9


def compare_values(label, got, exp):
    got, exp = np.asarray(got), np.asarray(exp)
    if got.dtype != exp.dtype:
        return [f"{label}: dtype {got.dtype}, expected {exp.dtype}"]
    if got.shape != exp.shape:
        return [f"{label}: shape {got.shape}, expected {exp.shape}"]
    if got.dtype.kind != "f":
        bad = np.flatnonzero(got.ravel() != exp.ravel())
        if bad.size:
            k = bad[0]
            return [f"{label}: {bad.size} values differ, first at {k}: {got.ravel()[k]} vs {exp.ravel()[k]}"]
        return []
    g, e = got.astype(np.float64).ravel(), exp.astype(np.float64).ravel()
    if not np.array_equal(np.isnan(g), np.isnan(e)):
        return [f"{label}: NaN at {np.flatnonzero(np.isnan(g) != np.isnan(e))[:5]}"]
    ok = ~np.isnan(e)
    err = np.abs(g[ok] - e[ok]) / np.maximum(np.abs(e[ok]), 1e-12)
    tol = tolerance(got.dtype)
    if err.size and err.max() > tol:
        k = int(np.argmax(err))
        return [f"{label}: relative error {err.max():.3g} > {tol} ({g[ok][k]!r} vs {e[ok][k]!r})"]
    return []


def compare_frame(label, got, exp):
    problems = []
    if list(got.index) != list(exp.index):
        problems.append(f"{label}: index differs ({len(got.index)} vs {len(exp.index)} names)")
        return problems
    if list(got.columns) != list(exp.columns):
        return [f"{label}: columns {list(got.columns)}, expected {list(exp.columns)}"]
    for col in exp.columns:
        if isinstance(exp[col].dtype, pd.CategoricalDtype):
            if list(got[col].astype(str)) != list(exp[col].astype(str)):
                problems.append(f"{label}[{col}]: categorical values differ")
            continue
        if exp[col].dtype == object:
            if list(got[col]) != list(exp[col]):
                problems.append(f"{label}[{col}]: values differ")
            continue
        problems += compare_values(f"{label}[{col}]", got[col].values, exp[col].values)
    return problems


def compare_matrix(label, got, exp, sparse):
    if sp.issparse(got) != sparse:
        return [f"{label}: {'sparse' if sp.issparse(got) else 'dense'}, expected the input's layout"]
    return compare_values(label, dense_of(got), np.asarray(exp))


def read(path):
    return ad.read_zarr(path) if path.endswith(".zarr") else ad.read_h5ad(path)


def matrix_bits(m):
    if sp.issparse(m):
        m = sp.csr_matrix(m)
        return ("csr", m.shape, m.dtype.str, m.data.tobytes(), m.indices.astype(np.int64).tobytes(),
                m.indptr.astype(np.int64).tobytes())
    m = np.asarray(m)
    return ("dense", m.shape, m.dtype.str, m.tobytes())


def frame_bits(f):
    return [(str(k), f[k].dtype.str if hasattr(f[k].dtype, "str") else str(f[k].dtype),
             f[k].astype(str).tolist() if f[k].dtype == object or isinstance(f[k].dtype, pd.CategoricalDtype)
             else f[k].values.tobytes()) for k in f.columns] + [list(f.index)]


def same_bits(p_one, p_many):
    """Problems if two outputs differ in any bit of X, layers, obs or var."""
    a, b = read(p_one), read(p_many)
    problems = []
    if matrix_bits(a.X) != matrix_bits(b.X):
        problems.append("X differs from the 1-rank output")
    if sorted(a.layers.keys()) != sorted(b.layers.keys()):
        problems.append("layers differ from the 1-rank output")
    for k in a.layers.keys():
        if k in b.layers and matrix_bits(a.layers[k]) != matrix_bits(b.layers[k]):
            problems.append(f"layers[{k}] differs from the 1-rank output")
    for name in ("obs", "var"):
        if frame_bits(getattr(a, name)) != frame_bits(getattr(b, name)):
            problems.append(f"{name} differs from the 1-rank output")
    return problems


class Runner:
    """Runs one command at the test's rank count and at one process, checks the bits agree."""

    def __init__(self, c, compare=None):
        self.c = c
        self.baseline_ranks = 0 if c.ranks == 1 else (1 if c.ranks > 1 else None)
        self.compare = compare or same_bits

    def __call__(self, label, command, out, extra):
        c = self.c
        p = c.run([command[0], command[1], "-o", out, *extra], c.ranks)
        if p is None:
            return None
        c.last = p
        if self.baseline_ranks is not None:
            base, ext = os.path.splitext(out)
            one = base + ".one" + ext
            if c.run([command[0], command[1], "-o", one, *extra], self.baseline_ranks) is not None:
                c.check(f"{label}: the same bits at {c.ranks} ranks as in one process",
                        self.compare(one, out))
        return read(out)


# ---------------------------------------------------------------------------------------------
# Parts


def part_qc(c, inputs):
    run = Runner(c)
    top = [5, 10, 50, N_VARS]
    for name in ("csr32", "csc32", "dense32", "csrint", "dense64", "dense32_v3", "csr32_zip",
                 "cellranger"):
        if name not in inputs:
            c.fail(f"qc {name}", ["the input could not be made"])
            continue
        path, a = inputs[name]
        suffix = ".zarr" if name == "dense64" else ".h5ad"  # one zarr output too
        out = c.path(f"qc_{name}{suffix}")
        got = run(f"qc {name}", ["qc", path], out,
                  ["--qc-vars", "mt=MT-", "--percent-top", "50,5,120,10", *READ])
        if got is None:
            continue
        obs, var = ref_qc(a, [("mt", "MT-")], top)
        c.check(f"qc {name}: obs as calculate_qc_metrics", compare_frame("obs", got.obs, obs))
        c.check(f"qc {name}: var as calculate_qc_metrics", compare_frame("var", got.var, var))
        c.check(f"qc {name}: X unchanged",
                compare_matrix("X", got.X, dense_of(a.X).astype(np.float32) if name == "cellranger"
                               else dense_of(a.X), sp.issparse(a.X)))
    # A Zarr v3 output (anndata 0.8 reads no v3: tessera converts it back to h5ad) holds what the
    # h5ad output of the same command holds.
    path, a = inputs["csr32"]
    p = c.run(["qc", path, "-o", c.path("qc_v3.zarr"), "--zarr-format", "3", "--qc-vars", "mt=MT-",
               "--percent-top", "50,5,120,10", *READ], c.ranks)
    if p is not None and c.run(["convert", c.path("qc_v3.zarr"), c.path("qc_v3_back.h5ad")], 0):
        c.check("qc csr32 to Zarr v3: the same as the h5ad output",
                same_bits(c.path("qc_csr32.h5ad"), c.path("qc_v3_back.h5ad")))
    # A layer, two qc vars (one an existing bool column), no percent_top.
    path, a = inputs["csr32"]
    b = a.copy()
    b.var["ribo"] = [v.startswith("GENE1") for v in b.var_names]
    b.write_h5ad(c.path("csr32_ribo.h5ad"))
    got = run("qc --layer", ["qc", c.path("csr32_ribo.h5ad")], c.path("qc_layer.h5ad"),
              ["--layer", "ints", "--qc-vars", "mt=MT-,ribo", "--percent-top", "", "--no-log1p",
               *READ])
    if got is not None:
        obs, var = ref_qc(b, [("ribo", "GENE1"), ("mt", "MT-")], [], layer="ints", log1p=False)
        # --qc-vars order: mt first, then ribo (whose column already exists and keeps its place).
        obs = obs[[c_ for c_ in obs.columns if not c_.endswith("_ribo") and not c_.endswith("_mt")]
                  + [f"{p}_{q}" for q in ("mt", "ribo")
                     for p in ("total_counts", "pct_counts")]]
        var = var[["gene_ids", "ribo", "mt"] + [k for k in var.columns if k not in ("gene_ids", "ribo", "mt")]]
        c.check("qc --layer ints --no-log1p: obs", compare_frame("obs", got.obs, obs))
        c.check("qc --layer ints --no-log1p: var", compare_frame("var", got.var, var))
    p = c.run(["qc", path, "-o", c.path("bad.h5ad"), "--percent-top", "50,121"], c.ranks,
              expect_ok=False)
    if p is not None:
        c.check("qc --percent-top beyond n_vars fails (scanpy: IndexError)",
                [] if p.returncode == 1 and "outside range of features" in p.stderr
                and not os.path.exists(c.path("bad.h5ad"))
                else [f"exit {p.returncode}: {p.stderr.strip()}"])


def part_filter(c, inputs):
    run = Runner(c)
    for name in ("csr32", "dense32", "csrint", "dense64"):
        path, a = inputs[name]
        # Thresholds from the data's own spread, so that each one drops some cells.
        X = dense_of(a.X).astype(np.float64)
        totals = X.sum(axis=1)
        mt = X[:, :N_MT].sum(axis=1)
        pct_mt = np.round(np.quantile(mt[totals > 0] / totals[totals > 0] * 100, 0.9), 1)
        opts = dict(min_genes=int(np.quantile((X > 0).sum(axis=1), 0.1)),
                    max_genes=int(np.quantile((X > 0).sum(axis=1), 0.98)),
                    min_counts=int(np.quantile(totals, 0.15)),
                    max_counts=int(np.quantile(totals, 0.97)),
                    max_pct=[("mt", float(pct_mt))], min_cells=4)
        args = ["--min-genes", str(opts["min_genes"]), "--max-genes", str(opts["max_genes"]),
                "--min-counts", str(opts["min_counts"]),
                "--max-counts", str(opts["max_counts"]), "--max-pct", f"mt={pct_mt}",
                "--min-cells", "4", *READ]
        b = a.copy()
        b.var["mt"] = [v.startswith("MT-") for v in b.var_names]
        marked = c.path(f"marked_{name}.h5ad")
        b.write_h5ad(marked)
        out = c.path(f"filter_{name}.h5ad" if name != "csrint" else f"filter_{name}.zarr")
        got = run(f"filter {name}", ["filter", marked], out, args)
        if got is None:
            continue
        obs, var, X = ref_filter(b, **opts)
        problems = []
        if not (0 < len(obs) < b.n_obs and 0 < len(var) < b.n_vars):
            problems.append(f"the thresholds should drop some cells and genes: {len(obs)} cells, {len(var)} genes")
        for key in ("min_genes", "max_genes", "min_counts", "max_counts", "max_pct"):
            alone, _, _ = ref_filter(b, **{key: opts[key]})
            if len(alone) == b.n_obs:
                problems.append(f"{key} alone drops no cell")
        c.check(f"filter {name}: thresholds bite", problems)
        c.check(f"filter {name}: obs as filter_cells", compare_frame("obs", got.obs, obs))
        c.check(f"filter {name}: var as filter_genes", compare_frame("var", got.var, var))
        c.check(f"filter {name}: X is the kept cells and genes",
                compare_matrix("X", got.X, X, sp.issparse(a.X)))
        for key in b.layers.keys():
            rows = np.isin(b.obs_names, obs.index)
            cols = np.isin(b.var_names, var.index)
            c.check(f"filter {name}: layers[{key}] cut alike",
                    compare_matrix(key, got.layers[key], dense_of(b.layers[key])[rows][:, cols],
                                   sp.issparse(b.layers[key])))
    # --max-pct from obs pct_counts_mt (no var column), only genes, only cells.
    path, a = inputs["csr32"]
    b = a.copy()
    _, ref_var = ref_qc(b, [("mt", "MT-")], [])
    ref_obs, _ = ref_qc(b, [("mt", "MT-")], [])
    b.obs["pct_counts_mt"] = ref_obs["pct_counts_mt"]
    b.write_h5ad(c.path("pct_obs.h5ad"))
    got = run("filter --max-pct from obs", ["filter", c.path("pct_obs.h5ad")],
              c.path("filter_pct_obs.h5ad"), ["--max-pct", "mt=12.5", *READ])
    if got is not None:
        obs, var, X = ref_filter(b, max_pct=[("mt", 12.5)], mask_from_var=False)
        c.check("filter --max-pct mt=12.5 (obs column): obs", compare_frame("obs", got.obs, obs))
        c.check("filter --max-pct mt=12.5 (obs column): X",
                compare_matrix("X", got.X, X, True))
    # A bound just below a cell's float32 percentage that rounds to it in float32: numpy compares
    # float32 numbers with a Python float in float32, so the cell is kept (in double it would go).
    b = a.copy()
    b.var["mt"] = [v.startswith("MT-") for v in b.var_names]
    Xd = dense_of(b.X).astype(np.float64)
    pct = pct_of(Xd[:, :N_MT].sum(axis=1), Xd.sum(axis=1), np.dtype(np.float32))
    v = np.sort(pct[np.isfinite(pct) & (pct > 0)])[len(pct) // 2]
    below = float(np.nextafter(v, np.float32(-np.inf)))
    limit = (float(v) + below) / 2 + (float(v) - below) / 8
    problems = [] if np.float32(limit) == v and limit < float(v) else [f"bad bound {limit!r} for {v!r}"]
    b.write_h5ad(c.path("marked_edge.h5ad"))
    got = run("filter --max-pct at float32's edge", ["filter", c.path("marked_edge.h5ad")],
              c.path("filter_edge.h5ad"), ["--max-pct", f"mt={limit!r}", *READ])
    if got is not None:
        obs, var, X = ref_filter(b, max_pct=[("mt", limit)])
        if v not in pct[np.isin(b.obs_names, obs.index)]:
            problems.append("the reference should keep the cell at the bound")
        c.check(f"filter --max-pct mt={limit!r} (float32 {v!r}): obs as numpy compares",
                problems + compare_frame("obs", got.obs, obs))
    got = run("filter --min-cells", ["filter", inputs["dense32_v3"][0] if "dense32_v3" in inputs else path],
              c.path("filter_genes.h5ad"), ["--min-cells", "30", *READ])
    if got is not None:
        src = inputs["dense32_v3"][1] if "dense32_v3" in inputs else a
        obs, var, X = ref_filter(src, min_cells=30)
        c.check("filter --min-cells 30: var", compare_frame("var", got.var, var))
        c.check("filter --min-cells 30: X", compare_matrix("X", got.X, X, sp.issparse(src.X)))
    p = c.run(["filter", path, "-o", c.path("bad.h5ad"), "--max-pct", "ribo=5"], c.ranks,
              expect_ok=False)
    if p is not None:
        c.check("filter --max-pct of an unknown qc var fails naming what it needs",
                [] if p.returncode == 1 and "pct_counts_ribo" in p.stderr
                and not os.path.exists(c.path("bad.h5ad"))
                else [f"exit {p.returncode}: {p.stderr.strip()}"])


def part_normalize(c, inputs):
    run = Runner(c)
    cases = [
        ("csr32", ["--log1p", "--keep-counts", "counts"], dict(log1p=True), None, "counts"),
        ("dense32", ["--target-sum", "10000"], dict(target_sum=1e4), None, None),
        ("csrint", ["--log1p"], dict(log1p=True), None, None),
        ("dense64", ["--layer", "L", "--log1p", "--keep-counts", "raw_L"], dict(log1p=True), "L",
         "raw_L"),
        ("cellranger", ["--target-sum", "1e6"], dict(target_sum=1e6), None, None),
    ]
    for name, args, opts, layer, keep in cases:
        path, a = inputs[name]
        out = c.path(f"normalize_{name}.h5ad" if name != "csr32" else f"normalize_{name}.zarr")
        got = run(f"normalize {name}", ["normalize", path], out, [*args, *READ])
        if got is None:
            continue
        m = a.layers[layer] if layer else a.X
        exp, target = ref_normalize(m, **opts)
        where = f"layers[{layer}]" if layer else "X"
        normalized = got.layers[layer] if layer else got.X
        c.check(f"normalize {name}: {where} as normalize_total{' + log1p' if opts.get('log1p') else ''}",
                compare_matrix(where, normalized, exp, sp.issparse(m)))
        if layer:
            c.check(f"normalize {name}: X untouched", compare_matrix("X", got.X, dense_of(a.X),
                                                                     sp.issparse(a.X)))
        if keep:
            c.check(f"normalize {name}: layers[{keep}] holds the counts",
                    compare_matrix(keep, got.layers[keep], dense_of(m), sp.issparse(m)))
        problems = []
        if opts.get("log1p") and "log1p" not in got.uns:
            problems.append("uns['log1p'] missing")
        if not opts.get("log1p") and "log1p" in got.uns:
            problems.append("uns['log1p'] set without --log1p")
        line = c.last.stdout.strip().splitlines()[-1] if c.last.stdout.strip() else ""
        said = float(line.split("a total of ")[1].split(",")[0]) if "a total of " in line else None
        if said is None or abs(said - target) > 1e-6 * target:
            problems.append(f"target sum said {line!r}, reference {target!r}")
        c.check(f"normalize {name}: uns and the target sum", problems)


def every_slot(got, exp):
    """Problems where two objects differ in any bit of any slot: X, layers, obsm, varm, obsp, varp,
    raw (X, var names, varm), obs, var and uns's keys."""
    problems = []
    if got.shape != exp.shape:
        return [f"shape {got.shape}, expected {exp.shape}"]
    for name in ("obs", "var"):
        if frame_bits(getattr(got, name)) != frame_bits(getattr(exp, name)):
            problems.append(f"{name} differs")
    if (got.X is None) != (exp.X is None) or (exp.X is not None and matrix_bits(got.X) != matrix_bits(exp.X)):
        problems.append("X differs")
    for slot in ("layers", "obsm", "varm", "obsp", "varp"):
        g, e = getattr(got, slot), getattr(exp, slot)
        if sorted(g.keys()) != sorted(e.keys()):
            problems.append(f"{slot} keys {sorted(g.keys())}, expected {sorted(e.keys())}")
            continue
        for k in e.keys():
            if matrix_bits(g[k]) != matrix_bits(e[k]):
                problems.append(f"{slot}[{k}] differs")
    if (got.raw is None) != (exp.raw is None):
        problems.append(f"raw {'present' if got.raw is not None else 'missing'}")
    elif exp.raw is not None:
        if matrix_bits(got.raw.X) != matrix_bits(exp.raw.X):
            problems.append(f"raw.X differs ({got.raw.X.shape} vs {exp.raw.X.shape})")
        if list(got.raw.var_names) != list(exp.raw.var_names):
            problems.append("raw.var_names differ")
        for k in exp.raw.varm.keys():
            if k not in got.raw.varm or matrix_bits(got.raw.varm[k]) != matrix_bits(exp.raw.varm[k]):
                problems.append(f"raw.varm[{k}] differs")
    if sorted(got.uns.keys()) != sorted(exp.uns.keys()):
        problems.append(f"uns keys {sorted(got.uns.keys())}, expected {sorted(exp.uns.keys())}")
    return problems


def subset_input(a, seed, dense_layer):
    """`a` with every slot filled, a bool obs column 'keep' and var 'highly_variable'."""
    rng = np.random.default_rng(seed)
    b = a.copy()
    n, m = b.shape
    b.obs["keep"] = rng.random(n) < 0.6
    b.obs["score"] = rng.random(n)
    b.var["highly_variable"] = rng.random(m) < 0.3
    b.raw = b  # raw keeps every var; its rows follow the cells kept
    if dense_layer:
        b.layers["dense"] = rng.random((n, m))
    b.obsm["pca"] = rng.random((n, 6)).astype(np.float32)
    b.obsm["sparse"] = sp.random(n, 9, density=0.2, format="csr", random_state=seed)
    b.varm["loadings"] = rng.random((m, 4))
    b.obsp["conn"] = sp.random(n, n, density=0.02, format="csr", random_state=seed + 1)
    b.varp["corr"] = rng.random((m, m))
    b.uns["note"] = "kept"
    return b


def part_subset(c, inputs):
    run = Runner(c, compare=lambda one, many: every_slot(read(many), read(one)))
    for name, suffix in (("csr32", ".h5ad"), ("dense64", ".zarr"), ("csrint", ".h5ad")):
        path, a = inputs[name]
        b = subset_input(a, 11, dense_layer=name == "csr32")
        src = c.path(f"subset_in_{name}.h5ad")
        b.write_h5ad(src)
        keep, hv = b.obs["keep"].values, b.var["highly_variable"].values
        got = run(f"subset {name} --obs-mask keep --highly-variable", ["subset", src],
                  c.path(f"subset_{name}{suffix}"), ["--obs-mask", "keep", "--highly-variable", *READ])
        if got is not None:
            exp = b[keep, hv].copy()
            problems = [] if 0 < exp.n_obs < b.n_obs and 0 < exp.n_vars < b.n_vars else ["cuts nothing"]
            c.check(f"subset {name} --obs-mask keep --highly-variable: every slot as adata[cells, genes].copy()",
                    problems + every_slot(got, exp))
        # Names from files (in any order, CRLF line ends, a blank line), with the mask too.
        rng = np.random.default_rng(5)
        cells = list(rng.permutation(b.obs_names)[: b.n_obs // 2])
        genes = list(rng.permutation(b.var_names)[: b.n_vars // 3])
        with open(c.path("cells.txt"), "w", newline="") as f:
            f.write("\r\n".join(cells) + "\r\n\r\n")
        with open(c.path("genes.txt"), "w") as f:
            f.write("\n".join(genes) + "\n")
        got = run(f"subset {name} --cells --genes --obs-mask", ["subset", src],
                  c.path(f"subset_names_{name}{suffix}"),
                  ["--cells", c.path("cells.txt"), "--genes", c.path("genes.txt"),
                   "--obs-mask", "keep", *READ])
        if got is not None:
            rows = np.isin(b.obs_names, cells) & keep
            cols = np.isin(b.var_names, genes)
            c.check(f"subset {name} --cells FILE --genes FILE --obs-mask keep: every slot, in the input's order",
                    every_slot(got, b[rows, cols].copy()))
    # Errors: unknown names, a missing column, a column that is not bool; nothing written.
    src = c.path("subset_in_csr32.h5ad")
    with open(c.path("bad_genes.txt"), "w") as f:
        f.write("GENE30\nNOPE-1\nGENE31\nNOPE-2\n")
    for label, args, needle in (
            ("unknown gene names", ["--genes", c.path("bad_genes.txt")],
             "2 names are not in var_names: 'NOPE-1', 'NOPE-2'"),
            ("a missing obs column", ["--obs-mask", "absent"], "obs has no column 'absent'"),
            ("a column that is not bool", ["--obs-mask", "score"], "obs column 'score' is not bool"),
            ("--highly-variable without the column", ["--highly-variable"],
             "var has no column 'highly_variable'"),
            ("a names file that does not exist", ["--cells", c.path("none.txt")], "none.txt")):
        target = inputs["csr32"][0] if "highly" in label else src
        out = c.path("bad_subset.h5ad")
        p = c.run(["subset", target, "-o", out, *args], c.ranks, expect_ok=False)
        if p is not None:
            c.check(f"subset with {label} fails naming it",
                    [] if p.returncode == 1 and needle in p.stderr and not os.path.exists(out)
                    else [f"exit {p.returncode}: {p.stderr.strip()}"])


# ---------------------------------------------------------------------------------------------
# highly_variable_genes: scanpy's dispersion-based flavors transcribed in numpy and pandas


def ref_mean_var(X):
    """scanpy's _get_mean_var: float64 means and (E[x^2] - E[x]^2) * n / (n - 1); the squares in
    X's dtype for dense X (np.multiply), in float64 for sparse X (its numba kernel)."""
    n = X.shape[0]
    if sp.issparse(X):
        Xd = sp.csr_matrix(X).astype(np.float64)
        mean = np.asarray(Xd.mean(axis=0)).ravel()
        mean_sq = np.asarray(Xd.multiply(Xd).mean(axis=0)).ravel()
    else:
        mean = np.mean(X, axis=0, dtype=np.float64)
        mean_sq = np.multiply(X, X).mean(axis=0, dtype=np.float64)
    var = mean_sq - mean ** 2
    var *= n / (n - 1)
    return mean, var


def mad(a):
    """statsmodels.robust.mad: median(|a - median(a)| / Phi^-1(3/4))."""
    a = np.asarray(a)
    return np.median(np.abs(a - np.median(a)) / 0.6744897501960817)


NEAR_TIES = []  # near-ties at an n_top_genes cut met by the reference (the case is ambiguous)


def ref_hvg_single(X, flavor, n_top_genes, n_bins=20, cutoffs=(0.0125, 3, 0.5, np.inf)):
    if flavor == "seurat":
        X = X.copy()
        X = np.expm1(X) if not sp.issparse(X) else X.expm1()
    mean, var = ref_mean_var(X)
    mean[mean == 0] = 1e-12
    dispersion = var / mean
    if flavor == "seurat":
        dispersion[dispersion == 0] = np.nan
        dispersion = np.log(dispersion)
        mean = np.log1p(mean)
    df = pd.DataFrame({"means": mean, "dispersions": dispersion})
    if flavor == "seurat":
        df["mean_bin"] = pd.cut(df["means"], bins=n_bins)
        g = df.groupby("mean_bin", observed=True)["dispersions"]
        m, s = g.mean(), g.std(ddof=1)
        one = s.isnull()
        s[one.values] = m[one.values].values
        m[one.values] = 0
        bins = df["mean_bin"].values
        df["dispersions_norm"] = (df["dispersions"].values - m[bins].values) / s[bins].values
    else:
        edges = np.r_[-np.inf, np.percentile(df["means"], np.arange(10, 105, 5)), np.inf]
        df["mean_bin"] = pd.cut(df["means"], edges)
        g = df.groupby("mean_bin", observed=True)["dispersions"]
        med, spread = g.median(), g.apply(mad)
        bins = df["mean_bin"].values
        with np.errstate(invalid="ignore", divide="ignore"):
            df["dispersions_norm"] = (df["dispersions"].values - med[bins].values) / spread[bins].values
    norm = df["dispersions_norm"].to_numpy(copy=True)
    if n_top_genes is not None:
        valid = np.sort(norm[~np.isnan(norm)])[::-1]
        top = min(n_top_genes, X.shape[1], valid.size)
        if top < valid.size and abs(valid[top - 1] - valid[top]) <= 1e-9 * abs(valid[top - 1]):
            # Genes on both sides of the cut within rounding (two-gene bins give +-1/sqrt(2)):
            # which one is kept depends on the last bit of sums, in scanpy as here.
            NEAR_TIES.append((valid[top - 1], valid[top]))
        df["highly_variable"] = np.nan_to_num(norm) >= valid[top - 1]
    else:
        norm[np.isnan(norm)] = 0
        df["dispersions_norm"] = norm  # scanpy writes into the frame's column (pandas < 3)
        lo, hi, dlo, dhi = cutoffs
        df["highly_variable"] = (mean > lo) & (mean < hi) & (norm > dlo) & (norm < dhi)
    return df[["means", "dispersions", "dispersions_norm", "highly_variable"]]


def ref_hvg(a, flavor, n_top_genes=None, n_bins=20, batch_key=None):
    """var as highly_variable_genes(a, flavor=..., n_top_genes=..., batch_key=...) leaves it."""
    X = a.X
    var = a.var.copy()
    if batch_key is None:
        df = ref_hvg_single(X, flavor, n_top_genes, n_bins)
    else:
        col = a.obs[batch_key]
        batches = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else sorted(set(col))
        parts = []
        for b in batches:
            rows = (col == b).values
            Xb = X[rows]
            filt = np.asarray((Xb > 0).sum(axis=0)).ravel() >= 1
            h = ref_hvg_single(Xb[:, filt], flavor, n_top_genes, n_bins).reset_index(drop=True)
            full = pd.DataFrame({"means": 0.0, "dispersions": 0.0, "dispersions_norm": 0.0,
                                 "highly_variable": False}, index=range(len(filt)))
            full.loc[np.flatnonzero(filt), h.columns] = h.values
            full["highly_variable"] = full["highly_variable"].astype(bool)
            full["gene"] = a.var_names.values
            parts.append(full)
        df = pd.concat(parts, axis=0)
        df["highly_variable"] = df["highly_variable"].astype(int)
        df = df.groupby("gene").agg(dict(means="mean", dispersions="mean",
                                         dispersions_norm="mean", highly_variable="sum"))
        df = df.rename(columns=dict(highly_variable="highly_variable_nbatches"))
        df["highly_variable_intersection"] = df["highly_variable_nbatches"] == len(batches)
        if n_top_genes is not None:
            df = df.sort_values(["highly_variable_nbatches", "dispersions_norm"], ascending=False,
                                na_position="last", kind="mergesort")
            hv = np.zeros(df.shape[0], dtype=bool)
            hv[:n_top_genes] = True
            df["highly_variable"] = hv
        else:
            norm = df["dispersions_norm"].to_numpy(copy=True)
            norm[np.isnan(norm)] = 0
            df["dispersions_norm"] = norm
            df["highly_variable"] = ((df.means > 0.0125) & (df.means < 3) & (norm > 0.5)
                                     & (norm < np.inf))
        df = df.loc[a.var_names]
    var["highly_variable"] = df["highly_variable"].values.astype(bool)
    var["means"] = df["means"].values.astype(np.float64)
    var["dispersions"] = df["dispersions"].values.astype(np.float64)
    var["dispersions_norm"] = df["dispersions_norm"].values.astype(np.float32)
    if batch_key is not None:
        var["highly_variable_nbatches"] = df["highly_variable_nbatches"].values.astype(np.int64)
        var["highly_variable_intersection"] = df["highly_variable_intersection"].values.astype(bool)
    return var


def part_hvg(c, inputs):
    run = Runner(c)
    normalized = {}
    for name in ("csr32", "dense32", "dense64"):
        path, a = inputs[name]
        out = c.path(f"hvg_in_{name}.h5ad")
        if c.run(["normalize", path, "-o", out, "--log1p", *READ], 0) is not None:
            normalized[name] = (out, ad.read_h5ad(out))
    # float64 log-normalized data (anndata 0.8 makes float32 unless told): the CSR and dense
    # matrices above in float64, so that the float64 arithmetic is checked at 1e-9.
    for name, src in (("csr64", "csr32"), ("dense64", "dense64")):
        if src in normalized:
            a = normalized[src][1]
            b = ad.AnnData(a.X.astype(np.float64), obs=a.obs, var=a.var, uns=dict(a.uns),
                           dtype=np.float64)
            out = c.path(f"hvg_in_{name}_f64.h5ad")
            b.write_h5ad(out)
            normalized[name] = (out, ad.read_h5ad(out))
    cases = []
    for name in ("csr32", "dense32", "csr64", "dense64"):
        if name not in normalized:
            c.fail(f"hvg {name}", ["the input could not be made"])
            continue
        for flavor in ("seurat", "cell_ranger"):
            cases.append((name, flavor, 33, None))
            cases.append((name, flavor, 33, "batch"))
        cases.append((name, "seurat", None, None))
    cases += [("csr32", "seurat", None, "batch"), ("dense64", "cell_ranger", 200, None),
              ("csr32", "seurat", 1, None)]
    for name, flavor, top, batch in cases:
        path, a = normalized[name]
        args = ["--flavor", flavor, *READ]
        if top is not None:
            args += ["--n-top-genes", str(top)]
        if batch is not None:
            args += ["--batch-key", batch]
        label = f"hvg {name} {' '.join(args[:2] + args[4:])}"
        out = c.path(f"hvg_{name}_{flavor}_{top}_{batch}" + (".zarr" if name == "dense64" else ".h5ad"))
        got = run(label, ["hvg", path], out, args)
        if got is None:
            continue
        NEAR_TIES.clear()
        exp = ref_hvg(a, flavor, top, batch_key=batch)
        if NEAR_TIES:
            c.fail(label, [f"the data put genes within rounding of each other across the cut "
                           f"{NEAR_TIES}: pick another --n-top-genes for this case"])
            continue
        g, e = got.var.copy(), exp.copy()
        if a.X.dtype == np.float32:
            # numpy's float32 expm1 (SIMD, a few ulps) and the C library's differ in the last
            # bits of some values: the float64 means and dispersions of float32 data agree to
            # float32's precision (1e-5), not to 1e-9; highly_variable must still be equal.
            for k in ("means", "dispersions"):
                g[k], e[k] = g[k].astype(np.float32), e[k].astype(np.float32)
        problems = compare_frame("var", g, e)
        n_hv = int(exp["highly_variable"].sum())
        if top is not None and batch is None and n_hv < min(top, a.n_vars - 5):
            problems.append(f"the reference selects {n_hv} genes for n_top_genes={top}")
        if got.uns.get("hvg", {}).get("flavor") != flavor:
            problems.append(f"uns['hvg'] is {got.uns.get('hvg')!r}")
        problems += compare_matrix("X", got.X, dense_of(a.X), sp.issparse(a.X))
        c.check(f"{label}: var and uns as highly_variable_genes ({n_hv} genes)", problems)
    # hvg then subset --highly-variable: the genes selected, every slot cut.
    out = c.path("hvg_csr32_seurat_33_None.h5ad")
    if os.path.exists(out):
        got = run("subset --highly-variable after hvg", ["subset", out],
                  c.path("hvg_subset.h5ad"), ["--highly-variable", *READ])
        if got is not None:
            b = read(out)
            c.check("subset --highly-variable after hvg: the genes selected",
                    every_slot(got, b[:, b.var["highly_variable"].values].copy())
                    + ([] if got.n_vars == int(b.var["highly_variable"].sum()) >= 33 else ["wrong count"]))
    path = normalized["csr32"][0]
    for label, args, needle in (
            ("a missing batch key", ["--flavor", "seurat", "--batch-key", "nope"], "no column 'nope'"),
            ("a numeric batch key", ["--flavor", "seurat", "--batch-key", "n"], "not categorical or strings")):
        src = path
        if "numeric" in label:
            b = normalized["csr32"][1].copy()
            b.obs["n"] = np.arange(b.n_obs)
            src = c.path("hvg_numeric_key.h5ad")
            b.write_h5ad(src)
        p = c.run(["hvg", src, "-o", c.path("bad_hvg.h5ad"), *args], c.ranks, expect_ok=False)
        if p is not None:
            c.check(f"hvg with {label} fails naming it",
                    [] if p.returncode == 1 and needle in p.stderr and not os.path.exists(c.path("bad_hvg.h5ad"))
                    else [f"exit {p.returncode}: {p.stderr.strip()}"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tessera")
    parser.add_argument("--part", required=True, choices=["qc", "filter", "normalize", "subset", "hvg"])
    parser.add_argument("--ranks", type=int, default=0)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    c = Checker(args.tessera, args.ranks, args.workdir)
    inputs = write_inputs(c)
    {"qc": part_qc, "filter": part_filter, "normalize": part_normalize,
     "subset": part_subset, "hvg": part_hvg}[args.part](c, inputs)
    if c.failures:
        print(f"{len(c.failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
