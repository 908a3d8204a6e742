#!/usr/bin/python3
"""The tessera command checked against the reference (Debian's anndata 0.8, numpy, scipy).

    cli_check.py TESSERA --part info|convert|concat|reduce|graph|demo|errors --ranks 0|1|2 --workdir DIR

--ranks 0 runs `tessera` directly (no launcher, the laptop case); K > 0 runs it under
`mpirun -np K`. Inputs are written by the reference; outputs are read by the reference and compared
element by element (dtypes included) with what the reference computes from the same inputs.
Every launch has a timeout, so a hang fails the test instead of stalling the suite.
"""
import argparse
import math
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "io", "anndata"))
import interop  # noqa: E402  (the element-by-element comparison shared with the io tests)

RUN_TIMEOUT = 120


class Checker:
    def __init__(self, tessera, ranks, workdir):
        self.tessera = tessera
        self.ranks = ranks
        self.workdir = workdir
        self.failures = []

    def path(self, name):
        return os.path.join(self.workdir, name)

    def run(self, *args, expect_ok=True, progress=False):
        cmd = [self.tessera, "--progress" if progress else "--no-progress", *args]
        if self.ranks > 0:
            cmd = ["mpirun", "-np", str(self.ranks), "--oversubscribe", *cmd]
        env = dict(os.environ, **interop.MPI_ENV)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
        except subprocess.TimeoutExpired:
            self.fail(" ".join(args), [f"no answer within {RUN_TIMEOUT} s (a hang)"])
            return None
        if expect_ok and p.returncode != 0:
            self.fail(" ".join(args), [f"exit {p.returncode}", p.stderr.strip()])
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
# Inputs written by the reference


def dense_object(seed, n_obs, var_names, batch):
    rng = np.random.default_rng(seed)
    n_vars = len(var_names)
    X = rng.standard_normal((n_obs, n_vars))
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical([batch] * n_obs),
            "score": rng.random(n_obs),
            "kind": pd.Categorical(rng.choice(["x", "y", "z"], n_obs)),
        },
        index=[f"cell{i}" for i in range(n_obs)],
    )
    var = pd.DataFrame({"gene_len": np.arange(n_vars, dtype=np.int64) + 100}, index=var_names)
    a = ad.AnnData(X, obs=obs, var=var)
    a.layers["counts"] = rng.integers(0, 20, (n_obs, n_vars)).astype(np.int32)
    a.obsm["pca"] = rng.standard_normal((n_obs, 3))
    return a


def sparse_object(seed, n_obs, n_vars):
    rng = np.random.default_rng(seed)
    X = interop.random_csr(rng, (n_obs, n_vars), 0.2, np.float32)
    X.data -= np.float32(50)  # negative and positive values: min and max are not just 0
    a = ad.AnnData(X)
    a.obs_names = [f"c{i}" for i in range(n_obs)]
    a.var_names = [f"g{i}" for i in range(n_vars)]
    a.layers["ints"] = sp.csr_matrix(rng.integers(-3, 4, (n_obs, n_vars)).astype(np.int64))
    return a


def write_inputs(c):
    """Objects with many chunk-rows (files are chunked small) so that every rank owns some."""
    genes = [f"gene{i}" for i in range(40)]
    a = dense_object(1, 150, genes[:30], "a")
    b = dense_object(2, 90, genes[10:40], "b")
    s = sparse_object(3, 130, 25)
    a.write_h5ad(c.path("a.h5ad"), as_dense=())
    b.write_zarr(c.path("b.zarr"), chunks=(16, 30))
    s.write_h5ad(c.path("s.h5ad"))
    s.write_zarr(c.path("s.zarr"))
    return {"a": a, "b": b, "s": s}


# ---------------------------------------------------------------------------------------------
# Parts


def part_info(c, refs):
    for name in ("a.h5ad", "b.zarr", "s.h5ad"):
        p = c.run("info", c.path(name))
        if p is None:
            continue
        ref = repr(ad.read_h5ad(c.path(name)) if name.endswith(".h5ad") else ad.read_zarr(c.path(name)))
        problems = []
        lines = p.stdout.splitlines()
        expected = ref.splitlines()
        if lines[: len(expected)] != expected:
            problems.append(f"first lines {lines[:len(expected)]!r}, reference {expected!r}")
        if "X" not in lines or not any("Chunk" in line for line in lines):
            problems.append("no chunk table for X")
        c.check(f"info {name}", problems)


