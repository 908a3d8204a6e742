#!/usr/bin/python3
"""`tessera demo` pinned to the seed walkthrough: each cell's repr is anndata's own.

    demo_seed_check.py TESSERA --ranks 0|1|2 --workdir DIR

Runs `tessera demo --n-obs 512 --n-vars 256 --chunks 128,128` (--ranks 0: no launcher; K > 0:
`mpirun -np K`), splits its output into cells ("[n] code  (seconds s)", what the cell shows,
"# " notes), and checks, ignoring the timing figures:
  - the cells are the seed's, in the seed's order (the code lines below);
  - what each cell shows is what anndata 0.8 (Debian's, /usr/bin/python3) prints when this script
    runs the same code on objects built with dask arrays of the same shapes and chunks;
  - every read-back cell says its X row sums are bitwise equal ("equal"), and the files hold the
    chunks the note names;
  - the output is the same at another rank or thread count: under a launcher, the same as one
    process without it; without one, the same as with TESSERA_THREADS=1.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import warnings

import anndata as ad
import dask.array as da
import h5py
import numpy as np
import pandas as pd
import zarr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "io", "anndata"))
import interop  # noqa: E402  (the MPI environment shared with the other interop tests)

N_OBS, N_VARS, CHUNKS = 512, 256, (128, 128)
RUN_TIMEOUT = 120

# The seed's cells, as `tessera demo` prints their code. A cell that assigns shows the value it
# assigned; an expression shows its value; a write shows nothing.
SEED_CELLS = [
    f"adata = adata_with_dask({N_OBS}, {N_VARS})",
    f"adata2 = adata_with_dask({N_OBS}, {N_VARS})",
    "adata_concat = ad.concat([adata, adata2], index_unique='id')",
    "adata_concat[:500, :][:, :500]",
    "adata_concat[[12, 12, 3, 5, 53], [1, 2, 5]]",
    "adata_concat[adata_concat.obs['batch'] == 'b']",
    "adata_concat.to_memory(copy=False)",
    "adata_concat.to_memory(copy=True)",
    "a = adata_with_dask(100, 100)",
    "a.write_h5ad('a1.h5ad')",
    "a.write_zarr('a2.zarr')",
    "ad.read_h5ad('a1.h5ad')",
    "ad.read_zarr('a2.zarr')",
]
# After the seed's cells, the extra step (named as such in the output).
EXTRA_NOTE = "# Extra step, not in the seed: adata_concat written and read back"
EXTRA_CELLS = [
    "adata_concat.write_h5ad('adata_concat.h5ad')",
    "adata_concat.write_zarr('adata_concat.zarr')",
    "ad.read_h5ad('adata_concat.h5ad')",
    "ad.read_zarr('adata_concat.zarr')",
]
# The read cells, the object they were written from, and the file.
READS = {
    "ad.read_h5ad('a1.h5ad')": ("a", "a1.h5ad"),
    "ad.read_zarr('a2.zarr')": ("a", "a2.zarr"),
    "ad.read_h5ad('adata_concat.h5ad')": ("adata_concat", "adata_concat.h5ad"),
    "ad.read_zarr('adata_concat.zarr')": ("adata_concat", "adata_concat.zarr"),
}

CELL_HEADER = re.compile(r"^\[(\d+)\] (.*)  \(([0-9.e+-]+) s\)$")


# ---------------------------------------------------------------------------------------------
# The reference: the seed's cells run by anndata 0.8 with dask


def adata_with_dask(n_obs, n_vars):
    X = da.random.random((n_obs, n_vars), chunks=CHUNKS)
    obs = pd.DataFrame({"batch": pd.Categorical(["a"] * (n_obs // 2) + ["b"] * (n_obs - n_obs // 2))})
    a = ad.AnnData(X=X, layers={"a": X}, obsm={"a": da.random.random((n_obs, 100))}, obs=obs,
                   dtype=X.dtype)
    a.X = X  # anndata 0.8 computes X when it converts the dtype; the seed keeps it a dask array
    return a


def to_memory(self, copy=False):
    """anndata >= 0.9's AnnData.to_memory(copy) for an object in memory (0.8 has it for backed
    objects only): every dask array computed, the rest shared (copy=False) or copied."""
    def mem(x):
        return x.compute() if isinstance(x, da.Array) else (x.copy() if copy else x)

    return ad.AnnData(X=mem(self.X), obs=self.obs.copy(), var=self.var.copy(),
                      obsm={k: mem(v) for k, v in self.obsm.items()},
                      layers={k: mem(v) for k, v in self.layers.items()}, dtype=self.X.dtype)


_write_h5ad, _write_zarr = ad.AnnData.write_h5ad, ad.AnnData.write_zarr


def write_h5ad(self, filename, **kw):
    """anndata 0.8 writes no dask arrays (0.9 does): they are computed first."""
    _write_h5ad(to_memory(self), filename, **kw)


def write_zarr(self, store, **kw):
    _write_zarr(to_memory(self), store, **kw)


def reference(workdir):
    """[(code, the lines the cell shows)] for the seed's cells and the extra step, with the
    namespace they ran in."""
    ad.AnnData.to_memory = to_memory
    ad.AnnData.write_h5ad = write_h5ad
    ad.AnnData.write_zarr = write_zarr
    here = os.getcwd()
    os.makedirs(workdir)
    os.chdir(workdir)
    namespace = {"ad": ad, "adata_with_dask": adata_with_dask}
    cells = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Transforming to str index" and the like
            for code in SEED_CELLS + EXTRA_CELLS:
                assigned = re.match(r"^(\w+) = ", code)
                if assigned:
                    exec(code, namespace)
                    value = namespace[assigned.group(1)]
                else:
                    value = eval(code, namespace)
                cells.append((code, [] if value is None else repr(value).splitlines()))
    finally:
        os.chdir(here)
    return cells, namespace


# ---------------------------------------------------------------------------------------------
# Tessera's output


def run_demo(tessera, ranks, out, env_extra=None):
    cmd = [tessera, "--no-progress", "demo", "--n-obs", str(N_OBS), "--n-vars", str(N_VARS),
           "--chunks", ",".join(map(str, CHUNKS)), "--out", out]
    if ranks > 0:
        cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", *cmd]
    env = dict(os.environ, **interop.MPI_ENV, **(env_extra or {}))
    if os.path.exists(out):
        shutil.rmtree(out)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr}")
    return p.stdout


def parse_cells(text):
    """[(code, shown lines, note lines)] and the lines outside cells."""
    cells, outside, current = [], [], None
    for line in text.splitlines():
        header = CELL_HEADER.match(line)
        if header:
            if int(header.group(1)) != len(cells) + 1:
                raise ValueError(f"cell numbered {header.group(1)} after {len(cells)} cells")
            current = (header.group(2), [], [])
            cells.append(current)
        elif line == "":
            current = None
        elif current is None:
            outside.append(line)
        elif line.startswith("# "):
            current[2].append(line[2:])
        else:
            if current[2]:
                raise ValueError(f"cell {current[0]!r}: output after its notes: {line!r}")
            current[1].append(line)
    return cells, outside


def normalized(text):
    """The output without what may differ between runs: timings, rank and thread counts."""
    text = re.sub(r"  \([0-9.e+-]+ s\)$", "  (… s)", text, flags=re.M)
    return re.sub(r"on \d+ rank\(s\) x \d+ thread\(s\)", "on K rank(s) x T thread(s)", text)


def names_note(names, head):
    """The demo's note on names: 'n0', 'n1', 'n2', …, 'last'."""
    shown = ", ".join(repr(str(n)) for n in list(names)[:head])
    return shown + (f", …, {str(names[-1])!r}" if len(names) > head else "")


