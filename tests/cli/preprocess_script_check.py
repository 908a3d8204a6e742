#!/usr/bin/python3
"""deploy/slurm/tessera-preprocess.sbatch run outside Slurm (TESSERA_LAUNCHER=mpirun, 2 ranks)
on a real Cell Ranger v3 file from ../shared/data/10x: every step's output is read by the
reference anndata, and the final HVG subset is checked against the steps before it with numpy
(the cells kept by filter, the genes hvg marked, X equal to the normalized X cut by hand).

    preprocess_script_check.py TESSERA SCRIPT CELLRANGER_H5 --workdir DIR
"""
import argparse
import os
import shutil
import subprocess
import sys

import anndata as ad
import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "io", "anndata"))
import interop  # noqa: E402


def dense(x):
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("tessera")
    p.add_argument("script")
    p.add_argument("cellranger")
    p.add_argument("--workdir", required=True)
    args = p.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    out = os.path.join(args.workdir, "pbmc_hvg.h5ad")
    env = dict(os.environ, **interop.MPI_ENV, SLURM_NTASKS="2", TESSERA_BIN=args.tessera,
               TESSERA_LAUNCHER="mpirun", TESSERA_MIN_GENES="10", TESSERA_N_TOP_GENES="100")
    done = subprocess.run(["bash", args.script, args.cellranger, out], env=env,
                          capture_output=True, text=True, timeout=300)
    print(done.stdout)
    if done.returncode != 0 or "tessera exited with status 0" not in done.stdout:
        sys.exit(f"the script failed ({done.returncode}):\n{done.stderr}")
    steps = os.path.join(args.workdir, "pbmc_hvg.h5ad.steps")
    qc = ad.read_h5ad(os.path.join(steps, "1_qc.h5ad"))
    filtered = ad.read_h5ad(os.path.join(steps, "2_filtered.h5ad"))
    normalized = ad.read_h5ad(os.path.join(steps, "3_normalized.h5ad"))
    hvg = ad.read_h5ad(os.path.join(steps, "4_hvg.h5ad"))
    final = ad.read_h5ad(out)
    problems = []
    # filter: cells with >= 10 genes and <= 20 % mitochondrial counts, genes in >= 3 of them.
    cells = (qc.obs["n_genes_by_counts"] >= 10) & (qc.obs["pct_counts_mt"] <= 20)
    X = dense(qc.X)[cells.to_numpy()]
    genes = (X > 0).sum(axis=0) >= 3
    if list(filtered.obs_names) != list(qc.obs_names[cells.to_numpy()]):
        problems.append("filter kept other cells than n_genes >= 10 and pct_counts_mt <= 20")
    if list(filtered.var_names) != list(qc.var_names[genes]):
        problems.append("filter kept other genes than those in >= 3 cells")
    hv = hvg.var["highly_variable"].to_numpy()
    if hv.sum() < 100:
        problems.append(f"hvg marked {hv.sum()} genes, fewer than --n-top-genes 100")
    if list(final.var_names) != list(hvg.var_names[hv]) or list(final.obs_names) != list(
            hvg.obs_names):
        problems.append("subset --highly-variable did not keep exactly the marked genes")
    elif not np.array_equal(dense(final.X), dense(normalized.X)[:, hv]):
        problems.append("the subset's X is not the normalized X cut to the marked genes")
    if "hvg" not in final.uns or "log1p" not in final.uns:
        problems.append(f"uns lost its entries: {list(final.uns.keys())}")
    for line in problems:
        print("FAIL " + line)
    if problems:
        sys.exit(1)
    print(f"ok: {final.n_obs} cells x {final.n_vars} genes from {qc.n_obs} x {qc.n_vars}")


if __name__ == "__main__":
    main()