def part_convert(c, refs):
    # h5ad -> zarr -> h5ad, with other chunks and a compressor on the way; then the reference reads
    # each result equal to the original.
    for src, ref in (("a.h5ad", refs["a"]), ("s.h5ad", refs["s"]), ("b.zarr", refs["b"])):
        stem = src.split(".")[0]
        z = c.path(f"{stem}.conv.zarr")
        h = c.path(f"{stem}.conv.h5ad")
        if c.run("convert", c.path(src), z, "--chunks", "32,7", "--compressor", "lz4") is None:
            continue
        if c.run("convert", z, h) is None:
            continue
        for out in (z, h):
            back = ad.read_zarr(out) if out.endswith(".zarr") else ad.read_h5ad(out)
            original = ad.read_zarr(c.path(src)) if src.endswith(".zarr") else ad.read_h5ad(c.path(src))
            c.check(f"convert {src} -> {os.path.basename(out)}", interop.compare_anndata(original, back))
    part_convert_progress(c)


def part_convert_progress(c):
    p = c.run("convert", c.path("a.h5ad"), c.path("progress.zarr"), "--chunks", "16", progress=True)
    if p is not None:
        done = [line for line in p.stderr.splitlines() if line.startswith("convert") and "elapsed" in line]
        ok = len(done) == 1 and "100%" in done[0]
        c.check("convert --progress", [] if ok else [f"progress lines: {p.stderr!r}"])


def reference_concat(inputs, out, **kw):
    """The reference's whole pipeline: read the files, anndata.concat, write (which turns string
    columns with repeats into categoricals), read back."""
    objs = [ad.read_zarr(p) if p.endswith(".zarr") else ad.read_h5ad(p) for p in inputs]
    joined = ad.concat(objs, **kw)
    if out.endswith(".zarr"):
        joined.write_zarr(out)
        return ad.read_zarr(out)
    joined.write_h5ad(out)
    return ad.read_h5ad(out)


def part_concat(c, refs):
    cases = [
        ("inner-h5ad", ["a.h5ad", "b.zarr"], "ab.h5ad", [], {}),
        (
            "outer-labelled",
            ["a.h5ad", "b.zarr"],
            "ab_outer.zarr",
            ["--join", "outer", "--index-unique", "-", "--label", "source", "--keys", "first,second"],
            dict(join="outer", index_unique="-", label="source", keys=["first", "second"]),
        ),
        ("three-inputs", ["b.zarr", "a.h5ad", "b.zarr"], "bab.h5ad", ["--index-unique", "_"], dict(index_unique="_")),
        ("sparse", ["s.h5ad", "s.zarr"], "ss.zarr", ["--label", "file"], dict(label="file")),
    ]
    for label, inputs, out, flags, kw in cases:
        paths = [c.path(i) for i in inputs]
        if c.run("concat", *paths, "-o", c.path(out), "--chunks", "40", *flags) is None:
            continue
        expected = reference_concat(paths, c.path("reference-" + out), **kw)
        back = ad.read_zarr(c.path(out)) if out.endswith(".zarr") else ad.read_h5ad(c.path(out))
        c.check(f"concat {label}", interop.compare_anndata(expected, back))


def numpy_reduce(m, op, axis):
    """What numpy/scipy give for the reduction (one value per column for axis 0, per row for 1)."""
    if sp.issparse(m):
        if op == "sum":
            return np.asarray(m.sum(axis=axis)).ravel()
        if op == "mean":
            return np.asarray(m.mean(axis=axis)).ravel()
        if op == "min":
            return m.min(axis=axis).toarray().ravel()
        if op == "max":
            return m.max(axis=axis).toarray().ravel()
        return np.asarray((m != 0).sum(axis=axis)).ravel()
    if op == "nnz":
        return np.count_nonzero(m, axis=axis)
    return getattr(np, op)(m, axis=axis)


