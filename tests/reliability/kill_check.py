#!/usr/bin/python3
"""Writers killed with SIGKILL at random points (issue 16, "kill tests").

    kill_check.py TESSERA --workdir DIR [--kills N] [--ranks 1,2] [--seed S]

For each output kind (h5ad, Zarr v2, Zarr v3 sharded, Zarr v2 in a .zarr.zip) and each rank
count, `tessera convert SOURCE TARGET` is started N times and killed with SIGKILL after a random
delay between 0 and 1.2 times the length of an uninterrupted run: every process of the job at
once (a node lost, `scancel`), or one rank only (the others must then stop too, not hang). Half
the runs start with no file at the target, half with an older valid file there. After each kill:

  - no target: the path is still absent, or holds the complete output (the kill came after the
    rename), which the reference anndata reads with exactly the source's values;
  - an older file: it is byte for byte untouched, or replaced by the complete output.

Anything else at the target (a file a reader accepts or refuses, but not one of those two) fails,
and so does a job that does not stop within a minute of the kill. The source is written by the
reference (Debian's anndata 0.8); every check reads with it too (zip stores through zarr's
ZipStore), so "valid" means what the reference accepts. The counts of each outcome are printed,
for docs/reliability.md.
"""
import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import anndata as ad
import numpy as np
import scipy.sparse as sp
import zarr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "io", "anndata"))
import interop  # noqa: E402  (MPI environment shared with the io tests)

STOP_TIMEOUT = 60  # seconds a killed job may take to be gone

# kind: (target name, convert options, read through tessera first)
KINDS = {
    "h5ad": ("out.h5ad", [], False),
    "zarr_v2": ("out.zarr", ["--compressor", "lz4"], False),
    "zarr_v3_sharded": (
        "out.zarr", ["--zarr-format", "3", "--chunks", "500", "--shards", "2000"], True),
    "zarr_zip": ("out.zarr.zip", [], False),
}


def make_source(path, rows, cols, seed):
    rng = np.random.default_rng(seed)
    X = rng.random((rows, cols))
    counts = sp.random(rows, cols, density=0.05, format="csr", random_state=seed, dtype=np.float32)
    a = ad.AnnData(X=X, layers={"counts": counts}, obsm={"pca": rng.random((rows, 20))})
    a.obs_names = [f"cell{i}" for i in range(rows)]
    a.var_names = [f"gene{j}" for j in range(cols)]
    a.write_h5ad(path)
    return a


def read_reference(path):
    if path.endswith(".zarr.zip"):
        store = zarr.ZipStore(path, mode="r")
        try:
            return ad.read_zarr(store)
        finally:
            store.close()
    if path.endswith(".zarr"):
        return ad.read_zarr(path)
    return ad.read_h5ad(path)


def is_complete(path, source, tessera=None, env=None):
    """The reference reads `path` and finds exactly the source's values. Zarr v3 (which Debian's
    zarr-python 2 cannot read) is first converted to h5ad by `tessera`, whose v3 reading the zarr3
    tests check against an independent decoder."""
    try:
        if tessera is not None:
            h5ad = path + ".check.h5ad"
            remove(h5ad)
            done = subprocess.run([tessera, "--no-progress", "convert", path, h5ad], env=env,
                                  capture_output=True, timeout=120)
            if done.returncode != 0:
                return False
            path = h5ad
        a = read_reference(path)
        layer = a.layers["counts"]
        layer = layer.toarray() if sp.issparse(layer) else np.asarray(layer)
        return (
            a.shape == source.shape
            and list(a.obs_names) == list(source.obs_names)
            and np.array_equal(np.asarray(a.X), source.X)
            and np.array_equal(layer, source.layers["counts"].toarray())
            and np.array_equal(np.asarray(a.obsm["pca"]), source.obsm["pca"])
        )
    except Exception:  # noqa: BLE001  (any refusal means "not the complete output")
        return False


def tree_digest(path):
    """sha256 over every file below `path` (names and bytes), or None when nothing is there."""
    if not os.path.lexists(path):
        return None
    h = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                p = os.path.join(root, name)
                h.update(os.path.relpath(p, path).encode())
                with open(p, "rb") as f:
                    h.update(f.read())
    else:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def command(tessera, ranks, source, target, extra):
    cmd = [tessera, "--no-progress", "convert", source, target, *extra]
    if ranks > 0:
        cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", *cmd]
    return cmd


