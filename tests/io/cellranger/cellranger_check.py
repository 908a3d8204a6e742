#!/usr/bin/python3
"""Cell Ranger HDF5 matrices (10x Genomics .h5) read by the tessera command, checked against an
independent reading written here with h5py + scipy from FORMATS.md §6 and the behaviour scanpy's
read_10x_h5 documents (gex_only=True, genome=None by default).

    cellranger_check.py TESSERA --data DIR --part PART --workdir DIR
                        [--roundtrip TESSERA_IO_ROUNDTRIP] [--ranks K]

Parts:
  read      every input (the real files of DIR/10x and fixtures written here) through
            `tessera info`, `convert IN out.h5ad`, `reduce --op sum --axis 1` and `--axis 0`,
            without a launcher (--ranks 0) or under `mpirun -np K`
  lazy      tessera_io_roundtrip with small lazy chunks at 1-3 ranks: several ranks own (and
            write) cell rows, the result equal to the independent reading
  genomes   --genome on v1-2 files of several genomes and on v3 files; unknown genomes
  atlas     `mpirun -np 4 tessera concat` of a v3 and a v2 file (and v3 twice), outer join
  errors    damaged files: exit 1, one 'tessera: error:' line naming the element

The converted h5ad is read back with anndata 0.8 and compared element by element (X values and
dtype, obs/var names, every column and its dtype) with the independent reading.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import warnings

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "anndata"))
import interop  # noqa: E402  (element-by-element comparison of AnnData objects, and MPI_ENV)

warnings.simplefilter("ignore")
RUN_TIMEOUT = 120

REAL_FILES = ("v2_filtered_gene_bc_matrices_h5.h5", "v3_filtered_feature_bc_matrix.h5")
MULTI = "v2_multiple_genomes.h5"

# ---------------------------------------------------------------------------------------------
# The independent reading (FORMATS.md §6; scanpy's documented read_10x_h5)

# features/* datasets that are not var columns of their own: the var names, the ids that become
# gene_ids / probe_ids, the feature types, and Cell Ranger's list of tag keys.
NOT_COLUMNS = {"name", "feature_type", "id", "gene_id", "_all_tag_keys"}


def text(ds):
    """A dataset of fixed-length byte strings as an object array of str."""
    return np.array([b.decode("utf-8") for b in ds[()]], dtype=object)


def counts(g):
    """The file's CSC of features x cells is the CSR of cells x features; int32 -> float32."""
    n_features, n_cells = (int(v) for v in g["shape"][()])
    data = g["data"][()]
    if data.dtype == np.int32:
        data = data.astype(np.float32)
    return sp.csr_matrix((data, g["indices"][()], g["indptr"][()]), shape=(n_cells, n_features))


class ReadError(Exception):
    pass


def expected_reading(path, genome=None, gex_only=True):
    with h5py.File(path, "r") as f:
        if "matrix" in f:
            return expected_v3(f, genome, gex_only)
        genomes = list(f.keys())
        if genome is None:
            if len(genomes) > 1:
                raise ReadError(genomes)
            genome = genomes[0]
        elif genome not in genomes:
            raise ReadError(genomes)
        g = f[genome]
        obs = pd.DataFrame(index=pd.Index(text(g["barcodes"])))
        var = pd.DataFrame({"gene_ids": text(g["genes"])}, index=pd.Index(text(g["gene_names"])))
        return make_anndata(counts(g), obs, var)


