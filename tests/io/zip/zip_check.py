#!/usr/bin/python3
"""Zip stores (.zarr.zip) through the tessera command, checked against the reference (Debian's
anndata 0.8, which opens zip archives through zarr.ZipStore, and Python's zipfile).

    zip_check.py TESSERA --part archives|write|made --ranks 0|1|2|3 --workdir DIR --data DIR

archives  anndata's own format archives (DATA/anndata-archives/*/adata.zarr.zip, read in place):
          info, convert to .h5ad / .zarr / .zarr.zip, reduce --op sum --axis 1
write     .zarr.zip outputs of convert and concat from anndata-written h5ad files: every entry
          stored, names at the archive root, the reference reads them equal; a failed write
          leaves nothing behind
made      archives made here with zipfile/struct: ZIP64 structures, duplicated names (the last
          wins), and hostile ones (unsafe names, a zipped top-level folder, sizes that lie, a
          truncated archive, a CRC mismatch), each exit 1 with one error line and no output

--ranks 0 runs `tessera` directly; K > 0 under `mpirun -np K`. Every launch has a timeout.
"""
import argparse
import glob
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import warnings
import zipfile

import numpy as np

warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "anndata"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "cli"))
import anndata as ad  # noqa: E402
import pandas as pd  # noqa: E402

import cli_check  # noqa: E402  (dense_object, sparse_object, parse_reduce, reference_concat)
import interop  # noqa: E402  (compare_anndata, MPI_ENV)

RUN_TIMEOUT = 120


class Checker:
    def __init__(self, tessera, ranks, workdir):
        self.tessera = tessera
        self.ranks = ranks
        self.workdir = workdir
        self.failures = []
        self.tag = "serial" if ranks == 0 else f"np{ranks}"

    def path(self, *names):
        return os.path.join(self.workdir, *names)

    def run(self, label, *args, ranks=None, env_extra=None):
        """(returncode, stdout, stderr), or None after a timeout (reported as a FAIL)."""
        ranks = self.ranks if ranks is None else ranks
        cmd = [self.tessera, "--no-progress", *args]
        if ranks > 0:
            cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", *cmd]
        env = dict(os.environ, **interop.MPI_ENV, **(env_extra or {}))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                time.sleep(1)
            proc.communicate()
            self.fail(label, [f"no answer within {RUN_TIMEOUT} s (a hang): {' '.join(cmd)}"])
            return None
        return proc.returncode, out, err

    def run_ok(self, label, *args, ranks=None):
        r = self.run(label, *args, ranks=ranks)
        if r is None:
            return None
        code, out, err = r
        if code != 0:
            said = [line for line in err.splitlines() if line.startswith("tessera:")] or err.strip().splitlines()[-3:]
            self.fail(label, [f"exit {code}: {' | '.join(said) if said else '(no message)'}"])
            return None
        return r

    def fail(self, label, lines):
        self.failures.append((label, lines))
        print(f"FAIL [{self.tag}] {label}")
        for line in lines[:20]:
            print(f"     {line}")
        sys.stdout.flush()

    def check(self, label, problems):
        if callable(problems):
            try:
                problems = problems()
            except Exception as e:  # noqa: BLE001: a checker error is this check's failure
                problems = [f"checking raised {type(e).__name__}: {str(e)[:300]}"]
        if problems:
            self.fail(label, problems)
        else:
            print(f"ok   [{self.tag}] {label}")
            sys.stdout.flush()


def remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def read_reference(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ad.read_h5ad(path) if path.endswith(".h5ad") else ad.read_zarr(path)


def round_trip(a, workdir, fmt):
    """The reference's own writing and reading of `a` in `fmt` (a .zarr.zip is written as .zarr
    by anndata and zipped, as anndata's archives are): what a faithful converter gives for
    legacy inputs whose old encodings the reference upgrades on writing."""
    target = os.path.join(workdir, f"reference_round_trip.{fmt}")
    remove(target)
    if fmt == "h5ad":
        a.write_h5ad(target)
    else:
        folder = target if fmt == "zarr" else target[: -len(".zip")] + ".folder"
        remove(folder)
        a.write_zarr(folder)
        if fmt == "zarr.zip":
            zip_folder(folder, target)
            shutil.rmtree(folder)
    return read_reference(target)


def zip_folder(folder, target, compress=zipfile.ZIP_STORED, prefix=""):
    with zipfile.ZipFile(target, "w", compression=compress) as z:
        for root, _, files in sorted(os.walk(folder)):
            for f in sorted(files):
                full = os.path.join(root, f)
                z.write(full, prefix + os.path.relpath(full, folder))


def info_problems(stdout, expected):
    lines = stdout.splitlines()
    if lines[: len(expected)] == expected:
        return []
    for i, want in enumerate(expected):
        got = lines[i] if i < len(lines) else "<end>"
        if got != want:
            return [f"line {i + 1}: {got!r}, reference {want!r}"]
    return ["first lines differ"]


def archive_problems(path):
    """Every entry stored (no compression) and named relative to the store root."""
    problems = []
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        bad = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED]
        if bad:
            problems.append(f"{len(bad)} entries not stored, e.g. {bad[:3]}")
        if ".zgroup" not in names:
            problems.append(f"no .zgroup at the archive root; names {names[:5]}")
        odd = [n for n in names if n.startswith("/") or ".." in n.split("/") or "tessera" in n or n.endswith("/")]
        if odd:
            problems.append(f"names that are not store keys: {odd[:3]}")
        if len(set(names)) != len(names):
            problems.append("duplicated names")
        if z.testzip() is not None:
            problems.append(f"zipfile finds a bad CRC in {z.testzip()}")
    return problems


def leftovers(folder):
    return [n for n in os.listdir(folder) if ".tessera-" in n]


def sum_problems(X, names_expected, text):
    """reduce --op sum --axis 1 against float64 sums of the stored values (integers exactly)."""
    import scipy.sparse as sp

    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    names, values = cli_check.parse_reduce(text)
    if names != list(names_expected):
        return [f"names {names[:3]}…, reference {list(names_expected)[:3]}…"]
    if len(values) != dense.shape[0]:
        return [f"{len(values)} values, reference {dense.shape[0]}"]
    if dense.dtype.kind in "iub":
        exact = dense.astype(np.int64).sum(axis=1)
        bad = [(n, v, e) for n, v, e in zip(names, values, exact) if not (v.lstrip("-").isdigit() and int(v) == e)]
        return [f"{n}: {v}, reference {e}" for n, v, e in bad[:3]]
    wide = dense.astype(np.float64)
    exact = wide.sum(axis=1)
    bound = 4 * np.finfo(dense.dtype).eps * np.sqrt(dense.shape[1]) * np.abs(wide).sum(axis=1)
    for n, v, e, b in zip(names, values, exact, bound):
        got = float(v)
        if not (got == e or abs(got - e) <= b or (np.isnan(got) and np.isnan(e))):
            return [f"{n}: {v}, exact sum {e!r} (allowed rounding {b:.3g})"]
    return []


# ---------------------------------------------------------------------------------------------
# archives: anndata's own .zarr.zip files, read in place


