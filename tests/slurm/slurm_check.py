"""Inputs for the Slurm tests, and checks of what the batch jobs wrote, against the reference
anndata 0.8 (run by /usr/bin/python3, which has anndata, h5py, zarr and numpy).

  slurm_check.py inputs DIR                     a.h5ad, b.h5ad, c.zarr (small, overlapping vars)
  slurm_check.py same OUT REF                   OUT read back equals REF (every slot)
  slurm_check.py concat OUT [--join J] [--index-unique S] [--label L] [--keys K,..] IN...
                                                OUT equals anndata.concat of the inputs
  slurm_check.py reduce TSV IN                  TSV holds IN's row sums of X (name<TAB>value)
  slurm_check.py demo DIR N_OBS N_VARS SERIAL_DIR  the demo's files: h5ad/zarr equal to a serial
                                                run's, pictures that parse
  slurm_check.py scaling DIR IN STEPS           the scaling tables: one row per NODES:RANKS step
                                                and workload, reduce outputs equal and correct
Exit status 0 when the check holds; otherwise 1 with the differences on stderr.
"""
import argparse
import os
import sys
import tempfile
import warnings
import xml.etree.ElementTree as ET

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp


# anndata 0.8 warns about duplicate obs names (the inputs have them on purpose) and pandas changes.
warnings.simplefilter("ignore")


class Mismatch(Exception):
    pass


def read(path):
    path = path.rstrip("/")
    return ad.read_zarr(path) if path.endswith(".zarr") else ad.read_h5ad(path)


def write(a, path):
    if path.endswith(".zarr"):
        a.write_zarr(path)
    else:
        a.write_h5ad(path)


def dense(m):
    return m.toarray() if sp.issparse(m) else np.asarray(m)


def check_matrix(a, b, where):
    if a.shape != b.shape:
        raise Mismatch(f"{where}: shape {a.shape} != {b.shape}")
    if a.dtype != b.dtype:
        raise Mismatch(f"{where}: dtype {a.dtype} != {b.dtype}")
    if sp.issparse(a) != sp.issparse(b):
        raise Mismatch(f"{where}: sparse {sp.issparse(a)} != {sp.issparse(b)}")
    if not np.array_equal(dense(a), dense(b), equal_nan=a.dtype.kind == "f"):
        raise Mismatch(f"{where}: values differ")


def check_frame(a, b, where):
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except AssertionError as e:
        raise Mismatch(f"{where}: {str(e).splitlines()[0]}") from None


def check_anndata(got, want):
    if got.shape != want.shape:
        raise Mismatch(f"shape {got.shape} != {want.shape}")
    check_frame(got.obs, want.obs, "obs")
    check_frame(got.var, want.var, "var")
    if (got.X is None) != (want.X is None):
        raise Mismatch("X present in one only")
    if got.X is not None:
        check_matrix(got.X, want.X, "X")
    for slot in ("layers", "obsm", "varm", "obsp", "varp"):
        g, w = getattr(got, slot), getattr(want, slot)
        if sorted(g.keys()) != sorted(w.keys()):
            raise Mismatch(f"{slot}: keys {sorted(g.keys())} != {sorted(w.keys())}")
        for k in w.keys():
            if isinstance(w[k], pd.DataFrame):
                check_frame(g[k], w[k], f"{slot}[{k!r}]")
            else:
                check_matrix(g[k], w[k], f"{slot}[{k!r}]")
    if sorted(got.uns.keys()) != sorted(want.uns.keys()):
        raise Mismatch(f"uns: keys {sorted(got.uns.keys())} != {sorted(want.uns.keys())}")


def make_inputs(out):
    """Three small objects over overlapping genes: a dense h5ad, a dense h5ad with other columns,
    and a zarr, so that inner and outer joins differ."""
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)

    def one(n_obs, genes, prefix, kinds):
        X = rng.normal(size=(n_obs, len(genes))).astype(np.float64)
        obs = pd.DataFrame(
            {
                "cell_type": pd.Categorical(rng.choice(kinds, size=n_obs)),
                "n_counts": rng.integers(0, 1000, size=n_obs).astype(np.int64),
            },
            index=[f"{prefix}{i}" for i in range(n_obs)],
        )
        var = pd.DataFrame(
            {"gene_length": rng.integers(100, 5000, size=len(genes)).astype(np.int64)},
            index=genes,
        )
        a = ad.AnnData(X=X, obs=obs, var=var, dtype=X.dtype)
        a.layers["counts"] = rng.integers(0, 50, size=X.shape).astype(np.float64)
        a.obsm["pca"] = rng.normal(size=(n_obs, 3))
        return a

    genes = [f"g{i}" for i in range(30)]
    a = one(70, genes[:24], "cell", ["T", "B"])
    b = one(45, genes[4:30], "cell", ["T", "NK"])  # same obs names as a: --index-unique matters
    c = one(33, genes[0:28:2] + genes[1:9:2], "c", ["B", "NK", "T"])
    a.write_h5ad(os.path.join(out, "a.h5ad"))
    b.write_h5ad(os.path.join(out, "b.h5ad"))
    c.write_zarr(os.path.join(out, "c.zarr"))


