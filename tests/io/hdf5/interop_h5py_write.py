"""Tessera writes; h5py (with hdf5plugin for Blosc and Zstd) reads. The tool prints what it meant
to write, including each array's filter pipeline; h5py's view must match exactly, dtypes and
JSON kinds included, and anndata 0.8 must read the data frame with an empty column-order.
Usage: interop_h5py_write.py TOOL WORKDIR"""

import os
import sys

import h5py
import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h5_describe import compare, describe, filter_available, run_tool  # noqa: E402


def main():
    tool, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    if not filter_available(32001):
        print("h5py cannot load Blosc (Debian: apt-get install hdf5-filter-plugin-blosc-serial)")
        return 77
    path = os.path.join(workdir, "tessera_fixture.h5")
    expected = run_tool(tool, "write", path)
    problems = compare(expected, describe(path))

    with h5py.File(path, "r") as f:
        # The numpy types h5py hands back, beyond their JSON form.
        if f["plain/bool_1d"].dtype != np.bool_:
            problems.append(f"bool array reads as {f['plain/bool_1d'].dtype}")
        if not isinstance(f["attrs"].attrs["true"], np.bool_):
            problems.append(f"bool attribute reads as {type(f['attrs'].attrs['true'])}")
        if f["attrs"].attrs["shape"].dtype != np.int64:
            problems.append(f"shape attribute is {f['attrs'].attrs['shape'].dtype}, not int64")
        if not isinstance(f["attrs"].attrs["str"], str):
            problems.append("string attribute does not read as str")
        if h5py.check_string_dtype(f["strings/list"].dtype).encoding != "utf-8":
            problems.append("strings are not UTF-8")
        empty = f["attrs"].attrs["empty"]
        if not (isinstance(empty, np.ndarray) and empty.shape == (0,)):
            problems.append(f"empty list reads as {empty!r}")

    # anndata's own reader on the data frame whose column-order is empty.
    import anndata
    from anndata.experimental import read_elem

    with h5py.File(path, "r") as f:
        df = read_elem(f["obs"])
    if list(df.columns) != [] or list(df.index) != ["cell_a", "cell_b", "cell_c"]:
        problems.append(f"anndata {anndata.__version__} reads obs as {df!r}")

    for p in problems:
        print("MISMATCH", p)
    print(f"{len(problems)} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