def part_archives(c, args):
    found = sorted(glob.glob(os.path.join(args.data, "anndata-archives", "*", "adata.zarr.zip")))
    versions = {os.path.basename(os.path.dirname(p)) for p in found}
    if not {"v0.7.0", "v0.7.8"} <= versions:
        c.fail("archives", [f"v0.7.0 and v0.7.8 adata.zarr.zip not found under {args.data} (found {sorted(versions)})"])
    for path in found:
        version = os.path.basename(os.path.dirname(path))
        where = f"{version}/adata.zarr.zip"
        ref = read_reference(path)
        p = c.run_ok(f"{where} info", "info", path)
        if p is not None:
            c.check(f"{where} info", info_problems(p[1], repr(ref).splitlines()))
        for fmt in ("h5ad", "zarr", "zarr.zip"):
            out = c.path(f"{version}.out.{fmt}")
            remove(out)
            label = f"{where} convert -> .{fmt}"
            if c.run_ok(label, "convert", path, out) is None:
                continue

            def problems(out=out, fmt=fmt):
                want = round_trip(read_reference(path), c.workdir, fmt)
                found = (archive_problems(out) if fmt == "zarr.zip" else [])
                return found + interop.compare_anndata(want, read_reference(out))

            c.check(label, problems)
            if fmt == "zarr.zip":
                # Tessera reads its own archive back the same (info's repr, then to h5ad).
                label = f"{where} convert -> .zarr.zip -> info"
                q = c.run_ok(label, "info", out)
                if q is not None:
                    c.check(label, info_problems(q[1], repr(read_reference(out)).splitlines()))
        label = f"{where} reduce --op sum --axis 1"
        p = c.run_ok(label, "reduce", path, "--op", "sum", "--axis", "1")
        if p is None:
            continue
        c.check(label, sum_problems(ref.X, ref.obs_names, p[1]))
        if c.ranks != 0:
            # The same text at every rank count: compared with the run without a launcher.
            s = c.run_ok(f"{label} (serial)", "reduce", path, "--op", "sum", "--axis", "1", ranks=0)
            if s is not None:
                c.check(f"{label} equal to serial", [] if s[1] == p[1] else ["differs from the serial run"])


# ---------------------------------------------------------------------------------------------
# write: .zarr.zip outputs


