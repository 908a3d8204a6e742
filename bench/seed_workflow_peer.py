#!/usr/bin/python3
"""The Python peer of bench/seed_workflow.cpp: the seed walkthrough's stages with anndata 0.8 and
dask arrays, timed stage by stage, printing the same line as the C++ benchmark:

    concat+rowsum=…s views=…s to_memory=…s write_h5ad=…s write_zarr=…s read_h5ad=…s read_zarr=…s total=…s

Run it as `/usr/bin/python3 bench/seed_workflow_peer.py M N OUTDIR [--mode dask|anndata]`
(docs/benchmarks.md, section "Seed workflow (issue 14)"). Files go to OUTDIR/peer_concat.h5ad and
OUTDIR/peer_concat.zarr and are removed at the end. The stages, the chunks (4096 x 4096) and the
object lifetimes are those of the C++ benchmark; see there for what each stage means.

anndata 0.8.0 does not keep a dask X: `AnnData(X=dask_array)` runs `np.array(X, dtype)`, which
computes it (as float32 unless `dtype` is given), and `ad.concat` builds its result that way too;
a view of an AnnData whose X is a dask array raises NotImplementedError ("No view type has been
registered for dask.array.core.Array"). Layers and obsm stay dask arrays. Hence two modes:

  --mode dask     (default) X stays a dask array, as in the seed's intent and in the C++
                  benchmark: set with the public `adata.X = X` setter (which keeps it), concatenated
                  with `da.concatenate` (what `ad.concat` calls on dask arrays, before its
                  constructor computes the result), the views taken on the array
                  (`X[:500, :500]`, `X[[12, 12, 3, 5, 53]][:, [1, 2, 5]]`, `X[mask]`) since
                  anndata 0.8 cannot take them on the object. Stage for stage like-for-like.
  --mode anndata  the seed's code exactly as anndata 0.8 runs it (dtype=float64): X is computed
                  when each object is built, `ad.concat` concatenates numpy arrays, the views are
                  anndata views; layers['a'] and obsm stay lazy until to_memory. The work moves
                  between stages, so only the total compares with the C++ figures.

A second line, `# sync_h5ad=…s sync_zarr=…s peak_rss_self=…GiB …`, gives the fsync of each
written file tree after its writer returned (outside the stage figure, as in the C++ benchmark)
and the process' peak resident set (ru_maxrss).
"""
import os
import resource
import sys
import time

import dask
import dask.array as da
import numpy as np
import pandas as pd
import zarr
from numcodecs import Blosc

import anndata as ad
from anndata._io.zarr import write_zarr  # what AnnData.write_zarr calls, with dataset kwargs

CHUNK = 4096  # the seed's (and the C++ benchmark's) chunks: 4096 x 4096
OBSM_COLS = 100
# anndata 0.8's zarr default (zarr's default compressor), named explicitly: Blosc lz4, clevel 5,
# byte shuffle. The C++ benchmark writes the same.
COMPRESSOR = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)