def parse_reduce(text):
    names, values = [], []
    for line in text.splitlines():
        name, value = line.split("\t")
        names.append(name)
        values.append(value)
    return names, values


def compare_reduce(expected, names_expected, text):
    names, values = parse_reduce(text)
    if names != list(names_expected):
        return [f"names {names[:3]}…, reference {list(names_expected)[:3]}…"]
    problems = []
    for i, (v, e) in enumerate(zip(values, expected)):
        if np.issubdtype(np.asarray(e).dtype, np.integer):
            ok = v.lstrip("-").isdigit() and int(v) == int(e)
        else:
            got, want = float(v), float(e)
            # Summation order differs from numpy's pairwise order: equal up to rounding. Values
            # that need no rounding (min, max) must be equal exactly.
            ok = got == want or math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12)
            if not ok and np.asarray(e).dtype == np.float32:
                ok = math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-4)
        if not ok:
            problems.append(f"{names[i]}: {v}, reference {e!r}")
            break
    if len(values) != len(expected):
        problems.append(f"{len(values)} values, reference {len(expected)}")
    return problems


def part_reduce(c, refs):
    # Small bands (TESSERA_BAND_BYTES) so that per-column results combine several band partials,
    # and a chunked copy of a.h5ad (16-row chunks) so that bands hold several chunk-rows.
    os.environ["TESSERA_BAND_BYTES"] = "4000"
    c.run("convert", c.path("a.h5ad"), c.path("a16.h5ad"), "--chunks", "16,8")
    cases = [("a.h5ad", None), ("a16.h5ad", None), ("a16.h5ad", "counts"), ("b.zarr", None),
             ("s.h5ad", None), ("s.zarr", "ints")]
    for src, layer in cases:
        ref = refs[src.split(".")[0].rstrip("0123456789")]
        m = ref.X if layer is None else ref.layers[layer]
        for op in ("sum", "mean", "min", "max", "nnz"):
            for axis in (0, 1):
                args = ["reduce", c.path(src), "--op", op, "--axis", str(axis)]
                if layer:
                    args += ["--layer", layer]
                label = " ".join(args[2:]).replace(c.workdir + "/", "") + f" {src}"
                p = c.run(*args)
                if p is None:
                    continue
                names = ref.var_names if axis == 0 else ref.obs_names
                problems = compare_reduce(numpy_reduce(m, op, axis), names, p.stdout)
                if c.ranks > 0:
                    # The same text, digit for digit, as one process without a launcher.
                    alone = subprocess.run([c.tessera, *args], capture_output=True, text=True,
                                           timeout=RUN_TIMEOUT)
                    if alone.stdout != p.stdout:
                        problems.append(f"output differs from one process's")
                c.check(f"reduce {label}", problems)
    # --progress: lines on stderr from rank 0 only, ending with the total and the time taken.
    p = c.run("reduce", c.path("a16.h5ad"), "--op", "sum", "--axis", "0", progress=True)
    if p is not None:
        lines = [line for line in p.stderr.splitlines() if line.startswith("reduce sum")]
        done = [line for line in lines if "elapsed" in line]
        problems = [] if len(done) == 1 and "100%" in done[0] else [f"progress lines: {p.stderr!r}"]
        c.check("reduce --progress", problems)
    # -o writes the same lines to a file.
    out = c.path("sums.tsv")
    p = c.run("reduce", c.path("a.h5ad"), "--op", "sum", "--axis", "1", "-o", out)
    if p is not None:
        problems = [] if os.path.exists(out) else ["no output file"]
        if not problems:
            problems = compare_reduce(numpy_reduce(refs["a"].X, "sum", 1), refs["a"].obs_names, open(out).read())
        if p.stdout:
            problems.append(f"stdout not empty with -o: {p.stdout[:80]!r}")
        c.check("reduce -o sums.tsv", problems)


def parses_as_svg(path):
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        return [f"{os.path.basename(path)} does not parse: {e}"]
    return [] if root.tag.endswith("svg") else [f"{os.path.basename(path)}: root <{root.tag}>"]