def expected_v3(f, genome, gex_only):
    m = f["matrix"]
    feats = m["features"]
    obs = pd.DataFrame(index=pd.Index(text(m["barcodes"])))
    if "filtered_barcodes" in m:
        obs["filtered_barcodes"] = m["filtered_barcodes"][()].astype(bool)
    var = pd.DataFrame(index=pd.Index(text(feats["name"])))
    if "gene_id" in feats:  # probe-barcode matrix: id is the probe's
        var["gene_ids"] = text(feats["gene_id"])
        var["probe_ids"] = text(feats["id"])
    else:
        var["gene_ids"] = text(feats["id"])
    var["feature_types"] = text(feats["feature_type"])
    for key, ds in feats.items():
        if not isinstance(ds, h5py.Dataset) or key in NOT_COLUMNS:
            continue
        if ds.dtype.kind == "b":
            var[key] = ds[()].astype(bool)
        elif ds.dtype.kind == "S":
            var[key] = text(ds)
        else:  # numbers become their text, as numpy's astype(str) writes them
            var[key] = np.array([str(v) for v in ds[()]], dtype=object)
    keep = np.ones(len(var), dtype=bool)
    if genome:
        if genome not in set(var["genome"]):
            raise ReadError(list(dict.fromkeys(var["genome"])))
        keep &= (var["genome"] == genome).to_numpy()
    if gex_only:
        keep &= (var["feature_types"] == "Gene Expression").to_numpy()
    X = counts(m)
    if not keep.all():
        X = X[:, np.flatnonzero(keep)]
        var = var.iloc[np.flatnonzero(keep)]
    return make_anndata(X, obs, var)


def make_anndata(X, obs, var):
    # anndata 0.8 would make X float32 by default; the dtype is the reader's to choose.
    return ad.AnnData(X, obs=obs, var=var, dtype=X.dtype)


# ---------------------------------------------------------------------------------------------
# Fixtures written here, as Cell Ranger writes them (fixed-length byte strings, CSC)


def fixed(strings):
    return np.array([s.encode() for s in strings], dtype=f"S{max(1, max(len(s) for s in strings))}")


def random_csc(rng, n_features, n_cells, density, dtype, index_dtype):
    """Columns = cells; no explicit zeros, indices sorted within each cell."""
    m = sp.random(n_features, n_cells, density=density, format="csc", random_state=rng)
    m.data = rng.integers(1, 40, m.nnz).astype(dtype)
    m.sort_indices()
    return m.data, m.indices.astype(index_dtype), m.indptr.astype(index_dtype)


def write_matrix(g, data, indices, indptr, n_features, n_cells, barcodes):
    g.create_dataset("data", data=data, compression="gzip")
    g.create_dataset("indices", data=indices, compression="gzip")
    g.create_dataset("indptr", data=indptr, compression="gzip")
    g.create_dataset("shape", data=np.array([n_features, n_cells], dtype=np.int32))
    g.create_dataset("barcodes", data=fixed(barcodes))


def write_probe_fixture(path):
    """A probe-barcode matrix (Cell Ranger multi/Flex): features/gene_id, matrix/filtered_barcodes,
    two genomes, mixed feature types, extra string, bool and integer feature columns."""
    rng = np.random.default_rng(7)
    n_features, n_cells = 30, 70
    data, indices, indptr = random_csc(rng, n_features, n_cells, 0.25, np.int32, np.int64)
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        write_matrix(m, data, indices, indptr, n_features, n_cells,
                     [f"{''.join(rng.choice(list('ACGT'), 16))}-1" for _ in range(n_cells)])
        m.create_dataset("filtered_barcodes", data=(rng.random(n_cells) < 0.6).astype(np.uint8))
        feats = m.create_group("features")
        types = ["Gene Expression"] * 22 + ["Antibody Capture"] * 5 + ["CRISPR Guide Capture"] * 3
        genomes = ["GRCh38"] * 12 + ["mm10"] * 10 + [""] * 8
        feats.create_dataset("id", data=fixed([f"PROBE{i:03d}|gene{i}" for i in range(n_features)]))
        feats.create_dataset("gene_id", data=fixed([f"ENSG{i:011d}" for i in range(n_features)]))
        feats.create_dataset("name", data=fixed([f"GENE{i}" for i in range(n_features)]))
        feats.create_dataset("feature_type", data=fixed(types))
        feats.create_dataset("genome", data=fixed(genomes))
        feats.create_dataset("probe_region", data=fixed(["spliced", "unspliced", "other"] * 10))
        feats.create_dataset("filtered_probes", data=rng.random(n_features) < 0.5)
        feats.create_dataset("copies", data=rng.integers(0, 5, n_features).astype(np.int64))
        feats.create_dataset("_all_tag_keys", data=fixed(["genome", "probe_region"]))