def part_write(c, args):
    genes = [f"gene{i}" for i in range(40)]
    a = cli_check.dense_object(1, 150, genes[:30], "a")
    b = cli_check.dense_object(2, 90, genes[10:40], "b")
    s = cli_check.sparse_object(3, 130, 25)
    a.write_h5ad(c.path("a.h5ad"))
    b.write_h5ad(c.path("b.h5ad"))
    s.write_h5ad(c.path("s.h5ad"))
    for name in ("a", "s"):
        src = c.path(f"{name}.h5ad")
        out = c.path(f"{name}.zarr.zip")
        remove(out)
        # Small chunks, so that every rank writes some of them.
        label = f"convert {name}.h5ad -> {name}.zarr.zip --chunks 16"
        if c.run_ok(label, "convert", src, out, "--chunks", "16", "--compressor", "zstd") is None:
            continue
        c.check(label, lambda: archive_problems(out) + interop.compare_anndata(read_reference(src), read_reference(out)))
        back = c.path(f"{name}.back.h5ad")
        remove(back)
        label = f"convert {name}.zarr.zip -> .h5ad"
        if c.run_ok(label, "convert", out, back) is not None:
            c.check(label, lambda: interop.compare_anndata(read_reference(src), read_reference(back)))
        # Writing over an existing archive replaces it.
        label = f"convert {name}.h5ad -> existing {name}.zarr.zip"
        if c.run_ok(label, "convert", src, out) is not None:
            c.check(label, lambda: archive_problems(out) + interop.compare_anndata(read_reference(src), read_reference(out)))
    out = c.path("ab.zarr.zip")
    remove(out)
    label = "concat a.h5ad b.h5ad -o ab.zarr.zip"
    if c.run_ok(label, "concat", c.path("a.h5ad"), c.path("b.h5ad"), "-o", out, "--chunks", "32") is not None:
        c.check(label, lambda: archive_problems(out) + interop.compare_anndata(
            cli_check.reference_concat([c.path("a.h5ad"), c.path("b.h5ad")], c.path("ref_concat.h5ad")),
            read_reference(out)))
    # A .zarr.zip input to concat, graph and reduce.
    label = "concat a.zarr.zip b.h5ad -o ab2.h5ad"
    out2 = c.path("ab2.h5ad")
    remove(out2)
    if os.path.exists(c.path("a.zarr.zip")) and c.run_ok(label, "concat", c.path("a.zarr.zip"), c.path("b.h5ad"),
                                                           "-o", out2) is not None:
        c.check(label, lambda: interop.compare_anndata(read_reference(out), read_reference(out2)))
    label = "graph s.zarr.zip --op sum --axis 1"
    p = c.run_ok(label, "graph", c.path("s.zarr.zip"), "--op", "sum", "--axis", "1")
    if p is not None:
        text = p[1].strip()
        c.check(label, [] if text.startswith("digraph") and text.endswith("}") else [f"not DOT: {text[:80]!r}"])
    label = "reduce s.zarr.zip --op sum --axis 1"
    p = c.run_ok(label, "reduce", c.path("s.zarr.zip"), "--op", "sum", "--axis", "1")
    if p is not None:
        c.check(label, sum_problems(s.X, s.obs_names, p[1]))

    # A write failing on the last rank while streaming X leaves nothing at the target, no scratch
    # folder and no partial archive; an archive already there stays as it was.
    for existing in (False, True):
        out = c.path("failed.zarr.zip")
        remove(out)
        if existing:
            shutil.copyfile(c.path("s.zarr.zip"), out)
        before = open(out, "rb").read() if existing else None
        label = f"failing write (TESSERA_TEST_FAIL_WRITE=X{', over an existing archive' if existing else ''})"
        r = c.run(label, "convert", c.path("a.h5ad"), out, env_extra={"TESSERA_TEST_FAIL_WRITE": "X"})
        if r is None:
            continue
        code, _, err = r
        errors = [line for line in err.splitlines() if line.startswith("tessera: error:")]
        problems = []
        if code != 1 or len(errors) != 1:
            problems.append(f"exit {code}, {len(errors)} error lines: {err.strip()[-300:]!r}")
        elif "failed.zarr.zip" not in errors[0]:
            problems.append(f"the error does not name the target: {errors[0]!r}")
        if existing:
            if not os.path.exists(out) or open(out, "rb").read() != before:
                problems.append("the existing archive was changed")
        elif os.path.exists(out):
            problems.append("something was left at the target")
        if leftovers(c.workdir):
            problems.append(f"scratch files left: {leftovers(c.workdir)}")
        c.check(label, problems)
    label = "output below a file"
    r = c.run(label, "convert", c.path("a.h5ad"), c.path("a.h5ad", "x.zarr.zip"))
    if r is not None:
        c.check(label, [] if r[0] == 1 and r[2].count("tessera: error:") == 1 and not leftovers(c.workdir)
                else [f"exit {r[0]}: {r[2].strip()[-300:]!r}"])
    label = "no scratch files left by the successful writes"
    c.check(label, [f"left: {leftovers(c.workdir)}"] if leftovers(c.workdir) else [])


# ---------------------------------------------------------------------------------------------
# made: ZIP64, duplicated names, hostile archives


def small_object():
    rng = np.random.default_rng(7)
    a = ad.AnnData(rng.standard_normal((40, 12)).astype(np.float32))
    a.obs = pd.DataFrame({"a": np.arange(40, dtype=np.int64), "b": rng.random(40)},
                         index=[f"c{i}" for i in range(40)])
    a.var_names = [f"g{i}" for i in range(12)]
    return a


def entries_of(folder):
    out = []
    for root, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            full = os.path.join(root, f)
            with open(full, "rb") as fh:
                out.append((os.path.relpath(full, folder), fh.read()))
    return out


def write_entries(target, entries, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(target, "w", compression=compress) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, compress_type=compress)


def local_data_offset(data, info):
    """Where the bytes of `info`'s entry start (after its local header)."""
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + name_len + extra_len


def central_header(data, name):
    """Offset of the central directory record of (the last entry named) `name`."""
    at = -1
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        n, = struct.unpack_from("<H", data, pos + 28)
        if data[pos + 46: pos + 46 + n] == name.encode():
            at = pos
        pos = data.find(b"PK\x01\x02", pos + 4)
    return at