def part_graph(c, refs):
    p = c.run("graph", c.path("a.h5ad"), "--op", "sum", "--axis", "1")
    if p is not None:
        ok = p.stdout.lstrip().startswith("digraph") and p.stdout.rstrip().endswith("}")
        c.check("graph (DOT on stdout)", [] if ok else [f"not DOT: {p.stdout[:80]!r}"])
    out = c.path("graph.svg")
    if c.run("graph", c.path("a.h5ad"), c.path("b.zarr"), "--op", "mean", "--axis", "0", "-o", out) is not None:
        c.check("graph -o graph.svg (concat then mean)", parses_as_svg(out))
    out = c.path("layers.dot")
    if c.run("graph", c.path("s.zarr"), "--layer", "ints", "--detail", "layers", "-o", out) is not None:
        text = open(out).read() if os.path.exists(out) else ""
        c.check("graph --detail layers", [] if text.startswith("digraph") else ["no DOT file"])


def part_demo(c, refs):
    """The demo's pictures and files (its cells' reprs are pinned by demo_seed_check.py)."""
    out = c.path("demo-out")
    p = c.run("demo", "--n-obs", "300", "--n-vars", "120", "--chunks", "64,64", "--out", out)
    if p is None:
        return
    problems = []
    text = p.stdout
    for needle in ("AnnData object with n_obs × n_vars = 300 × 120", "n_obs × n_vars = 600 × 120",
                   "View of AnnData object with n_obs × n_vars = 500 × 120",
                   "View of AnnData object with n_obs × n_vars = 5 × 3",
                   "View of AnnData object with n_obs × n_vars = 300 × 120",
                   os.path.abspath(out)):
        if needle not in text:
            problems.append(f"output lacks {needle!r}")
    for name in ("adata_X.svg", "adata_concat_X.svg", "batch_b_X.svg"):
        problems += parses_as_svg(os.path.join(out, name))
    if shutil.which("dot"):
        problems += parses_as_svg(os.path.join(out, "adata_concat_X_sum.svg"))
    for name in ("adata_X.html", "adata_concat_X.html", "batch_b_X.html"):
        html = open(os.path.join(out, name)).read() if os.path.exists(os.path.join(out, name)) else ""
        if "<table" not in html or "<svg" not in html:
            problems.append(f"{name}: no table with a picture")
    for name in ("adata_X_sum.dot", "adata_concat_X_sum.dot"):
        dot = os.path.join(out, name)
        if not os.path.exists(dot) or not open(dot).read().startswith("digraph"):
            problems.append(f"no {name}")
    # The files it wrote, read by the reference: the seed's a (100 × 100) and the concatenated
    # object as the reference builds it from the parts.
    files = (("a1.h5ad", ad.read_h5ad, 100, 100, "0", "99"), ("a2.zarr", ad.read_zarr, 100, 100, "0", "99"),
             ("adata_concat.h5ad", ad.read_h5ad, 600, 120, "0id0", "299id1"),
             ("adata_concat.zarr", ad.read_zarr, 600, 120, "0id0", "299id1"))
    for name, read, rows, cols, first, last in files:
        path = os.path.join(out, name)
        if not os.path.exists(path):
            problems.append(f"no {name}")
            continue
        back = read(path)
        if back.shape != (rows, cols) or back.obs_names[0] != first or back.obs_names[-1] != last:
            problems.append(f"{name}: {back.shape}, names {back.obs_names[0]}…{back.obs_names[-1]}")
        if not np.array_equal(back.X, back.layers["a"]) or back.obsm["a"].shape != (rows, 100):
            problems.append(f"{name}: layers['a'] differs from X, or obsm['a'] has the wrong shape")
        halves = 2 if rows == 600 else 1
        if list(back.obs["batch"].cat.categories) != ["a", "b"] or (back.obs["batch"] == "b").sum() != rows // 2:
            problems.append(f"{name}: obs['batch'] is not half 'a', half 'b' in each of {halves} part(s)")
        if not (0 <= back.X.min() and back.X.max() < 1):
            problems.append(f"{name}: X values outside [0, 1)")
    c.check("demo (small)", problems)


