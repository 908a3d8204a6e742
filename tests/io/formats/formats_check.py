#!/usr/bin/python3
"""Every on-disk layout anndata has written (0.5 -> 0.13, h5ad and zarr v2) through the tessera
command, checked against the reference (Debian's anndata 0.8) and against fixtures' expectations.

    formats_check.py TESSERA --part archives|fixtures|errors --ranks 0|1|2 --workdir DIR
                     [--data SHARED_DATA_DIR] [--fixtures DIR] [--only SUBSTRING]

archives  every file in DATA/anndata-archives (the .zarr.zip ones extracted into the workdir:
          zip stores are a later issue): info, convert to h5ad and zarr, reduce, concat, graph
fixtures  make_fixtures.py's readable fixtures (DIR, or written into the workdir when not given)
errors    its unknown-encoding fixtures (error; --skip-unknown drops with one warning each) and
          corrupt fixtures (exit 1, one error line naming the element, no output left)

--ranks 0 runs `tessera` directly; K > 0 under `mpirun -np K`. Every launch has a timeout. Each
failure is one FAIL line naming the file, the subcommand, the ranks and the element; the exit
status is 1 when anything failed.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
import zipfile

import numpy as np

warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "anndata"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "cli"))
import anndata as ad  # noqa: E402
import h5py  # noqa: E402
import zarr  # noqa: E402

import cli_check  # noqa: E402  (numpy_reduce, compare_reduce, reference_concat)
import interop  # noqa: E402  (compare_anndata, MPI_ENV)
import make_fixtures as mf  # noqa: E402  (dump, compare_dump, strip, read_reference)

RUN_TIMEOUT = 120
SPARSE = {"csr_matrix", "csc_matrix"}


class Checker:
    def __init__(self, tessera, ranks, workdir):
        self.tessera = tessera
        self.ranks = ranks
        self.workdir = workdir
        self.failures = []
        self.passed = 0
        self.tag = "serial" if ranks == 0 else f"np{ranks}"

    def run(self, label, *args):
        """(returncode, stdout, stderr), or None after a timeout (reported as a FAIL)."""
        cmd = [self.tessera, "--no-progress", *args]
        if self.ranks > 0:
            cmd = ["mpirun", "-np", str(self.ranks), "--oversubscribe", *cmd]
        env = dict(os.environ, **interop.MPI_ENV)
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

    def run_ok(self, label, *args):
        r = self.run(label, *args)
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
        if len(lines) > 20:
            print(f"     … {len(lines) - 20} more")
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
            self.passed += 1
            print(f"ok   [{self.tag}] {label}")
            sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# Cases


class Case:
    """One input file and what reading it must give.

    ref: the reference's reading of everything the reference understands (the file itself, or
    its twin); special: {output element: {"dump", "absent_ok"}} for the rest."""

    def __init__(self, label, path, exp):
        self.label = label
        self.path = path
        self.exp = exp
        self._ref = None

    @property
    def ref(self):
        if self._ref is None:
            src = self.path if self.exp.get("reference") else self.exp["twin_path"]
            self._ref = mf.read_reference(src)
        return self._ref

    @property
    def special(self):
        return self.exp.get("special", {})


def archive_cases(data, workdir):
    root = os.path.join(data, "anndata-archives")
    cases = []
    if not os.path.isdir(root):
        return cases
    for path in sorted(glob.glob(os.path.join(root, "*", "*"))):
        version = os.path.basename(os.path.dirname(path))
        name = os.path.basename(path)
        label = f"{version}/{name}"
        if name.endswith(".zarr.zip"):
            target = os.path.join(workdir, "archives", f"{version}_{name[:-len('.zip')]}")
            if os.path.exists(target):
                shutil.rmtree(target)
            with zipfile.ZipFile(path) as z:
                z.extractall(target)
            local = target
        elif name.endswith(".h5ad") or name.endswith(".zarr"):
            local = path
        else:
            continue
        ref = mf.read_reference(local)
        exp = {"kind": "read", "reference": True, "repr": repr(ref).splitlines(), "has_X": ref.X is not None,
               "special": {}}
        c = Case(label, local, exp)
        c._ref = ref
        cases.append(c)
    return cases


def fixture_cases(fixtures, kinds):
    cases = []
    for jf in sorted(glob.glob(os.path.join(fixtures, "*.expected.json"))):
        with open(jf) as fh:
            exp = json.load(fh)
        if exp["kind"] not in kinds:
            continue
        if exp.get("twin"):
            exp["twin_path"] = os.path.join(fixtures, exp["twin"])
        if exp.get("skip"):
            exp["skip"]["twin_path"] = os.path.join(fixtures, exp["skip"]["twin"])
        cases.append(Case(exp["file"], os.path.join(fixtures, exp["file"]), exp))
    return cases


# ---------------------------------------------------------------------------------------------
# Checks on outputs


def walk(node, path=""):
    yield path, node
    if mf.is_group(node):
        for k in sorted(node.keys()):
            yield from walk(node[k], f"{path}/{k}" if path else k)


def upgraded_problems(out):
    """Tessera writes what it read in the 0.8+ encodings: every element carries encoding-type and
    encoding-version (children of sparse groups excepted), dataframes are 0.2.0, nothing of the
    old layouts is left (h5sparse attributes, __categories, `categories` references, raw.*)."""
    problems = []
    root = mf.open_store(out)
    try:
        attrs = dict(root.attrs)
        if mf.norm_attr(attrs.get("encoding-type")) != "anndata":
            problems.append(f"root: encoding-type {attrs.get('encoding-type')!r}, expected 'anndata'")
        legacy = [k for k in root.keys() if k.startswith("raw.")]
        if legacy:
            problems.append(f"root: pre-0.7 keys {legacy} written (expected raw/…)")
        skip_children = set()
        for path, node in walk(root):
            if not path:
                continue
            parent = path.rpartition("/")[0]
            if parent in skip_children:
                continue
            a = {k: mf.norm_attr(v) for k, v in node.attrs.items()}
            et, ev = a.get("encoding-type"), a.get("encoding-version")
            if et is None or ev is None:
                problems.append(f"{path}: no encoding-type/encoding-version attributes")
            if et in SPARSE:
                skip_children.add(path)
            if et == "dataframe" and ev != "0.2.0":
                problems.append(f"{path}: dataframe encoding-version {ev!r}, expected '0.2.0'")
            if "h5sparse_format" in a or "categories" in a and not mf.is_group(node):
                problems.append(f"{path}: pre-0.8 attribute written ({sorted(a)})")
            if path.endswith("/__categories"):
                problems.append(f"{path}: a 0.7 __categories group written")
            if len(problems) > 8:
                break
    finally:
        mf.close_store(root)
    return problems


def as_object_strings(v):
    """Fixed-width numpy strings (U/S), alone or as rec-array fields, as object strings."""
    if isinstance(v, dict):
        return {k: as_object_strings(x) for k, x in v.items()}
    if isinstance(v, np.ndarray) and v.dtype.names:
        if not any(v.dtype.fields[n][0].kind in "US" for n in v.dtype.names):
            return v
        dt = np.dtype([(n, object if v.dtype.fields[n][0].kind in "US" else v.dtype.fields[n][0])
                       for n in v.dtype.names])
        out = np.empty(v.shape, dtype=dt)
        for n in v.dtype.names:
            col = v[n]
            out[n] = col.astype(str).astype(object) if col.dtype.kind in "US" else col
        return out
    if isinstance(v, np.ndarray) and v.dtype.kind in "US":
        return v.astype(str).astype(object)
    if isinstance(v, (np.str_, np.bytes_)):
        return v.decode() if isinstance(v, np.bytes_) else str(v)
    return v


def reference_quirks(a):
    """The reference reads old fixed-width string arrays in uns (pre-0.8 `S`/`U` datasets,
    0.7 rec-arrays with `S` fields) as numpy `<U` arrays and pre-0.7 one-element string arrays
    as numpy.str_, while every 0.8+ writer (anndata's own included: read, write_h5ad, read gives
    `object` arrays and `str`) stores variable-length strings. Both sides are compared with such
    strings as object arrays / str: values equal, storage width aside."""
    a.uns = as_object_strings(dict(a.uns))
    return a


def compare_with_reference(want, got):
    return interop.compare_anndata(reference_quirks(want), reference_quirks(got))


def sum_problems(X, axis, names_expected, text):
    """`reduce --op sum` against the exact sums (float64 of the stored values, or integers). The
    order of additions is Tessera's own, so a float result may differ from the exact sum by the
    rounding of that order: at most 4 eps sqrt(n) sum|x| (eps of X's dtype), far below any
    missing or doubled value. numpy's own float32 sum differs from the exact one that much."""
    import scipy.sparse as sp

    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    names, values = cli_check.parse_reduce(text)
    if names != list(names_expected):
        return [f"names {names[:3]}…, reference {list(names_expected)[:3]}…"]
    if len(values) != dense.shape[1 - axis]:
        return [f"{len(values)} values, reference {dense.shape[1 - axis]}"]
    if dense.dtype.kind in "iub":
        exact = dense.astype(np.int64).sum(axis=axis)
        for name, v, e in zip(names, values, exact):
            if not (v.lstrip("-").isdigit() and int(v) == int(e)):
                return [f"{name}: {v}, reference {int(e)}"]
        return []
    wide = dense.astype(np.float64)
    exact = wide.sum(axis=axis)
    bound = 4 * np.finfo(dense.dtype).eps * np.sqrt(dense.shape[axis]) * np.abs(wide).sum(axis=axis)
    for name, v, e, b in zip(names, values, exact, bound):
        got = float(v)
        if not (got == e or abs(got - e) <= b or (np.isnan(got) and np.isnan(e))):
            return [f"{name}: {v}, exact sum {e!r} (allowed rounding {b:.3g})"]
    return []


def special_problems(case, out):
    problems = []
    for element, want in case.special.items():
        got = mf.dump_path(out, element)
        if got is None:
            if not want["absent_ok"]:
                problems.append(f"{element}: missing from the output")
            continue
        mf.compare_dump(want["dump"], got, element, problems)
    return problems


def reference_problems(case, out):
    """The reference reads the output equal to its reading of the input (special elements, which
    it cannot read, are compared on disk and removed from a copy before it reads)."""
    problems = special_problems(case, out)
    target = out
    if case.special:
        fmt = "h5ad" if out.endswith(".h5ad") else "zarr"
        target = out + f".stripped.{fmt}"
        mf.strip(out, target, list(case.special))
    try:
        back = mf.read_reference(target)
    except Exception as e:  # noqa: BLE001
        return problems + [f"the reference cannot read Tessera's output: {type(e).__name__}: {str(e)[:300]}"]
    return problems + compare_with_reference(case.ref, back)


def remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def info_problems(stdout, expected, has_x):
    lines = stdout.splitlines()
    problems = []
    if lines[: len(expected)] != expected:
        for i, want in enumerate(expected):
            got = lines[i] if i < len(lines) else "<end>"
            if got != want:
                problems.append(f"line {i + 1}: {got!r}, reference {want!r}")
                break
    if has_x and "X" not in lines[len(expected):]:
        problems.append("no chunk table for X after the repr")
    return problems


# ---------------------------------------------------------------------------------------------
# Subcommands on readable inputs


def not_run(c, where, what):
    """After `info` could not read the input, the other subcommands are not launched (they would
    fail the same way, each costing an mpirun): each is one FAIL line saying so."""
    for w in what:
        c.fail(f"{where} {w}", ["not run: info could not read the input (see the info failure)"])


def readable_subcommands(case, concat):
    what = ["convert -> .h5ad", "convert -> .zarr"]
    if case.exp["has_X"]:
        what += ["reduce --op sum --axis 0", "reduce --op sum --axis 1", "graph"]
        if concat and case.exp.get("reference"):
            what.append("concat IN IN")
    return what


def check_readable(c, case, concat=True):
    where = f"{case.label}"
    p = c.run_ok(f"{where} info", "info", case.path)
    if p is None:
        not_run(c, where, readable_subcommands(case, concat))
        return
    c.check(f"{where} info", info_problems(p[1], case.exp["repr"], case.exp["has_X"]))
    outdir = os.path.join(c.workdir, "out")
    os.makedirs(outdir, exist_ok=True)
    stem = case.label.replace("/", "_")
    for fmt in ("h5ad", "zarr"):
        out = os.path.join(outdir, f"{stem}.{fmt}")
        remove(out)
        label = f"{where} convert -> .{fmt}"
        if c.run_ok(label, "convert", case.path, out) is None:
            continue
        c.check(label, lambda: reference_problems(case, out) + upgraded_problems(out))
    if case.exp["has_X"]:
        X = case.ref.X
        for axis in (0, 1):
            label = f"{where} reduce --op sum --axis {axis}"
            p = c.run_ok(label, "reduce", case.path, "--op", "sum", "--axis", str(axis))
            if p is None:
                continue
            names = case.ref.var_names if axis == 0 else case.ref.obs_names
            c.check(label, lambda: sum_problems(X, axis, names, p[1]))
        label = f"{where} graph"
        p = c.run_ok(label, "graph", case.path)
        if p is not None:
            text = p[1].strip()
            c.check(label, [] if text.startswith("digraph") and text.endswith("}") else [f"not DOT: {text[:80]!r}"])
    if concat and case.exp["has_X"] and case.exp.get("reference"):
        out = os.path.join(outdir, f"{stem}.concat.h5ad")
        remove(out)
        label = f"{where} concat IN IN"
        if c.run_ok(label, "concat", case.path, case.path, "-o", out) is not None:
            try:
                expected = cli_check.reference_concat([case.path, case.path], os.path.join(outdir, f"{stem}.refconcat.h5ad"))
            except Exception as e:  # noqa: BLE001
                print(f"note: the reference cannot concat {case.label}: {e!r}; compared with nothing")
                return
            try:
                back = mf.read_reference(out)
            except Exception as e:  # noqa: BLE001
                c.fail(label, [f"the reference cannot read Tessera's output: {e!r}"])
                return
            c.check(label, lambda: compare_with_reference(expected, back))


def part_archives(c, args):
    cases = archive_cases(args.data, c.workdir)
    if not cases:
        c.fail("archives", [f"no files in {os.path.join(args.data, 'anndata-archives')}"])
    for case in cases:
        if args.only and args.only not in case.label:
            continue
        check_readable(c, case)


def part_fixtures(c, args):
    cases = fixture_cases(args.fixtures, {"read"})
    if not cases:
        c.fail("fixtures", [f"no fixtures in {args.fixtures}"])
    for case in cases:
        if args.only and args.only not in case.label:
            continue
        check_readable(c, case)


# ---------------------------------------------------------------------------------------------
# Errors


def without_path(message, case):
    """The message with the input's path taken out (file names hold words like 'index')."""
    text = message.replace(os.path.abspath(case.path), "FILE").replace(case.path, "FILE")
    return text.replace(os.path.basename(case.path), "FILE")


def names_element(message, case, alternatives):
    text = without_path(message, case)
    return any(re.search(r"(?<![\w.])" + re.escape(alt) + r"(?![\w])", text) for alt in alternatives)


def error_problems(c, case, result, target=None):
    code, out, err = result
    problems = []
    err_lines = err.splitlines()
    ours = [line for line in err_lines if line.startswith("tessera:")]
    errors = [line for line in ours if line.startswith("tessera: error:")]
    if code != 1:
        problems.append(f"exit status {code}, expected 1" + (" (a crash)" if code < 0 or code > 2 else ""))
    if len(errors) != 1 or len(ours) != 1:
        problems.append(f"{len(ours)} lines of ours on stderr ({len(errors)} errors), expected one error line: "
                        f"{err.strip()[:300]!r}")
    if errors:
        e = case.exp["error"]
        if not names_element(errors[0], case, e["any"]):
            problems.append(f"the error does not name {' or '.join(e['any'])}: {errors[0]!r}")
        for needle in e["needles"]:
            if needle not in without_path(errors[0], case):
                problems.append(f"the error does not say {needle!r}: {errors[0]!r}")
    if c.ranks == 0 and len(err_lines) != 1:
        problems.append(f"stderr has {len(err_lines)} lines, expected 1: {err.strip()[:300]!r}")
    if target is not None:
        if os.path.exists(target):
            problems.append(f"{os.path.basename(target)} exists after the failure")
        d = os.path.dirname(target)
        left = [f for f in os.listdir(d) if "tessera" in f and os.path.basename(target) in f]
        if left:
            problems.append(f"temporary files left: {left}")
    return problems


def check_failing(c, case):
    """info, convert (to both formats) and reduce: exit 1, one error line naming the element."""
    outdir = os.path.join(c.workdir, "out")
    os.makedirs(outdir, exist_ok=True)
    stem = case.label
    runs = [("info", ["info", case.path], None)]
    for fmt in ("h5ad", "zarr"):
        out = os.path.join(outdir, f"{stem}.failed.{fmt}")
        remove(out)
        runs.append((f"convert -> .{fmt}", ["convert", case.path, out], out))
    runs.append(("reduce --op sum --axis 1", ["reduce", case.path, "--op", "sum", "--axis", "1"], None))
    for what, args, target in runs:
        label = f"{case.label} {what} (error)"
        r = c.run(label, *args)
        if r is not None:
            c.check(label, error_problems(c, case, r, target))


def warning_problems(c, case, err, dropped):
    problems = []
    ours = [line for line in err.splitlines() if line.startswith("tessera:")]
    warns = [line for line in ours if line.startswith("tessera: warning:")]
    if len(warns) != len(dropped) or len(ours) != len(warns):
        problems.append(f"{len(warns)} warning lines ({len(ours)} of ours), expected {len(dropped)} (one per dropped element): {err.strip()[:400]!r}")
    for element in dropped:
        if not any(names_element(w, case, [element]) for w in warns):
            problems.append(f"no warning names {element}")
    return problems


def check_skip_unknown(c, case):
    skip = case.exp["skip"]
    dropped = skip["warnings"]
    twin = mf.read_reference(skip["twin_path"])
    label = f"{case.label} info --skip-unknown"
    r = c.run_ok(label, "info", "--skip-unknown", case.path)
    if r is None:
        not_run(c, case.label, ["convert --skip-unknown -> .h5ad", "convert --skip-unknown -> .zarr"]
                + (["reduce --skip-unknown --op sum --axis 0"] if case.exp["has_X"] else []))
        return
    c.check(label, info_problems(r[1], skip["repr"], case.exp["has_X"]) + warning_problems(c, case, r[2], dropped))
    outdir = os.path.join(c.workdir, "out")
    for fmt in ("h5ad", "zarr"):
        out = os.path.join(outdir, f"{case.label}.skip.{fmt}")
        remove(out)
        label = f"{case.label} convert --skip-unknown -> .{fmt}"
        r = c.run_ok(label, "convert", "--skip-unknown", case.path, out)
        if r is None:
            continue
        problems = warning_problems(c, case, r[2], dropped)
        for element in dropped:
            if mf.dump_path(out, element) is not None:
                problems.append(f"{element}: still in the output")
        try:
            problems += compare_with_reference(twin, mf.read_reference(out))
        except Exception as e:  # noqa: BLE001
            problems.append(f"the reference cannot read Tessera's output: {type(e).__name__}: {str(e)[:300]}")
        c.check(label, problems + upgraded_problems(out))
    if case.exp["has_X"]:
        label = f"{case.label} reduce --skip-unknown --op sum --axis 0"
        r = c.run_ok(label, "reduce", "--skip-unknown", case.path, "--op", "sum", "--axis", "0")
        if r is not None:
            c.check(label, lambda: sum_problems(twin.X, 0, twin.var_names, r[1])
                    + warning_problems(c, case, r[2], dropped))


def part_errors(c, args):
    cases = fixture_cases(args.fixtures, {"unknown", "corrupt"})
    if not cases:
        c.fail("errors", [f"no fixtures in {args.fixtures}"])
    for case in cases:
        if args.only and args.only not in case.label:
            continue
        check_failing(c, case)
        if case.exp["kind"] == "unknown":
            check_skip_unknown(c, case)


PARTS = {"archives": part_archives, "fixtures": part_fixtures, "errors": part_errors}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tessera")
    p.add_argument("--part", choices=list(PARTS), required=True)
    p.add_argument("--ranks", type=int, default=0)
    p.add_argument("--workdir", required=True)
    p.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "..", "shared", "data"),
                   help="the shared data folder (holding anndata-archives/)")
    p.add_argument("--fixtures", help="make_fixtures.py's output (default: written into the workdir)")
    p.add_argument("--only", help="only cases whose file name contains this")
    p.add_argument("--keep", action="store_true", help="keep the workdir when everything passed")
    args = p.parse_args()
    if os.path.exists(args.workdir):
        shutil.rmtree(args.workdir)
    os.makedirs(args.workdir)
    args.data = os.path.abspath(args.data)
    if args.part != "archives":
        if args.fixtures is None:
            args.fixtures = os.path.join(args.workdir, "fixtures")
            subprocess.run([sys.executable, os.path.join(HERE, "make_fixtures.py"), args.fixtures], check=True,
                           stdout=subprocess.DEVNULL, timeout=300)
        args.fixtures = os.path.abspath(args.fixtures)
    c = Checker(os.path.abspath(args.tessera), args.ranks, args.workdir)
    PARTS[args.part](c, args)
    print(f"\n{c.passed} passed, {len(c.failures)} failed ({args.part}, {c.tag})")
    if c.failures:
        print("\nFailed:")
        for label, lines in c.failures:
            print(f"  [{c.tag}] {label}: {lines[0] if lines else ''}")
        print(f"\n(files kept in {args.workdir})")
        return 1
    if not args.keep:
        shutil.rmtree(args.workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