def adata_with_dask(n_obs, n_vars, lazy_x):
    """The seed's adata_with_dask, with the benchmark's chunks, float64 kept (dtype=float64).
    lazy_x: X set after construction, so that it stays a dask array (see the module's text)."""
    X = da.random.random((n_obs, n_vars), chunks=(CHUNK, CHUNK))
    obs = pd.DataFrame(
        {"batch": pd.Categorical(["a"] * (n_obs // 2) + ["b"] * (n_obs - n_obs // 2))}
    )
    obsm = {"a": da.random.random((n_obs, OBSM_COLS), chunks=(CHUNK, OBSM_COLS))}
    if not lazy_x:
        return ad.AnnData(X=X, layers={"a": X}, obsm=obsm, obs=obs, dtype=np.float64)
    a = ad.AnnData(
        obs=obs, var=pd.DataFrame(index=[str(i) for i in range(n_vars)]), layers={"a": X},
        obsm=obsm, dtype=np.float64,
    )
    a.X = X
    return a


def fsync_tree(path):
    """fsync of every file and folder at or below path, and of its parent (as the C++ side)."""
    paths = [path]
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            paths += [os.path.join(root, n) for n in dirs + files]
    paths.append(os.path.dirname(os.path.abspath(path)))
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove(path):
    import shutil

    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def main():
    args = sys.argv[1:]
    mode = "dask"
    if len(args) == 5 and args[3] == "--mode" and args[4] in ("dask", "anndata"):
        mode = args[4]
        args = args[:3]
    if len(args) != 3:
        sys.exit("usage: seed_workflow_peer.py M N OUTDIR [--mode dask|anndata]")
    m, n, outdir = int(args[0]), int(args[1]), args[2]
    lazy_x = mode == "dask"
    if m < 27 or n < 6:
        sys.exit("M must be at least 27 and N at least 6 (the list view takes row 53, column 5)")
    os.makedirs(outdir, exist_ok=True)
    h5ad_path = os.path.join(outdir, "peer_concat.h5ad")
    zarr_path = os.path.join(outdir, "peer_concat.zarr")
    remove(h5ad_path)
    remove(zarr_path)
    times = {}
    extra = {}

    def stage(name):
        class Timer:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                times[name] = time.perf_counter() - self.t0

        return Timer()

    # Two objects, concatenated; X's row sums computed.
    with stage("concat+rowsum"):
        adata = adata_with_dask(m, n, lazy_x)
        adata2 = adata_with_dask(m, n, lazy_x)
        if lazy_x:
            # ad.concat would compute X (its result's constructor does): concatenate the rest
            # with it, X with dask, as ad.concat itself does before that.
            Xs = [adata.X, adata2.X]
            adata.X = None
            adata2.X = None
            adata_concat = ad.concat([adata, adata2], index_unique="id")
            adata_concat.X = da.concatenate(Xs, axis=0)
            adata.X, adata2.X = Xs
            row_sums = adata_concat.X.sum(axis=1).compute()
        else:
            adata_concat = ad.concat([adata, adata2], index_unique="id")
            row_sums = adata_concat.X.sum(axis=1)
    assert isinstance(adata_concat.X, da.Array if lazy_x else np.ndarray)
    assert adata_concat.X.dtype == np.float64 and isinstance(adata_concat.layers["a"], da.Array)
    assert row_sums.shape == (2 * m,)

    # The seed's three views, each one's X computed.
    with stage("views"):
        if lazy_x:
            X = adata_concat.X
            v1 = X[:500, :500].compute()
            v2 = X[[12, 12, 3, 5, 53]][:, [1, 2, 5]].compute()
            v3 = X[(adata_concat.obs["batch"] == "b").to_numpy()].compute()
            del X
        else:
            v1 = np.asarray(adata_concat[:500, :500].X)
            v2 = np.asarray(adata_concat[[12, 12, 3, 5, 53], [1, 2, 5]].X)
            v3 = np.asarray(adata_concat[adata_concat.obs["batch"] == "b"].X)
    assert v1.shape == (min(500, 2 * m), min(500, n)) and v2.shape == (5, 3)
    assert v3.shape == (2 * (m - m // 2), n)
    del v1, v2, v3

    # to_memory: anndata 0.8's AnnData.to_memory is for backed objects only, so every dask array
    # is computed, in one dask.compute (X and layers['a'] are the same graph in dask mode, as in
    # the seed, and their chunks are generated once), and an in-memory AnnData built from the
    # results. In anndata mode X is in memory already.
    with stage("to_memory"):
        X, layer, obsm = dask.compute(
            adata_concat.X, adata_concat.layers["a"], adata_concat.obsm["a"]
        )
        mem = ad.AnnData(
            X=X,
            obs=adata_concat.obs,
            var=adata_concat.var,
            layers={"a": layer},
            obsm={"a": obsm},
            dtype=np.float64,
        )
    del X, layer, obsm
    assert isinstance(mem.X, np.ndarray) and isinstance(mem.layers["a"], np.ndarray)
    extra["layer_shares_X"] = int(np.shares_memory(mem.X, mem.layers["a"]))
    if lazy_x:
        extra["layer_graph_is_X"] = int(adata_concat.layers["a"].name == adata_concat.X.name)

    # Writes. anndata 0.8 cannot write dask arrays (its writers take numpy / scipy / pandas
    # values), so the peer writes the in-memory object of the stage above, and so does the C++
    # side: the write stages do not include computing. h5ad: anndata's defaults (uncompressed;
    # h5py stores numpy arrays contiguous). zarr: X chunked 4096 x 4096, every array with Blosc
    # lz4 clevel 5 shuffle (anndata 0.8's default codec, named); anndata 0.8's write_zarr passes
    # `chunks` to X only, so layers['a'] and obsm get zarr's own chunk guess (512 x 512 for a
    # 16384 x 8192 float64 array).
    with stage("write_h5ad"):
        mem.write_h5ad(h5ad_path)
    t0 = time.perf_counter()
    fsync_tree(h5ad_path)
    extra["sync_h5ad"] = time.perf_counter() - t0
    with stage("write_zarr"):
        write_zarr(zarr_path, mem, chunks=(CHUNK, CHUNK), compressor=COMPRESSOR)
    t0 = time.perf_counter()
    fsync_tree(zarr_path)
    extra["sync_zarr"] = time.perf_counter() - t0
    assert zarr.open(zarr_path, mode="r")["X"].compressor == COMPRESSOR
    # The written object is not needed any more (the C++ side frees it here too).
    expected = row_sums
    del mem

    # Each file read back into memory, and its X's row sums computed.
    with stage("read_h5ad"):
        back = ad.read_h5ad(h5ad_path)
        sums = back.X.sum(axis=1)
    assert np.allclose(sums, expected, rtol=1e-12, atol=0)
    del back, sums
    with stage("read_zarr"):
        back = ad.read_zarr(zarr_path)
        sums = back.X.sum(axis=1)
    assert np.allclose(sums, expected, rtol=1e-12, atol=0)
    del back, sums

    remove(h5ad_path)
    remove(zarr_path)

    order = [
        "concat+rowsum",
        "views",
        "to_memory",
        "write_h5ad",
        "write_zarr",
        "read_h5ad",
        "read_zarr",
    ]
    total = sum(times[k] for k in order)
    print(" ".join(f"{k}={times[k]:.3f}s" for k in order) + f" total={total:.3f}s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 * 1024.0)  # KiB -> GiB
    print(
        f"# sync_h5ad={extra['sync_h5ad']:.3f}s sync_zarr={extra['sync_zarr']:.3f}s "
        f"peak_rss_self={peak:.3f}GiB mode={mode} layer_shares_X={extra['layer_shares_X']} "
        f"layer_graph_is_X={extra.get('layer_graph_is_X', '-')} "
        f"dask={dask.__version__} anndata={ad.__version__} zarr={zarr.__version__} "
        f"threads={os.cpu_count()}",
        flush=True,
    )


if __name__ == "__main__":
    main()