def part_errors(c, refs):
    """Each bad command line: non-zero exit, one line of ours on stderr, no output left behind."""
    blocker = c.path("a-file")
    open(blocker, "w").write("not a folder\n")
    no_x = ad.AnnData(obs=pd.DataFrame(index=[f"cell{i}" for i in range(5)]), var=refs["a"].var)
    no_x.write_h5ad(c.path("no_x.h5ad"))
    cases = [
        ("missing file", ["info", c.path("missing.h5ad")], None, "missing.h5ad"),
        ("unknown option", ["reduce", c.path("a.h5ad"), "--op", "sum", "--axis", "1", "--bogus"], None, "--bogus"),
        ("wrong axis", ["reduce", c.path("a.h5ad"), "--op", "sum", "--axis", "2"], None, "axis"),
        ("unknown op", ["reduce", c.path("a.h5ad"), "--op", "median", "--axis", "0"], None, "median"),
        ("unknown layer", ["reduce", c.path("a.h5ad"), "--op", "sum", "--axis", "1", "--layer", "nope"], None, "nope"),
        ("unwritable output", ["convert", c.path("a.h5ad"), os.path.join(blocker, "out.zarr")], os.path.join(blocker, "out.zarr"), "out.zarr"),
        ("unwritable tsv", ["reduce", c.path("a.h5ad"), "--op", "sum", "--axis", "1", "-o", os.path.join(blocker, "x.tsv")], None, "x.tsv"),
        ("bad output suffix", ["convert", c.path("a.h5ad"), c.path("out.txt")], c.path("out.txt"), "out.txt"),
        ("concat X and no X", ["concat", c.path("a.h5ad"), c.path("no_x.h5ad"), "-o", c.path("mixed.h5ad")], c.path("mixed.h5ad"), "X"),
        ("concat keys count", ["concat", c.path("a.h5ad"), c.path("b.zarr"), "-o", c.path("k.h5ad"), "--keys", "only-one"], c.path("k.h5ad"), "keys"),
        ("concat output is input", ["concat", c.path("a.h5ad"), c.path("b.zarr"), "-o", c.path("a.h5ad")], None, "input"),
        ("not a file", ["info", blocker], None, "a-file"),
    ]
    before = set(os.listdir(c.workdir))
    for label, args, target, needle in cases:
        p = c.run(*args, expect_ok=False)
        if p is None:
            continue
        problems = []
        if p.returncode == 0:
            problems.append("exit status 0")
        ours = [line for line in p.stderr.splitlines() if line.startswith("tessera:")]
        if len(ours) != 1:
            problems.append(f"{len(ours)} lines of ours on stderr: {p.stderr.strip()[:300]!r}")
        elif needle not in ours[0]:
            problems.append(f"message does not name {needle!r}: {ours[0]!r}")
        if c.ranks == 0 and len(p.stderr.splitlines()) != 1:
            problems.append(f"stderr has {len(p.stderr.splitlines())} lines: {p.stderr.strip()[:300]!r}")
        if target and os.path.exists(target):
            problems.append(f"{target} exists after the failure")
        left = {f for f in set(os.listdir(c.workdir)) - before if "tessera" in f}
        if left:
            problems.append(f"temporary files left: {sorted(left)}")
        c.check(f"error: {label}", problems)
    # The input named as the output is untouched.
    c.check("error: input untouched", interop.compare_anndata(refs["a"], ad.read_h5ad(c.path("a.h5ad"))))


PARTS = {
    "info": part_info,
    "convert": part_convert,
    "concat": part_concat,
    "reduce": part_reduce,
    "graph": part_graph,
    "demo": part_demo,
    "errors": part_errors,
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tessera")
    p.add_argument("--part", choices=list(PARTS), required=True)
    p.add_argument("--ranks", type=int, default=0)
    p.add_argument("--workdir", required=True)
    args = p.parse_args()
    if os.path.exists(args.workdir):
        shutil.rmtree(args.workdir)
    os.makedirs(args.workdir)
    c = Checker(os.path.abspath(args.tessera), args.ranks, args.workdir)
    refs = write_inputs(c)
    PARTS[args.part](c, refs)
    if c.failures:
        print(f"\n{len(c.failures)} failed (files kept in {args.workdir})")
        return 1
    shutil.rmtree(args.workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