def make_hostile(c, entries):
    """{label: (path, entry named in the error or None)}."""
    cases = {}
    d = c.path("hostile")
    os.makedirs(d, exist_ok=True)

    def case(label, entry, builder):
        path = os.path.join(d, label + ".zarr.zip")
        builder(path)
        cases[label] = (path, entry)

    case("dotdot", "../evil", lambda p: write_entries(p, entries + [("../evil", b"x")]))
    case("absolute", "/abs", lambda p: write_entries(p, entries + [("/abs", b"x")]))
    case("backslash", "obs\\evil", lambda p: write_entries(p, entries + [("obs\\evil", b"x")]))
    case("folder", None, lambda p: write_entries(p, [("pbmc.zarr/" + n, v) for n, v in entries]))

    def truncated(p):
        write_entries(p, entries)
        data = open(p, "rb").read()
        open(p, "wb").write(data[: len(data) * 2 // 3])

    case("truncated", None, truncated)

    def crc(p):
        write_entries(p, entries)
        data = bytearray(open(p, "rb").read())
        with zipfile.ZipFile(p) as z:
            info = z.getinfo("X/0.0")
        data[local_data_offset(data, info) + info.file_size // 2] ^= 0x5A
        open(p, "wb").write(bytes(data))

    case("crc", "X/0.0", crc)

    def size(p, compress, entry, delta):
        write_entries(p, entries, compress)
        data = bytearray(open(p, "rb").read())
        at = central_header(data, entry)
        declared, = struct.unpack_from("<I", data, at + 24)
        struct.pack_into("<I", data, at + 24, declared + delta)
        with open(p, "wb") as fh:
            fh.write(bytes(data))

    # The central directory (what readers trust) declares other sizes than the entries hold.
    case("size_stored", "obs/.zattrs", lambda p: size(p, zipfile.ZIP_STORED, "obs/.zattrs", 3))
    case("size_deflated_small", "X/0.0", lambda p: size(p, zipfile.ZIP_DEFLATED, "X/0.0", -7))
    case("size_deflated_large", "X/0.0", lambda p: size(p, zipfile.ZIP_DEFLATED, "X/0.0", 7))
    case("size_huge", "X/0.0", lambda p: size(p, zipfile.ZIP_DEFLATED, "X/0.0", 0x7FFFFFFF))
    return cases


def error_problems(c, label, archive, entry, r, out):
    if r is None:
        return []  # the hang is already a FAIL
    code, _, err = r
    errors = [line for line in err.splitlines() if line.startswith("tessera: error:")]
    problems = []
    if code != 1:
        problems.append(f"exit {code} (expected 1): {err.strip()[-300:]!r}")
    if len(errors) != 1:
        problems.append(f"{len(errors)} 'tessera: error:' lines (expected 1): {err.strip()[-400:]!r}")
    else:
        if archive not in errors[0]:
            problems.append(f"the error does not name the archive: {errors[0]!r}")
        if entry is not None and entry not in errors[0]:
            problems.append(f"the error does not name the entry {entry!r}: {errors[0]!r}")
    if any(w in err for w in ("Segmentation", "Aborted", "core dumped", "terminate called")):
        problems.append(f"a crash: {err.strip()[-300:]!r}")
    if out is not None and os.path.exists(out):
        problems.append(f"{out} was written")
    return problems


def part_made(c, args):
    a = small_object()
    folder = c.path("small.zarr")
    remove(folder)
    a.write_zarr(folder, chunks=(10, 12))
    entries = entries_of(folder)

    # ZIP64: every local and central record with zip64 extras and a zip64 end of central
    # directory (zipfile writes them all when its limit is 0).
    z64 = c.path("zip64.zarr.zip")
    old = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = 0
    try:
        with zipfile.ZipFile(z64, "w") as z:
            for name, data in entries:
                with z.open(name, "w", force_zip64=True) as fh:
                    fh.write(data)
    finally:
        zipfile.ZIP64_LIMIT = old
    raw = open(z64, "rb").read()
    c.check("the ZIP64 archive has zip64 records", [] if raw.count(b"PK\x06\x06") == 1 else ["no zip64 end record"])
    p = c.run_ok("zip64 info", "info", z64)
    if p is not None:
        c.check("zip64 info", info_problems(p[1], repr(read_reference(z64)).splitlines()))
    out = c.path("zip64.h5ad")
    remove(out)
    if c.run_ok("zip64 convert -> .h5ad", "convert", z64, out) is not None:
        c.check("zip64 convert -> .h5ad", lambda: interop.compare_anndata(a, read_reference(out)))

    # Deflated entries and folder entries (what `zip -r` writes) read like stored ones.
    deflated = c.path("deflated.zarr.zip")
    with zipfile.ZipFile(deflated, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for d in sorted({os.path.dirname(n) for n, _ in entries if "/" in n}):
            z.writestr(d + "/", b"")
        for name, data in entries:
            z.writestr(name, data)
    out = c.path("deflated.h5ad")
    remove(out)
    if c.run_ok("deflated convert -> .h5ad", "convert", deflated, out) is not None:
        c.check("deflated convert -> .h5ad", lambda: interop.compare_anndata(a, read_reference(out)))

    # Duplicated names: obs/.zattrs twice, the later one keeping only column 'b'. zipfile (and so
    # the reference) reads the last; Tessera must too.
    import json

    attrs = dict(json.loads(dict(entries)["obs/.zattrs"]))
    assert attrs["column-order"] == ["a", "b"], attrs
    later = dict(attrs, **{"column-order": ["b"]})
    dup = c.path("duplicated.zarr.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_entries(dup, entries + [("obs/.zattrs", json.dumps(later).encode())])
    ref = read_reference(dup)
    p = c.run_ok("duplicated names: info", "info", dup)
    if p is not None:
        def dup_problems():
            problems = info_problems(p[1], repr(ref).splitlines())
            if "    obs: 'b'" not in p[1].splitlines():
                problems.append(f"the first obs/.zattrs was used: {p[1].splitlines()[:3]}")
            return problems

        c.check("duplicated names: info (the last entry wins)", dup_problems)

    for label, (path, entry) in make_hostile(c, entries).items():
        out = c.path("hostile", label + ".out.h5ad")
        remove(out)
        r = c.run(f"{label} convert", "convert", path, out)
        c.check(f"hostile {label}: convert", error_problems(c, label, path, entry, r, out))
        if label.startswith("size_deflated") or label == "crc":
            continue  # damage inside a chunk, which info does not read
        r = c.run(f"{label} info", "info", path)
        c.check(f"hostile {label}: info", error_problems(c, label, path, entry, r, None))
        if label == "folder" and r is not None:
            c.check("hostile folder: the error says how to re-zip",
                    [] if "cd pbmc.zarr && zip -r -0 ../folder.zarr.zip ." in r[2] else [f"{r[2].strip()!r}"])
    # A chunk read by range: a .zarr.zip output to a .zarr.zip, so that nothing is left at either.
    out = c.path("hostile", "crc.out.zarr.zip")
    remove(out)
    r = c.run("crc convert -> .zarr.zip", "convert", c.path("hostile", "crc.zarr.zip"), out)
    c.check("hostile crc: convert -> .zarr.zip", error_problems(c, "crc", c.path("hostile", "crc.zarr.zip"), "X/0.0", r, out)
            + ([f"scratch files left: {leftovers(c.path('hostile'))}"] if leftovers(c.path("hostile")) else []))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tessera")
    parser.add_argument("--part", required=True, choices=["archives", "write", "made"])
    parser.add_argument("--ranks", type=int, default=0)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "..", "shared", "data"))
    args = parser.parse_args()
    if os.path.exists(args.workdir):
        shutil.rmtree(args.workdir)
    os.makedirs(args.workdir)
    c = Checker(os.path.abspath(args.tessera), args.ranks, args.workdir)
    {"archives": part_archives, "write": part_write, "made": part_made}[args.part](c, args)
    if c.failures:
        print(f"{len(c.failures)} failures")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