def check_reduce(tsv, path):
    want = read(path)
    sums = dense(want.X).sum(axis=1)
    with open(tsv) as f:
        lines = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    names = [line[0] for line in lines]
    if names != list(want.obs_names):
        raise Mismatch(f"{tsv}: names differ from obs_names ({len(names)} lines, {want.n_obs} rows)")
    values = np.array([float(line[1]) for line in lines])
    # Different summation orders: equal to a few units in the last place.
    if not np.allclose(values, sums, rtol=1e-12, atol=1e-12):
        worst = int(np.argmax(np.abs(values - sums)))
        raise Mismatch(f"{tsv}: row {names[worst]}: {values[worst]!r} != numpy's {sums[worst]!r}")


def check_demo(out, n_obs, n_vars, serial):
    if not os.path.isdir(out):
        raise Mismatch(f"{out}: no output folder")
    files = os.listdir(out)
    # The seed's a (100 x 100) and the extra step's concatenated object.
    shapes = {"a1.h5ad": (100, 100), "a2.zarr": (100, 100),
              "adata_concat.h5ad": (2 * n_obs, n_vars), "adata_concat.zarr": (2 * n_obs, n_vars)}
    for name, shape in shapes.items():
        if name not in files:
            raise Mismatch(f"{out}: no {name} (has {sorted(files)})")
        got = read(os.path.join(out, name))
        if got.shape != shape:
            raise Mismatch(f"{name}: shape {got.shape}, expected {shape}")
        # The distributed run wrote exactly what one process writes.
        check_anndata(got, read(os.path.join(serial, name)))
    svgs = [f for f in files if f.endswith(".svg")]
    htmls = [f for f in files if f.endswith(".html")]
    if not svgs or not htmls:
        raise Mismatch(f"{out}: expected SVG and HTML pictures, found {sorted(files)}")
    for f in svgs:
        ET.parse(os.path.join(out, f))  # raises on a broken picture
    for f in htmls:
        with open(os.path.join(out, f)) as h:
            if "<table" not in h.read():
                raise Mismatch(f"{f}: no table")


def check_scaling(out, path, steps):
    rows = pd.read_csv(os.path.join(out, "scaling.tsv"), sep="\t", dtype=str)
    want = [(w, *s.split(":")) for w in ("info", "reduce", "convert") for s in steps.split()]
    want.append(("copy", "1", "1"))  # the peer: one process, first configuration only
    got = list(zip(rows["workload"], rows["nodes"], rows["ranks"]))
    if got != want:
        raise Mismatch(f"scaling.tsv: configurations {got}, expected {want}")
    if (rows["median_s"] == "failed").any():
        raise Mismatch("scaling.tsv: a configuration failed")
    if float(rows["speedup"].iloc[0]) != 1.0:
        raise Mismatch("scaling.tsv: the first configuration's speed-up is not 1")
    if not (rows[rows["workload"] == "reduce"]["same_output"] == "yes").all():
        raise Mismatch("scaling.tsv: reduce outputs differ between configurations")
    with open(os.path.join(out, "scaling.md")) as f:
        table = [line for line in f if line.startswith("| ")]
    if len(table) != len(want) + 1:
        raise Mismatch(f"scaling.md: {len(table)} table lines, expected {len(want) + 1}")
    runs = pd.read_csv(os.path.join(out, "runs.tsv"), sep="\t")
    if (runs["status"] != 0).any() or (runs["seconds"] <= 0).any():
        raise Mismatch("runs.tsv: a run failed or has no time")
    tsvs = sorted(f for f in os.listdir(out) if f.startswith("rowsums."))
    if not tsvs:
        raise Mismatch(f"{out}: no reduce output")
    check_reduce(os.path.join(out, tsvs[0]), path)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("inputs").add_argument("dir")
    s = sub.add_parser("same")
    s.add_argument("out")
    s.add_argument("ref")
    c = sub.add_parser("concat")
    c.add_argument("out")
    c.add_argument("inputs", nargs="+")
    c.add_argument("--join", default="inner")
    c.add_argument("--index-unique")
    c.add_argument("--label")
    c.add_argument("--keys")
    r = sub.add_parser("reduce")
    r.add_argument("tsv")
    r.add_argument("input")
    d = sub.add_parser("demo")
    d.add_argument("dir")
    d.add_argument("n_obs", type=int)
    d.add_argument("n_vars", type=int)
    d.add_argument("serial")
    sc = sub.add_parser("scaling")
    sc.add_argument("dir")
    sc.add_argument("input")
    sc.add_argument("steps")
    a = p.parse_args()
    try:
        if a.cmd == "inputs":
            make_inputs(a.dir)
        elif a.cmd == "same":
            check_anndata(read(a.out), read(a.ref))
        elif a.cmd == "concat":
            want = ad.concat(
                [read(i) for i in a.inputs],
                join=a.join,
                index_unique=a.index_unique,
                label=a.label,
                keys=a.keys.split(",") if a.keys else None,
            )
            # Compared as files: writing turns anndata's object columns of strings (what pandas
            # makes of categoricals with different categories) into categoricals again.
            with tempfile.TemporaryDirectory() as tmp:
                ref = os.path.join(tmp, "reference" + (".zarr" if a.out.rstrip("/").endswith(".zarr") else ".h5ad"))
                write(want, ref)
                check_anndata(read(a.out), read(ref))
        elif a.cmd == "reduce":
            check_reduce(a.tsv, a.input)
        elif a.cmd == "demo":
            check_demo(a.dir, a.n_obs, a.n_vars, a.serial)
        elif a.cmd == "scaling":
            check_scaling(a.dir, a.input, a.steps)
    except Mismatch as e:
        print(f"slurm_check {a.cmd}: {e}", file=sys.stderr)
        return 1
    print(f"slurm_check {a.cmd}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