def write_uint16_fixture(path):
    """A v3 matrix of uint16 counts with int32 indices, no genome, no filtered_barcodes."""
    rng = np.random.default_rng(11)
    n_features, n_cells = 17, 45
    data, indices, indptr = random_csc(rng, n_features, n_cells, 0.3, np.uint16, np.int32)
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        write_matrix(m, data, indices, indptr, n_features, n_cells,
                     [f"cell-{i}" for i in range(n_cells)])
        feats = m.create_group("features")
        feats.create_dataset("id", data=fixed([f"ID{i}" for i in range(n_features)]))
        feats.create_dataset("name", data=fixed([f"g{i}" for i in range(n_features)]))
        feats.create_dataset("feature_type", data=fixed(["Gene Expression"] * n_features))


def damaged_copy(src, dst, change):
    """A copy of src with `change(file)` applied (datasets replaced through h5py)."""
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)
    with h5py.File(dst, "r+") as f:
        change(f)


def replace(f, name, values):
    del f[name]
    f.create_dataset(name, data=values)


# ---------------------------------------------------------------------------------------------
# Running tessera


class Checker:
    def __init__(self, tessera, ranks, workdir, data):
        self.tessera = tessera
        self.ranks = ranks
        self.workdir = workdir
        self.data = data
        self.failures = []

    def path(self, name):
        return os.path.join(self.workdir, name)

    def input(self, name):
        return os.path.join(self.data, name) if name.startswith("v") else self.path(name)

    def launch(self, cmd, ranks):
        if ranks > 0:
            cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", *cmd]
        env = dict(os.environ, **interop.MPI_ENV)
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
        except subprocess.TimeoutExpired:
            return None

    def run(self, *args, ranks=None, expect_ok=True):
        ranks = self.ranks if ranks is None else ranks
        p = self.launch([self.tessera, "--no-progress", *args], ranks)
        label = f"[np {ranks}] tessera " + " ".join(a.replace(self.workdir + "/", "").replace(
            self.data + "/", "") for a in args)
        if p is None:
            self.fail(label, [f"no answer within {RUN_TIMEOUT} s (a hang)"])
            return None, label
        if expect_ok and p.returncode != 0:
            self.fail(label, [f"exit {p.returncode}", p.stderr.strip()])
            return None, label
        return p, label

    def fail(self, label, lines):
        self.failures.append((label, lines))
        print(f"FAIL {label}")
        for line in lines[:20]:
            print(f"     {line}")

    def check(self, label, problems):
        if problems:
            self.fail(label, problems)
        else:
            print(f"ok   {label}")