def session_pids(sid, name=None):
    """Live processes of session `sid` (whose command is `name`, when given: the ranks)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        # fields[0]: state (a killed rank not yet reaped is a zombie: gone); fields[3]: session
        if fields[0] != "Z" and int(fields[3]) == sid and name in (None, comm):
            pids.append(int(entry))
    return pids


def main():
    p = argparse.ArgumentParser()
    p.add_argument("tessera")
    p.add_argument("--workdir", required=True)
    p.add_argument("--kills", type=int, default=4, help="kills per output kind and rank count")
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--kinds", default=",".join(KINDS), help="output kinds to test")
    p.add_argument("--seed", type=int, default=20261203)
    p.add_argument("--rows", type=int, default=6000)
    p.add_argument("--cols", type=int, default=400)
    args = p.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.workdir, exist_ok=True)
    env = dict(os.environ, **interop.MPI_ENV)
    source_path = os.path.join(args.workdir, "source.h5ad")
    source = make_source(source_path, args.rows, args.cols, args.seed)
    older_path = os.path.join(args.workdir, "older.h5ad")
    make_source(older_path, 50, 30, args.seed + 1)
    failures = []
    counts = {}
    for kind, (name, extra, via_tessera) in KINDS.items():
        if kind not in args.kinds.split(","):
            continue
        for ranks in [int(r) for r in args.ranks.split(",")]:
            label = f"{kind} at {ranks} rank{'s' if ranks != 1 else ''}"
            folder = os.path.join(args.workdir, f"{kind}_np{ranks}")
            checker = (args.tessera, env) if via_tessera else (None, None)
            remove(folder)
            os.makedirs(folder)
            target = os.path.join(folder, name)
            # An uninterrupted run: how long one takes, its output complete, and an older valid
            # file of the same kind for the runs that start with one at the target.
            start = time.monotonic()
            done = subprocess.run(command(args.tessera, ranks, source_path, target, extra),
                                  env=env, capture_output=True, text=True, timeout=300)
            length = time.monotonic() - start
            if done.returncode != 0 or not is_complete(target, source, *checker):
                failures.append(f"{label}: an uninterrupted run failed: {done.stderr.strip()}")
                continue
            older = os.path.join(folder, "older_" + name)
            subprocess.run(command(args.tessera, ranks, older_path, older, extra), env=env,
                           check=True, capture_output=True, timeout=300)
            remove(target)
            tally = counts.setdefault(label, {"absent": 0, "untouched": 0, "complete": 0,
                                              "one_rank_killed": 0, "job_killed": 0})
            for k in range(args.kills):
                with_older = k % 2 == 1
                remove(target)
                if with_older:
                    if os.path.isdir(older):
                        shutil.copytree(older, target)
                    else:
                        shutil.copy2(older, target)
                before = tree_digest(target)
                delay = rng.uniform(0, 1.2 * length)
                one_rank = ranks > 1 and rng.random() < 0.5
                job = subprocess.Popen(command(args.tessera, ranks, source_path, target, extra),
                                       env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
                time.sleep(delay)
                what = f"{label}, kill {k + 1} after {delay:.2f} s"
                victims = session_pids(job.pid, "tessera") if one_rank else []
                if victims:
                    try:
                        os.kill(rng.choice(victims), signal.SIGKILL)
                    except ProcessLookupError:
                        pass  # it had just finished
                    tally["one_rank_killed"] += 1
                else:
                    # The whole job at once, as a batch system kills it: every process of its
                    # session (Open MPI puts the ranks in process groups of their own).
                    for pid in session_pids(job.pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    tally["job_killed"] += 1
                try:
                    job.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    failures.append(f"{what}: the job did not stop within {STOP_TIMEOUT} s")
                    os.killpg(job.pid, signal.SIGKILL)
                    job.wait()
                # Ranks left without their launcher must stop on their own, soon.
                deadline = time.monotonic() + STOP_TIMEOUT
                while session_pids(job.pid, "tessera") and time.monotonic() < deadline:
                    time.sleep(0.1)
                for pid in session_pids(job.pid, "tessera"):
                    failures.append(f"{what}: rank process {pid} still runs {STOP_TIMEOUT} s "
                                    "after the kill")
                    os.kill(pid, signal.SIGKILL)
                after = tree_digest(target)
                if after is None and not with_older:
                    tally["absent"] += 1
                elif with_older and after == before:
                    tally["untouched"] += 1
                elif is_complete(target, source, *checker):
                    tally["complete"] += 1
                else:
                    state = "changed" if with_older else "left"
                    failures.append(f"{what}: a partial output was {state} at {target}")
                    print("FAIL " + failures[-1], flush=True)
                    kept = os.path.join(args.workdir, f"failed_{kind}_np{ranks}_{k}")
                    remove(kept)
                    os.rename(target, kept)  # for a look afterwards
            # Temporary siblings of killed runs stay behind, hidden (".out.h5ad.tessera-…"):
            # never at the target, and never read as it.
            leftovers = [n for n in os.listdir(folder) if ".tessera-" in n]
            remove(target + ".check.h5ad")
            tally["temporaries_left"] = len(leftovers)
            print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in tally.items()), flush=True)
    for f in failures:
        print("FAIL " + f)
    if failures:
        sys.exit(1)
    print(f"all {sum(v['absent'] + v['untouched'] + v['complete'] for v in counts.values())} "
          "kills left either nothing, the untouched older file, or the complete output")


if __name__ == "__main__":
    main()