def file_chunks(path):
    if path.endswith(".h5ad"):
        with h5py.File(path, "r") as f:
            return tuple(f["X"].chunks or f["X"].shape)
    return tuple(zarr.open(path, mode="r")["X"].chunks)


# ---------------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tessera")
    p.add_argument("--ranks", type=int, default=0)
    p.add_argument("--workdir", required=True)
    args = p.parse_args()
    if os.path.exists(args.workdir):
        shutil.rmtree(args.workdir)
    os.makedirs(args.workdir)
    tessera = os.path.abspath(args.tessera)
    out = os.path.join(args.workdir, "demo-out")
    failures = []

    def check(label, problems):
        if problems:
            failures.append(label)
            print(f"FAIL {label}")
            for line in problems:
                print(f"     {line}")
        else:
            print(f"ok   {label}")

    ref_cells, ns = reference(os.path.join(args.workdir, "reference"))
    text = run_demo(tessera, args.ranks, out)
    print(text)
    cells, outside = parse_cells(text)

    # The cells, in the seed's order, each showing anndata's repr.
    codes = [code for code, _, _ in cells]
    want = [code for code, _ in ref_cells]
    check("the seed's cells in the seed's order, then the extra step",
          [] if codes == want else [f"cells {codes}", f"seed  {want}"])
    for (code, shown, _), (ref_code, ref_shown) in zip(cells, ref_cells):
        if code == ref_code:
            problems = [] if shown == ref_shown else ["tessera:"] + shown + ["anndata 0.8:"] + ref_shown
            check(f"repr of {code}", problems)
    problems = [] if EXTRA_NOTE in outside else [f"no line {EXTRA_NOTE!r}"]
    check("the extra step is named as such", problems)

    # Notes that name things the reference knows too.
    notes = {code: note for code, _, note in cells}
    concat = ns["adata_concat"]
    listed = concat[[12, 12, 3, 5, 53], [1, 2, 5]]
    expected_notes = {
        SEED_CELLS[2]: "obs_names: " + names_note(concat.obs_names, 3),
        SEED_CELLS[4]: "obs_names: " + names_note(listed.obs_names, 5) + "; var_names: "
        + names_note(listed.var_names, 3),
    }
    for code, note in expected_notes.items():
        check(f"names in {code}", [] if note in notes.get(code, []) else [f"notes {notes.get(code)}, want {note!r}"])

    # Read-back cells: row sums bitwise equal, summed in the chunks the files hold.
    for code, (written, name) in READS.items():
        lines = [n for n in notes.get(code, []) if n.startswith("X row sums")]
        problems = []
        if len(lines) != 1 or not lines[0].endswith(": equal"):
            problems.append(f"row-sum line {lines}")
        else:
            stored = file_chunks(os.path.join(out, name))
            summed = re.search(r"summed in \((\d+), (\d+)\) chunks", lines[0])
            x = ns[written].X
            own = (min(CHUNKS[0], x.shape[0]), min(CHUNKS[1], x.shape[1]))
            if not summed or tuple(map(int, summed.groups())) != stored or stored != own:
                problems.append(f"{lines[0]!r}, file chunks {stored}, the object's {own}")
        check(f"{code}: X row sums bitwise equal", problems)

    # The same output at another rank or thread count.
    if args.ranks > 0:
        other, label = run_demo(tessera, 0, out), "one process without a launcher"
    else:
        other, label = run_demo(tessera, 0, out, {"TESSERA_THREADS": "1"}), "one thread"
    same = normalized(text) == normalized(other)
    problems = [] if same else [line for line in zip(normalized(text).splitlines(), normalized(other).splitlines()) if line[0] != line[1]][:5]
    check(f"output the same as {label}'s, apart from timings", problems)

    if failures:
        print(f"\n{len(failures)} failed (files kept in {args.workdir})")
        return 1
    shutil.rmtree(args.workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
