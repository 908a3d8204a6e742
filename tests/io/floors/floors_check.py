#!/usr/bin/env python3
"""io/ is built in floors, each knowing only the floors below it (docs/architecture.md):

  1 storage    byte stores (directory, memory, zip)       src/storage, key_value_store.hpp, zip_store.hpp
  2 formats    Zarr v2/v3 and HDF5 arrays and groups      src/formats, storage.hpp, zarr_store.hpp, ...
  3 encodings  anndata's encodings on the Group interface src/encodings, options.hpp
  4 top        whole-object read/write, streaming writer  src/*.cpp, src/*.hpp, anndata_io.hpp

This check reads every io/ source and header, resolves each quoted #include to its floor, and
fails on an include of a higher floor, on a storage or formats file that includes anndata/ (they
know arrays and bytes, not AnnData), and on any io file it cannot place (a new file must be put
on a floor). Usage: floors_check.py IO_DIR
"""
import pathlib
import re
import sys

NAMES = {1: "storage", 2: "formats", 3: "encodings", 4: "top"}
PUBLIC = {
    "key_value_store.hpp": 1,
    "zip_store.hpp": 1,
    "storage.hpp": 2,
    "zarr_store.hpp": 2,
    "hdf5_file.hpp": 2,
    "detail/zarr_codec.hpp": 2,
    "detail/zarr_metadata.hpp": 2,
    "options.hpp": 3,
    "anndata_io.hpp": 4,
}


def floor_of(io: pathlib.Path, path: pathlib.Path):
    rel = path.relative_to(io).as_posix()
    if rel.startswith("include/tessera/io/"):
        return PUBLIC.get(rel[len("include/tessera/io/"):])
    if rel.startswith("src/storage/"):
        return 1
    if rel.startswith("src/formats/"):
        return 2
    if rel.startswith("src/encodings/"):
        return 3
    if rel.startswith("src/") and "/" not in rel[len("src/"):]:
        return 4
    return None


def included_floor(io: pathlib.Path, name: str):
    """The floor of an included header, 0 for modules below io/, None when unknown."""
    if name.startswith("tessera/io/"):
        return PUBLIC.get(name[len("tessera/io/"):])
    if name.startswith("tessera/"):
        return 0
    target = io / "src" / name
    if target.exists():
        return floor_of(io, target)
    return None


def main() -> int:
    io = pathlib.Path(sys.argv[1]).resolve()
    problems = []
    files = sorted(p for p in io.rglob("*") if p.suffix in (".cpp", ".hpp"))
    if len(files) < 20:
        problems.append(f"only {len(files)} files under {io}: wrong folder?")
    for path in files:
        own = floor_of(io, path)
        rel = path.relative_to(io).as_posix()
        if own is None:
            problems.append(f"{rel}: not on any floor (put it under src/storage, src/formats, "
                            "src/encodings or src/, or list the public header in PUBLIC)")
            continue
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            name = m.group(1)
            if name.startswith("tessera/anndata/") and own <= 2:
                problems.append(f"{rel}:{line_no}: the {NAMES[own]} floor includes {name} "
                                "(AnnData belongs to the encodings floor and above)")
                continue
            # A header beside the file ("json_files.hpp" from formats/zarr) resolves there.
            sibling = path.parent / name
            theirs = floor_of(io, sibling) if sibling.exists() else included_floor(io, name)
            if theirs is None:
                problems.append(f"{rel}:{line_no}: cannot place the include {name}")
            elif theirs > own:
                problems.append(f"{rel}:{line_no}: the {NAMES[own]} floor includes {name} "
                                f"from the {NAMES[theirs]} floor above it")
    for p in problems:
        print("floors: " + p)
    print(f"floors: {len(files)} files checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