def escape_name(name):
    return (name.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def reduce_text(names, values):
    """numpy's sums printed as `tessera reduce` prints them: integers as integers, anything else
    with 17 significant digits."""
    whole = np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_
    lines = []
    for name, v in zip(names, values):
        lines.append(f"{escape_name(name)}\t{int(v) if whole else '%.17g' % float(v)}\n")
    return "".join(lines)


def first_difference(got, want):
    g, w = got.splitlines(), want.splitlines()
    for i, (a, b) in enumerate(zip(g, w)):
        if a != b:
            return [f"line {i + 1}: {a!r}, expected {b!r}"]
    return [f"{len(g)} lines, expected {len(w)}"] if len(g) != len(w) else []


def check_reading(c, src, expected, flags=(), tag=""):
    """info, convert, and both sums of one input against its expected reading."""
    name = os.path.basename(src) + tag
    p, label = c.run("info", src, *flags)
    if p is not None:
        want = repr(expected).splitlines()
        got = p.stdout.splitlines()[: len(want)]
        c.check(label, [] if got == want else [f"first lines {got!r}", f"anndata's repr {want!r}"])
    out = c.path(f"{name}.np{c.ranks}.h5ad")
    p, label = c.run("convert", src, out, *flags)
    if p is not None:
        c.check(label, interop.compare_anndata(expected, ad.read_h5ad(out)))
    for axis in (1, 0):
        p, label = c.run("reduce", src, "--op", "sum", "--axis", str(axis), *flags)
        if p is None:
            continue
        sums = np.asarray(expected.X.sum(axis=axis)).ravel()
        names = expected.obs_names if axis == 1 else expected.var_names
        c.check(label, first_difference(p.stdout, reduce_text(names, sums)))


def fixtures(c):
    write_probe_fixture(c.path("probe.h5"))
    write_uint16_fixture(c.path("uint16.h5"))


def part_read(c):
    fixtures(c)
    for name in REAL_FILES:
        check_reading(c, c.input(name), expected_reading(c.input(name)))
    multi = c.input(MULTI)
    check_reading(c, multi, expected_reading(multi, genome="hg19_chr21"),
                  ("--genome", "hg19_chr21"))
    probe = c.path("probe.h5")
    check_reading(c, probe, expected_reading(probe))
    check_reading(c, probe, expected_reading(probe, gex_only=False), ("--all-features",), ".all")
    check_reading(c, c.path("uint16.h5"), expected_reading(c.path("uint16.h5")))


def part_lazy(c):
    """Small lazy chunks (ReadOptions::chunk_bytes) so that several ranks own cell rows: each
    rank writes only its own rows (WriteStats), and the result is the expected reading."""
    fixtures(c)
    inputs = [c.input(n) for n in REAL_FILES] + [c.path("probe.h5"), c.path("uint16.h5")]
    for src in inputs:
        expected = expected_reading(src)
        for ranks in (0, 1, 2, 3):
            out = c.path(f"{os.path.basename(src)}.lazy{ranks}.h5ad")
            p = c.launch([c.roundtrip, src, out, "--chunk-bytes", "64", "--band-bytes", "600",
                          "--stats"], ranks)
            label = f"[np {ranks}] tessera_io_roundtrip {os.path.basename(src)} --chunk-bytes 64"
            if p is None or p.returncode != 0:
                c.fail(label, ["a hang" if p is None else p.stderr.strip()])
                continue
            problems = interop.compare_anndata(expected, ad.read_h5ad(out))
            # One "[rank r] ... bytes_written N" line per rank (mpirun may interleave them).
            writers = [n for n in re.findall(r"bytes_written (\d+)", p.stderr) if int(n) > 0]
            if ranks > 1 and len(writers) < 2:
                problems.append(f"only {len(writers)} rank(s) wrote rows: {p.stderr.strip()!r}")
            c.check(label, problems)
    # A damaged cell row far from rank 0's: the rank that reads it fails, and so does every rank
    # (exit 1, no hang), with the element named.
    v3 = c.input(REAL_FILES[1])
    with h5py.File(v3, "r") as f:
        n_features = int(f["matrix/shape"][0])
        indptr, indices = f["matrix/indptr"][()], f["matrix/indices"][()]
    indices[indptr[-3]] = n_features + 3
    bad = c.path("late_bad_index.h5")
    damaged_copy(v3, bad, lambda f: replace(f, "matrix/indices", indices))
    for ranks in (2, 3):
        out = c.path(f"late_bad_index.{ranks}.h5ad")
        p = c.launch([c.roundtrip, bad, out, "--chunk-bytes", "64"], ranks)
        label = f"[np {ranks}] tessera_io_roundtrip late_bad_index.h5 --chunk-bytes 64"
        if p is None:
            c.fail(label, ["a hang"])
            continue
        problems = [] if p.returncode == 1 else [f"exit status {p.returncode}, expected 1"]
        if "late_bad_index.h5:/matrix" not in p.stderr or str(n_features + 3) not in p.stderr:
            problems.append(f"the element is not named: {p.stderr.strip()[:400]!r}")
        if os.path.exists(out):
            problems.append(f"{out} exists after the failure")
        c.check(label + " (fails)", problems)


def check_error(c, label, p, needles, target=None):
    problems = []
    if p.returncode != 1:
        problems.append(f"exit status {p.returncode}, expected 1")
    ours = [line for line in p.stderr.splitlines() if line.startswith("tessera: error:")]
    if len(ours) != 1:
        problems.append(f"{len(ours)} 'tessera: error:' lines: {p.stderr.strip()[:400]!r}")
    else:
        problems += [f"message does not name {n!r}: {ours[0]!r}" for n in needles if n not in ours[0]]
    if target and os.path.exists(target):
        problems.append(f"{target} exists after the failure")
    c.check(label + (f" -> {ours[0]}" if len(ours) == 1 else " (fails)"), problems)


def part_genomes(c):
    fixtures(c)
    multi = c.input(MULTI)
    with h5py.File(multi, "r") as f:
        genomes = list(f.keys())
    for ranks in (0, 2):
        p, label = c.run("info", multi, ranks=ranks, expect_ok=False)
        if p is not None:
            check_error(c, label, p, ["more than one genome", MULTI] + [repr(g) for g in genomes])
        out = c.path(f"nope{ranks}.h5ad")
        p, label = c.run("convert", multi, out, "--genome", "nope", ranks=ranks, expect_ok=False)
        if p is not None:
            check_error(c, label, p, ["'nope'"] + [repr(g) for g in genomes], out)
    for g in genomes:
        for ranks in (0, 3):
            out = c.path(f"{g}.{ranks}.h5ad")
            p, label = c.run("convert", multi, out, "--genome", g, ranks=ranks)
            if p is not None:
                c.check(label, interop.compare_anndata(expected_reading(multi, genome=g),
                                                       ad.read_h5ad(out)))
    # Cell Ranger >= 3: --genome keeps that genome's features (after scanpy's filters).
    v3 = c.input(REAL_FILES[1])
    probe = c.path("probe.h5")
    cases = [(v3, "GRCh38_chr21", ()), (probe, "GRCh38", ()), (probe, "mm10", ()),
             (probe, "mm10", ("--all-features",))]
    for src, g, flags in cases:
        for ranks in (0, 2):
            out = c.path(f"{os.path.basename(src)}.{g}{len(flags)}.{ranks}.h5ad")
            p, label = c.run("convert", src, out, "--genome", g, *flags, ranks=ranks)
            if p is not None:
                expected = expected_reading(src, genome=g, gex_only=not flags)
                c.check(label, interop.compare_anndata(expected, ad.read_h5ad(out)))
    for src in (v3, probe):
        try:
            expected_reading(src, genome="nope")
            available = []
        except ReadError as e:
            available = e.args[0]
        p, label = c.run("info", src, "--genome", "nope", expect_ok=False)
        if p is not None:
            check_error(c, label, p, ["'nope'"] + [repr(g) for g in available])


def part_atlas(c):
    v3, v2 = (c.input(n) for n in reversed(REAL_FILES))
    for label, inputs in (("v3+v2", [v3, v2]), ("v3+v3", [v3, v3])):
        out = c.path(f"atlas-{label}.h5ad")
        p, run_label = c.run("concat", *inputs, "-o", out, "--join", "outer", "--label", "sample",
                             "--keys", "s1,s2", "--index-unique", "-", ranks=4)
        if p is None:
            continue
        expected = ad.concat([expected_reading(i) for i in inputs], join="outer", label="sample",
                             keys=["s1", "s2"], index_unique="-")
        c.check(f"{run_label} ({label})", interop.compare_anndata(expected, ad.read_h5ad(out)))


def part_errors(c):
    v3, v2 = c.input(REAL_FILES[1]), c.input(REAL_FILES[0])
    with h5py.File(v3, "r") as f:
        n_features = int(f["matrix/shape"][0])
        indptr = f["matrix/indptr"][()]
        indices = f["matrix/indices"][()]
        barcodes = f["matrix/barcodes"][()]
    bad_indices = indices.copy()
    bad_indices[indptr[len(indptr) // 2]] = n_features + 7  # a cell in the middle

    cases = [
        # (fixture, source, change, needles, command)
        ("truncated_indptr.h5", v3, lambda f: replace(f, "matrix/indptr", indptr[:-5]),
         ["truncated_indptr.h5", "/matrix/indptr"], "info"),
        ("barcodes_count.h5", v3, lambda f: replace(f, "matrix/barcodes", barcodes[:-1]),
         ["barcodes_count.h5", "/matrix/barcodes", str(len(barcodes) - 1)], "info"),
        ("index_out_of_range.h5", v3, lambda f: replace(f, "matrix/indices", bad_indices),
         ["index_out_of_range.h5", "/matrix", str(n_features + 7)], "reduce"),
        ("index_out_of_range.h5", None, None,
         ["index_out_of_range.h5", "/matrix", str(n_features + 7)], "convert"),
        ("missing_barcodes.h5", v3, lambda f: f.__delitem__("matrix/barcodes"),
         ["missing_barcodes.h5", "/matrix/barcodes", "missing"], "info"),
        ("missing_features.h5", v3, lambda f: f.__delitem__("matrix/features"),
         ["missing_features.h5", "/matrix/features"], "info"),
        ("missing_name.h5", v3, lambda f: f.__delitem__("matrix/features/name"),
         ["missing_name.h5", "/matrix/features/name"], "info"),
        ("shape_three.h5", v2, lambda f: replace(f, "hg19_chr21/shape", np.array([343, 12, 1])),
         ["shape_three.h5", "/hg19_chr21/shape"], "info"),
        ("shape_strings.h5", v3, lambda f: replace(f, "matrix/shape", fixed(["507", "1107"])),
         ["shape_strings.h5", "/matrix/shape"], "info"),
        ("features_count.h5", v3, lambda f: replace(f, "matrix/shape", np.array([500, 1107], np.int32)),
         ["features_count.h5", "/matrix/features/name", "500"], "info"),
        ("genes_count.h5", v2, lambda f: replace(f, "hg19_chr21/genes", f["hg19_chr21/genes"][:-2]),
         ["genes_count.h5", "/hg19_chr21/genes"], "info"),
        ("legacy_no_indices.h5", v2, lambda f: f.__delitem__("hg19_chr21/indices"),
         ["legacy_no_indices.h5", "/hg19_chr21/indices"], "info"),
    ]
    for fixture, source, change, needles, command in cases:
        path = c.path(fixture)
        if source is not None:
            damaged_copy(source, path, change)
        for ranks in (0, 2, 3):
            out = c.path(f"out-{fixture}-{ranks}.h5ad")
            args = {"info": ["info", path],
                    "reduce": ["reduce", path, "--op", "sum", "--axis", "1"],
                    "convert": ["convert", path, out]}[command]
            p, label = c.run(*args, ranks=ranks, expect_ok=False)
            if p is not None:
                check_error(c, label, p, needles, out if command == "convert" else None)


PARTS = {"read": part_read, "lazy": part_lazy, "genomes": part_genomes, "atlas": part_atlas,
         "errors": part_errors}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tessera")
    p.add_argument("--data", required=True, help="the shared data folder (holding 10x/)")
    p.add_argument("--part", choices=list(PARTS), required=True)
    p.add_argument("--ranks", type=int, default=0)
    p.add_argument("--roundtrip", help="tessera_io_roundtrip (part lazy)")
    p.add_argument("--workdir", required=True)
    args = p.parse_args()
    data = os.path.join(os.path.abspath(args.data), "10x")
    missing = [n for n in REAL_FILES + (MULTI,) if not os.path.exists(os.path.join(data, n))]
    if missing:
        print(f"FAIL the shared files are missing from {data}: {missing}")
        return 1
    if os.path.exists(args.workdir):
        shutil.rmtree(args.workdir)
    os.makedirs(args.workdir)
    c = Checker(os.path.abspath(args.tessera), args.ranks, args.workdir, data)
    c.roundtrip = args.roundtrip and os.path.abspath(args.roundtrip)
    PARTS[args.part](c)
    if c.failures:
        print(f"\n{len(c.failures)} failed (files kept in {args.workdir})")
        return 1
    shutil.rmtree(args.workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
