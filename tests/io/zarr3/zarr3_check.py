#!/usr/bin/python3
"""Zarr v3 through Tessera, checked against an independent decoder (zarr3_decode.py: numpy and
numcodecs only, written from the spec) and the references (Debian's zarr-python 2.13 for Zarr v2,
anndata 0.8 for AnnData objects).

    zarr3_check.py TESSERA --interop-tool ZARR_INTEROP_TOOL --part stores|convert|concat
                   --ranks 0|1|2|3 --workdir DIR --data SHARED_DATA_DIR

stores   the Zarr v3 stores others wrote (DATA/zarr-v3: zarr-python 3, zarrs) decode to the values
         data/README.md states, written here by hand: by zarr3_decode.py and by Tessera's reader
         (`zarr_interop_tool dump`); numcodecs.bz2 is refused naming the codec. Stores made here
         by hand (index at the start of shards, empty inner chunks, missing chunks, NaN/Infinity/
         hex fill values, v2 chunk keys, 0-d arrays, transpose, big-endian, crc32c) read the same
         by both, and damaged ones (a shard index or chunk whose CRC fails) are refused by both.
convert  `tessera convert SRC OUT.zarr --zarr-format 3` (default codecs; --chunks/--shards with
         several inner chunks a shard and ragged edges; --compressor lz4; a .zarr.zip) for
         anndata's 0.7.8 and 0.5.0 archives and objects made here with anndata 0.8: every node
         decodes equal (attributes, dtype, shape, values, NaN-aware) to zarr-python 2's reading
         of `tessera convert SRC OUT.zarr` (Zarr v2); the metadata is spec-valid (no violations
         recorded by the decoder), consolidated inline in the root zarr.json, sharded where asked,
         bytes + zstd level 0 by default, no stray keys; the v3 store converted back to .h5ad
         reads in anndata equal to the source; under mpirun every store is byte-identical to the
         one written without a launcher.
concat   `tessera concat A B -o OUT.zarr --zarr-format 3` (also sharded, also .zarr.zip) decodes
         equal to `tessera concat A B -o OUT.zarr` read by zarr-python 2, converts back to an
         h5ad equal to anndata.concat's, and is byte-identical to the serial run.

--ranks 0 runs `tessera` without a launcher; K > 0 under `mpirun -np K`. Every launch has a
timeout. Each failure is one FAIL line naming the source, the command and what differs; the exit
status is 1 when anything failed.
"""
import argparse
import itertools
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import warnings
import zipfile

import numcodecs
import numpy as np

warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "anndata"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "cli"))
import anndata as ad  # noqa: E402
import pandas as pd  # noqa: E402
import zarr  # noqa: E402

import cli_check  # noqa: E402  (dense_object, sparse_object, reference_concat)
import interop  # noqa: E402  (compare_anndata, compare_arrays, full_object, zero_rows, MPI_ENV)
import zarr3_decode as z3  # noqa: E402

RUN_TIMEOUT = 120
BYTES_LE = {"name": "bytes", "configuration": {"endian": "little"}}
ZSTD0 = {"name": "zstd", "configuration": {"level": 0, "checksum": False}}


class Checker:
    def __init__(self, tessera, ranks, workdir):
        self.tessera = tessera
        self.ranks = ranks
        self.workdir = workdir
        self.failures = []
        self.tag = "serial" if ranks == 0 else f"np{ranks}"

    def path(self, *names):
        return os.path.join(self.workdir, *names)

    def launch(self, label, cmd, ranks=0):
        """(returncode, stdout, stderr), or None after a timeout (reported as a FAIL)."""
        binary = cmd[0]
        if ranks > 0:
            cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", *cmd]
        env = dict(os.environ, **interop.MPI_ENV)
        for attempt in range(3):
            wait_for_executable(binary)
            try:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                        start_new_session=True)
                break
            except OSError:  # replaced between the check and the launch
                if attempt == 2:
                    raise
                time.sleep(5)
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

    def tessera_ok(self, label, *args, ranks=None):
        """Runs `tessera ARGS` at this checker's rank count (or `ranks`); None on failure."""
        ranks = self.ranks if ranks is None else ranks
        r = self.launch(label, [self.tessera, "--no-progress", *args], ranks)
        if r is None:
            return None
        code, out, err = r
        if code != 0:
            said = [line for line in err.splitlines() if line.startswith("tessera:")] or err.strip().splitlines()[-3:]
            self.fail(label, [f"exit {code}: {' | '.join(said) if said else '(no message)'}",
                              f"command: tessera {' '.join(args)}" + (f" (mpirun -np {ranks})" if ranks else "")])
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
                problems = [f"checking raised {type(e).__name__}: {str(e)[:400]}"]
        if problems:
            self.fail(label, problems)
        else:
            print(f"ok   [{self.tag}] {label}")
            sys.stdout.flush()


def wait_for_executable(path, seconds=300):
    """A binary being relinked is briefly missing or not executable: wait for it (a developer's
    build running beside the tests), then launch whatever is there."""
    deadline = time.time() + seconds
    while not (os.path.isfile(path) and os.access(path, os.X_OK)) and time.time() < deadline:
        time.sleep(2)


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


# ---------------------------------------------------------------------------------------------
# Trees: {path: (attributes, ndarray or None)} from the decoder and from zarr-python 2


def v3_tree(path):
    """(tree, violations) of a v3 store (folder or .zarr.zip) by the independent decoder."""
    store = z3.open_store(path)
    reader = z3.Reader(store.get)
    return z3.decode_tree(store.get, store.keys(), reader), reader.violations


def v2_tree(path):
    """The same form read by zarr-python 2 (the reference for Zarr v2)."""
    root = zarr.open(zarr.DirectoryStore(path) if os.path.isdir(path) else zarr.ZipStore(path, mode="r"), mode="r")
    tree = {}

    def walk(g, prefix):
        tree[prefix] = (g.attrs.asdict(), None)
        for name, item in g.items():
            p = f"{prefix}/{name}" if prefix else name
            if isinstance(item, zarr.hierarchy.Group):
                walk(item, p)
            else:
                v = item[...]
                if not isinstance(v, np.ndarray) or v.dtype != item.dtype:
                    v = np.array(v, dtype=item.dtype)
                tree[p] = (item.attrs.asdict(), v)

    walk(root, "")
    return tree


def canonical(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def tree_problems(want, got, what="v2 (zarr-python)"):
    """Every node of `want` in `got`, equal: attributes, and arrays in dtype, shape and values."""
    out = []
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing:
        out.append(f"nodes missing: {missing[:8]}{' …' if len(missing) > 8 else ''}")
    if extra:
        out.append(f"nodes not in the {what} tree: {extra[:8]}{' …' if len(extra) > 8 else ''}")
    for path in sorted(set(want) & set(got)):
        (wa, warr), (ga, garr) = want[path], got[path]
        name = path or "/"
        if canonical(wa) != canonical(ga):
            out.append(f"{name}: attributes {canonical(ga)[:300]}, {what} {canonical(wa)[:300]}")
        if (warr is None) != (garr is None):
            out.append(f"{name}: {'a group' if garr is None else 'an array'}, {what}: "
                       f"{'a group' if warr is None else 'an array'}")
        elif warr is not None:
            interop.compare_arrays(warr, garr, name, out)
    return out


def store_files(path):
    """[(key, bytes)] of a folder store (sorted) or of a .zarr.zip (in archive order)."""
    if os.path.isdir(path):
        store = z3.DirStore(path)
        return [(k, store.get(k)) for k in store.keys()]
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def identical_problems(reference, got, what="the serial run"):
    a, b = store_files(reference), store_files(got)
    if a == b:
        return []
    da, db = dict(a), dict(b)
    out = []
    if [k for k, _ in a] != [k for k, _ in b]:
        only_a, only_b = sorted(set(da) - set(db)), sorted(set(db) - set(da))
        out.append(f"keys differ: only in {what} {only_a[:5]}, only here {only_b[:5]}"
                   + ("" if only_a or only_b else " (same keys, another order)"))
    differ = [k for k in sorted(set(da) & set(db)) if da[k] != db[k]]
    if differ:
        out.append(f"{len(differ)} of {len(da)} keys hold other bytes than in {what}, e.g. {differ[:5]}")
    return out


# ---------------------------------------------------------------------------------------------
# Metadata facts of Tessera's v3 output

def load_json(raw):
    return json.loads(raw.decode("utf-8"))


def codec_name(c):
    return c if isinstance(c, str) else c.get("name")


def dense_matrix_paths(meta_of):
    """Paths of the dense X, raw/X and layers arrays (the ones sharded on request, as --chunks
    applies to them)."""
    return sorted(p for p, m in meta_of.items() if m.get("node_type") == "array" and len(m["shape"]) == 2
                  and (p in ("X", "raw/X") or (p.startswith("layers/") and p.count("/") == 1)))


def in_matrix_slot(path, meta_of):
    """An array of X or layers (dense, or a sparse matrix's data/indices/indptr): the big arrays
    Tessera compresses."""
    for slot in ("X", "layers"):
        if path == slot or path.startswith(slot + "/"):
            parent = path.rsplit("/", 1)[0]
            if path.count("/") == (0 if slot == "X" else 1):
                return True
            pm = meta_of.get(parent, {})
            return pm.get("attributes", {}).get("encoding-type") in ("csr_matrix", "csc_matrix")
    return False


def chunk_keys(path, meta):
    """Every key a chunk of this array may have."""
    shape = meta["shape"]
    chunks = meta["chunk_grid"]["configuration"]["chunk_shape"]
    enc = meta["chunk_key_encoding"]
    name = codec_name(enc)
    sep = (enc.get("configuration") or {}).get("separator", "/" if name == "default" else ".")
    keys = set()
    for pos in itertools.product(*[range(-(-s // max(c, 1))) for s, c in zip(shape, chunks)]):
        if name == "default":
            k = sep.join(["c"] + [str(p) for p in pos])
        else:
            k = sep.join(str(p) for p in pos) if pos else "0"
        keys.add(f"{path}/{k}" if path else k)
    return keys


def metadata_problems(path, shards=None, chunks=None, lz4=False):
    """The facts of Tessera's v3 store at `path` (folder or zip): consolidated metadata, sharding,
    default codecs, string data type, chunk keys, no stray keys."""
    store = z3.open_store(path)
    keys = store.keys()
    out = []
    meta_of = {}
    for p in z3.node_paths(keys):
        meta_of[p] = load_json(store.get(z3.join(p, "zarr.json")))
    if "" not in meta_of:
        return ["no root zarr.json"]
    root = meta_of[""]
    if root.get("node_type") != "group" or root.get("attributes", {}).get("encoding-type") != "anndata":
        out.append(f"root zarr.json is not the anndata group: {canonical(root)[:200]}")
    cm = root.get("consolidated_metadata")
    if not isinstance(cm, dict) or cm.get("kind") != "inline" or cm.get("must_understand") is not False:
        out.append(f"root consolidated_metadata {canonical(cm)[:200]}: expected kind inline, must_understand false")
    else:
        listed = cm.get("metadata", {})
        nodes = set(meta_of) - {""}
        if set(listed) != nodes:
            out.append(f"consolidated metadata lists {len(listed)} nodes, the store has {len(nodes)}: missing "
                       f"{sorted(nodes - set(listed))[:5]}, extra {sorted(set(listed) - nodes)[:5]}")
        empty_inline = {"kind": "inline", "must_understand": False, "metadata": {}}
        for p in sorted(nodes & set(listed)):
            entry, own = dict(listed[p]), dict(meta_of[p])
            if entry.get("node_type") == "group" and entry.get("consolidated_metadata") == empty_inline:
                entry.pop("consolidated_metadata")  # nested groups carry an empty inline object
            if own.get("node_type") == "group" and own.get("consolidated_metadata") == empty_inline:
                own.pop("consolidated_metadata")
            if entry != own:
                out.append(f"consolidated entry of {p} differs from its zarr.json: {canonical(entry)[:160]} vs "
                           f"{canonical(own)[:160]}")
                break
    allowed = {z3.join(p, "zarr.json") for p in meta_of}
    sharded_paths = set(dense_matrix_paths(meta_of)) if shards else set()
    for p, m in sorted(meta_of.items()):
        if m.get("node_type") != "array":
            continue
        allowed |= chunk_keys(p, m)
        codecs = m["codecs"]
        names = [codec_name(c) for c in codecs]
        enc = m["chunk_key_encoding"]
        if codec_name(enc) != "default" or (enc.get("configuration") or {}).get("separator", "/") != "/":
            out.append(f"{p}: chunk_key_encoding {canonical(enc)} (zarr-python writes default with '/')")
        dt = m["data_type"]
        if "vlen-utf8" in names and dt != "string":
            out.append(f"{p}: vlen-utf8 with data_type {canonical(dt)} (expected \"string\")")
        if dt == "string" and names[0] != "vlen-utf8":
            out.append(f"{p}: data_type string with codecs {names}")
        if p in sharded_paths:
            if names != ["sharding_indexed"]:
                out.append(f"{p}: codecs {names}, expected sharding_indexed (--shards)")
                continue
            cfg = codecs[0].get("configuration", {})
            outer = m["chunk_grid"]["configuration"]["chunk_shape"]
            inner = cfg.get("chunk_shape")
            # The shard as asked, or (the same array either way) clipped to cover the array.
            if len(outer) != len(shards) or not all(o == s or (o >= n and o % max(i, 1) == 0)
                                                    for o, s, n, i in zip(outer, shards, m["shape"], inner or outer)):
                out.append(f"{p}: shard shape {outer}, --shards {shards}")
            if not isinstance(inner, list) or len(inner) != len(chunks) or not all(
                    i == c or n < c for i, c, n in zip(inner, chunks, m["shape"])):
                out.append(f"{p}: inner chunk_shape {inner}, --chunks {chunks}")
            elif any(o % i for o, i in zip(outer, inner)):
                out.append(f"{p}: inner chunks {inner} do not divide the shards {outer}")
            if cfg.get("index_codecs", [BYTES_LE, {"name": "crc32c"}]) not in (
                    [BYTES_LE, {"name": "crc32c"}], [BYTES_LE, {"name": "crc32c", "configuration": {}}]):
                out.append(f"{p}: index_codecs {canonical(cfg.get('index_codecs'))} (expected bytes little + crc32c)")
            if cfg.get("index_location", "end") not in ("start", "end"):
                out.append(f"{p}: index_location {cfg.get('index_location')!r}")
            codecs = cfg.get("codecs", [])
            names = [codec_name(c) for c in codecs]
        elif "sharding_indexed" in names:
            out.append(f"{p}: sharded without --shards, or not a dense X/layer")
        if in_matrix_slot(p, meta_of):
            bb = codecs[1:]
            if codecs[:1] != [BYTES_LE]:
                out.append(f"{p}: array->bytes codec {canonical(codecs[:1])}, expected bytes little")
            if lz4:
                ok = (len(bb) == 1 and codec_name(bb[0]) == "blosc"
                      and bb[0].get("configuration", {}).get("cname") == "lz4"
                      and bb[0]["configuration"].get("shuffle") in ("noshuffle", "shuffle", "bitshuffle")
                      and isinstance(bb[0]["configuration"].get("typesize"), int))
                if not ok:
                    out.append(f"{p}: --compressor lz4 gave {canonical(bb)} (expected blosc cname lz4, "
                               f"shuffle a name, typesize an integer)")
            elif bb != [ZSTD0]:
                out.append(f"{p}: codecs after bytes {canonical(bb)}, expected the default {canonical([ZSTD0])}")
        elif not lz4:
            for c in codecs[1:]:
                if c != ZSTD0:
                    out.append(f"{p}: codec {canonical(c)} on a small element (default: plain or zstd level 0)")
    stray = sorted(set(keys) - allowed)
    if stray:
        out.append(f"{len(stray)} keys that are neither a zarr.json nor a chunk key: {stray[:6]}")
    return out


# ---------------------------------------------------------------------------------------------
# stores: what others wrote, and stores made here


def expected_stores(data):
    """{store name: {node path: (attributes, values)}} as data/README.md states them."""
    arange = np.arange(100, dtype=np.float32).reshape(10, 10)
    key_value = {"key": "value"}
    with open(os.path.join(data, "zarr-v3", "cities.csv"), encoding="utf-8") as fh:
        cities = np.array(fh.read().splitlines(), dtype=object)
    out = {f"zarr_python_array_{c}.zarr": {"": (key_value, arange)} for c in ("none", "zstd", "blosc", "gzip", "zlib")}
    out["zarr_python_array_bz2.zarr"] = {"": (key_value, arange)}
    out["zarr_python_cities_v3.zarr"] = {"": ({}, cities)}
    out["zarr_python_fixed_length_utf32.zarr"] = {"": ({}, np.array(["abc", "🎉", "hi", "te", ""], dtype="<U4"))}
    out["zarrs_array_blosc_transpose.zarr"] = {"": (key_value, arange)}
    out["zarrs_sharded_array_write_read.zarr"] = {
        "": ({}, None),
        "group": ({"foo": "bar"}, None),
        "group/array": ({"_zarrs": {"description": "This array was created with zarrs",
                                    "repository": "https://github.com/LDeakin/zarrs", "version": "0.15.0"}},
                        np.arange(64, dtype=np.uint16).reshape(8, 8)),
    }
    return out


def values_of_dump(entry, dtype):
    """The tool's text values (row-major) as an array of `dtype`."""
    vals = entry["values"]
    shape = tuple(entry["shape"])
    if dtype.kind in "OU":
        return np.array(vals, dtype=dtype).reshape(shape)
    if dtype.kind == "b":
        return np.array([v == "1" for v in vals], dtype=bool).reshape(shape)
    if dtype.kind in "iu":
        return np.array([int(v) for v in vals], dtype=dtype).reshape(shape)
    return np.array([float(v) for v in vals], dtype=dtype).reshape(shape)


def dump_problems(entry, attrs, values, name):
    """One array of `zarr_interop_tool dump` against the expected attributes and values."""
    if "error" in entry:
        return [f"{name}: Tessera's reader failed: {entry['error']}"]
    out = []
    if canonical(entry.get("attrs", {})) != canonical(attrs):
        out.append(f"{name}: attributes {canonical(entry.get('attrs'))}, expected {canonical(attrs)}")
    if list(entry["shape"]) != list(values.shape):
        return out + [f"{name}: shape {entry['shape']}, expected {list(values.shape)}"]
    want_dtype = "string" if values.dtype.kind in "OU" else values.dtype.name
    if entry["dtype"] != want_dtype:
        return out + [f"{name}: dtype {entry['dtype']}, expected {want_dtype}"]
    got = values_of_dump(entry, values.dtype if values.dtype.kind != "U" else np.dtype(object))
    want = values.astype(object) if values.dtype.kind == "U" else values
    interop.compare_arrays(want, got, name, out)
    if entry.get("boxes_agree") is False:
        out.append(f"{name}: reading in boxes gives other values than reading whole")
    return out


def run_tool(c, label, tool, path):
    r = c.launch(label, [tool, "dump", path])
    if r is None:
        return None
    code, out, err = r
    if code != 0:
        c.fail(label, [f"zarr_interop_tool dump exit {code}: {err.strip()[-300:]}"])
        return None
    return json.loads(out)


def v3_view(src, dst):
    """A view of the store `src` holding its Zarr v3 keys only (file symlinks; the .zarray and
    .zattrs some stores carry beside zarr.json are left out, so that the v3 metadata is what is
    read)."""
    for base, _, files in os.walk(src):
        rel = os.path.relpath(base, src)
        for f in files:
            if f in (".zarray", ".zattrs", ".zgroup", ".zmetadata"):
                continue
            target = os.path.join(dst, rel, f)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.path.join(base, f), target)


class MemStore(dict):
    def get(self, key, default=None):
        return dict.get(self, key, default)


def flip(store, key, at):
    """A copy of `store` with one byte of `key` changed (`at` from the start, negative: the end)."""
    bad = MemStore(store)
    b = bytearray(store[key])
    b[at] ^= 0x55
    bad[key] = bytes(b)
    return bad


# Stores made here. The encoder below is deliberately small (the spec's encode direction of each
# codec); values are chosen so that every feature changes what is read when it is ignored.


def encode(arr, codecs, fill):
    """The bytes of one chunk `arr` through the codec list (specs as in zarr.json)."""
    data = arr
    for spec in codecs:
        name = codec_name(spec)
        cfg = spec.get("configuration", {}) if isinstance(spec, dict) else {}
        if name == "transpose":
            data = np.ascontiguousarray(np.transpose(data, cfg["order"]))
        elif name == "bytes":
            order = ">" if cfg.get("endian") == "big" else "<"
            data = np.ascontiguousarray(data.astype(data.dtype.newbyteorder(order))).tobytes()
        elif name == "vlen-utf8":
            items = [s.encode("utf-8") for s in data.ravel().tolist()]
            data = struct.pack("<I", len(items)) + b"".join(struct.pack("<I", len(i)) + i for i in items)
        elif name == "crc32c":
            data = data + struct.pack("<I", z3.crc32c(data))
        elif name == "zstd":
            data = numcodecs.Zstd(level=cfg.get("level", 0)).encode(data)
        elif name == "gzip":
            data = numcodecs.GZip(level=cfg.get("level", 5)).encode(data)
        elif name == "numcodecs.zlib":
            data = numcodecs.Zlib(level=cfg.get("level", 1)).encode(data)
        elif name == "blosc":
            shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[cfg["shuffle"]]
            # numcodecs' Blosc takes the type size from the buffer's item size.
            data = numcodecs.Blosc(cname=cfg["cname"], clevel=cfg["clevel"], shuffle=shuffle).encode(
                np.frombuffer(data, dtype=f"u{cfg['typesize']}"))
        elif name == "sharding_indexed":
            data = encode_shard(data, cfg, fill)
        else:
            raise ValueError(name)
    return bytes(data)


def encode_shard(shard, cfg, fill):
    """A shard as sharding_indexed lays it out; inner chunks all of the fill value are empty
    entries, the others are stored in the reverse of the index order."""
    inner = cfg["chunk_shape"]
    grid = [s // i for s, i in zip(shard.shape, inner)]
    positions = list(itertools.product(*[range(g) for g in grid]))
    index = np.full(grid + [2], 2**64 - 1, dtype=np.uint64)
    payload = b""
    start = cfg.get("index_location", "end") == "start"
    index_size = 16 * len(positions) + 4
    base = index_size if start else 0
    for pos in reversed(positions):
        box = tuple(slice(p * i, (p + 1) * i) for p, i in zip(pos, inner))
        part = shard[box]
        same = np.isnan(part) if part.dtype.kind == "f" and np.isnan(fill) else part == fill
        all_fill = bool(np.all(same))
        if all_fill:
            continue  # an empty inner chunk: both index entries 2^64 - 1
        blob = encode(part, cfg["codecs"], fill)
        index[pos] = (base + len(payload), len(blob))
        payload += blob
    idx = encode(index, cfg.get("index_codecs", [BYTES_LE, {"name": "crc32c"}]), 0)
    assert len(idx) == index_size
    return idx + payload if start else payload + idx


def zstd_frame_without_size(data):
    """A zstd frame of raw blocks with no content size in its header (RFC 8878), as streaming
    encoders write."""
    out = bytearray(z3.ZSTD_MAGIC + bytes([0x00, 0x58]))  # no FCS, window 2^(10+11) bytes
    for start in range(0, max(len(data), 1), 1000):
        block = data[start:start + 1000]
        last = start + 1000 >= len(data)
        out += (int(last) | (len(block) << 3)).to_bytes(3, "little") + block
    return bytes(out)


def array_meta(shape, data_type, chunks, codecs, fill, attrs=None, key=None):
    m = {"zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": data_type,
         "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
         "chunk_key_encoding": key or {"name": "default", "configuration": {"separator": "/"}},
         "fill_value": fill, "codecs": codecs, "attributes": attrs or {}}
    return m


def put_array(store, path, values, meta, fill, skip=(), raw_chunks=None):
    """Writes `values` chunk by chunk (chunks listed in `skip` are left missing)."""
    store[z3.join(path, "zarr.json")] = json.dumps(meta).encode()
    shape, chunks = list(values.shape), meta["chunk_grid"]["configuration"]["chunk_shape"]
    enc = meta["chunk_key_encoding"]
    sep = enc.get("configuration", {}).get("separator", "/" if enc["name"] == "default" else ".")
    for pos in itertools.product(*[range(-(-s // c)) for s, c in zip(shape, chunks)]):
        if pos in skip:
            continue
        full = np.full(chunks, fill, dtype=values.dtype)
        box = tuple(slice(p * c, min((p + 1) * c, s)) for p, c, s in zip(pos, chunks, shape))
        full[tuple(slice(0, b.stop - b.start) for b in box)] = values[box]
        key = sep.join(["c"] + [str(p) for p in pos]) if enc["name"] == "default" else (
            sep.join(str(p) for p in pos) if pos else "0")
        blob = raw_chunks(full) if raw_chunks else encode(full, meta["codecs"], fill)
        store[z3.join(path, key)] = blob


def made_stores():
    """(store, {path: (attributes, expected values)}): arrays made with the encoder above."""
    s = MemStore()
    want = {"": ({"made": "here ü"}, None)}
    s["zarr.json"] = json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {"made": "here ü"}}).encode()

    # A sharded int32 array: index at the START, inner codecs big-endian bytes + crc32c, inner
    # chunks written in reverse order, ragged edges (7 x 9 in 4 x 6 shards of 2 x 3 chunks), and
    # fill 7: inner chunks that are all 7 are empty entries.
    v = np.arange(63, dtype=np.int32).reshape(7, 9) - 20
    v[0:2, 0:3] = 7  # one empty inner chunk inside a written shard
    v[4:7, 6:9] = 7  # the last shard's every inner chunk empty: a shard of only an index
    sh = {"chunk_shape": [2, 3], "codecs": [{"name": "bytes", "configuration": {"endian": "big"}}, {"name": "crc32c"}],
          "index_codecs": [BYTES_LE, {"name": "crc32c"}], "index_location": "start"}
    meta = array_meta(v.shape, "int32", [4, 6], [{"name": "sharding_indexed", "configuration": sh}], 7)
    put_array(s, "sharded_start", v, meta, 7, raw_chunks=lambda full: encode_shard(full, sh, 7))
    want["sharded_start"] = ({}, v)

    # Sharded float32, index at the end, inner bytes + gzip, one shard missing altogether, NaN fill.
    f = np.arange(48, dtype=np.float32).reshape(6, 8) / 4
    f[4:6, 4:8] = np.nan
    sh2 = {"chunk_shape": [2, 2], "codecs": [BYTES_LE, {"name": "gzip", "configuration": {"level": 5}}],
           "index_codecs": [BYTES_LE, {"name": "crc32c"}], "index_location": "end"}
    meta = array_meta(f.shape, "float32", [4, 4], [{"name": "sharding_indexed", "configuration": sh2}], "NaN")
    put_array(s, "sharded_end", f, meta, np.float32(np.nan), skip={(1, 1)},
              raw_chunks=lambda full: encode_shard(full, sh2, np.float32(np.nan)))
    want["sharded_end"] = ({}, f)

    # Missing chunks read as the fill value: NaN, Infinity, -Infinity, a hex NaN, a hex 1.0.
    for name, fill_json, dtype, fill in (("fill_nan", "NaN", "float64", np.nan),
                                         ("fill_inf", "Infinity", "float32", np.inf),
                                         ("fill_minus_inf", "-Infinity", "float64", -np.inf),
                                         ("fill_hex_nan", "0x7fc00000", "float32", np.nan),
                                         ("fill_hex_one", "0x3ff0000000000000", "float64", 1.0)):
        v = np.arange(20, dtype=dtype).reshape(5, 4) - 3.5
        v[2:4, 2:4] = fill
        meta = array_meta(v.shape, dtype, [2, 2], [BYTES_LE, ZSTD0], fill_json, {"fill": fill_json})
        put_array(s, name, v, meta, np.dtype(dtype).type(fill), skip={(1, 1)})
        want[name] = ({"fill": fill_json}, v)

    # A zstd frame without the content size in its header (streaming encoders write those).
    v = np.linspace(-1, 1, 12).reshape(3, 4)
    meta = array_meta(v.shape, "float64", [3, 4], [BYTES_LE, ZSTD0], 0.0)
    put_array(s, "zstd_no_content_size", v, meta, 0.0,
              raw_chunks=lambda full: zstd_frame_without_size(encode(full, [BYTES_LE], 0.0)))
    want["zstd_no_content_size"] = ({}, v)

    # bool with '.'-separated default keys (c.0.1) and gzip.
    b = (np.arange(15).reshape(5, 3) % 3) == 1
    meta = array_meta(b.shape, "bool", [2, 2], [{"name": "bytes"}, {"name": "gzip", "configuration": {"level": 1}}],
                      False, key={"name": "default", "configuration": {"separator": "."}})
    put_array(s, "bool_dot_keys", b, meta, False)
    want["bool_dot_keys"] = ({}, b)

    # Every integer type at its limits, v2 chunk keys ('.' and '/'), big-endian bytes, blosc
    # shuffles, numcodecs.zlib, crc32c.
    for i, t in enumerate(("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")):
        info = np.iinfo(t)
        v = np.array([[info.min, info.max, 0], [1, info.max - 1, info.min + 1], [2, 3, 4], [5, 6, 7]], dtype=t)
        endian = "big" if i % 2 else "little"
        tail = [[{"name": "numcodecs.zlib", "configuration": {"level": 1}}],
                [{"name": "blosc", "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "shuffle",
                                                     "typesize": v.dtype.itemsize, "blocksize": 0}}],
                [{"name": "crc32c"}],
                [{"name": "blosc", "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "bitshuffle",
                                                     "typesize": v.dtype.itemsize, "blocksize": 0}}]][i % 4]
        key = {"name": "v2", "configuration": {"separator": "." if i < 4 else "/"}}
        meta = array_meta(v.shape, t, [3, 2], [{"name": "bytes", "configuration": {"endian": endian}}] + tail,
                          int(info.max) if i % 3 == 0 else 0, key=key)
        put_array(s, f"ints/{t}", v, meta, info.max if i % 3 == 0 else 0, skip={(1, 1)} if i % 3 == 0 else ())
        if i % 3 == 0:
            v = v.copy()
            v[3:, 2:] = info.max  # the missing chunk
        want[f"ints/{t}"] = ({}, v)
    s["ints/zarr.json"] = json.dumps({"zarr_format": 3, "node_type": "group"}).encode()
    want["ints"] = ({}, None)

    # 0-d arrays: key "c" (default) and "0" (v2).
    meta = array_meta((), "float64", [], [BYTES_LE], 0.0)
    put_array(s, "scalar_default", np.array(2.5), meta, 0.0)
    want["scalar_default"] = ({}, np.array(2.5))
    meta = array_meta((), "string", [], [{"name": "vlen-utf8"}], "", key={"name": "v2"})
    put_array(s, "scalar_v2", np.array("ünï ✓", dtype=object), meta, "")
    want["scalar_v2"] = ({}, np.array("ünï ✓", dtype=object))

    # Strings over a ragged edge (the count in a chunk includes its padding), one chunk missing.
    txt = np.array(["a", "ü", "", "日本語", "🧬 x", "tab\t", "end"], dtype=object)
    meta = array_meta(txt.shape, "string", [3], [{"name": "vlen-utf8", "configuration": {}}, ZSTD0], "-")
    put_array(s, "strings", txt, meta, "-", skip={(1,)})
    want_txt = txt.copy()
    want_txt[3:6] = "-"
    want["strings"] = ({}, want_txt)

    # fixed_length_utf32, big-endian.
    u = np.array(["ab", "ü🧬", "", "xyz"], dtype="<U3")
    meta = array_meta(u.shape, {"name": "fixed_length_utf32", "configuration": {"length_bytes": 12}}, [3],
                      [{"name": "bytes", "configuration": {"endian": "big"}}], "")
    put_array(s, "utf32_big", u, meta, "")
    want["utf32_big"] = ({}, u)

    # transpose of 2-D (F order in a chunk) and of 3-D.
    t2 = np.arange(30, dtype=np.uint16).reshape(5, 6)
    meta = array_meta(t2.shape, "uint16", [3, 4], [{"name": "transpose", "configuration": {"order": [1, 0]}},
                                                   BYTES_LE, ZSTD0], 0)
    put_array(s, "transpose_2d", t2, meta, 0)
    want["transpose_2d"] = ({}, t2)
    t3 = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    meta = array_meta(t3.shape, "int16", [2, 3, 2], [{"name": "transpose", "configuration": {"order": [2, 0, 1]}},
                                                     BYTES_LE], 0)
    put_array(s, "transpose_3d", t3, meta, 0)
    want["transpose_3d"] = ({}, t3)

    # Consolidated metadata at the root, as zarr-python writes it.
    nodes = {}
    for k in list(s):
        if k.endswith("zarr.json") and k != "zarr.json":
            nodes[k[: -len("/zarr.json")]] = json.loads(s[k])
    root = json.loads(s["zarr.json"])
    root["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": nodes}
    s["zarr.json"] = json.dumps(root).encode()
    return s, want


TOOL_SKIP = {"transpose_3d"}  # the tool prints 1-D and 2-D arrays (AnnData's)


def part_stores(c, args):
    data = args.data
    expected = expected_stores(data)
    found = sorted(n for n in os.listdir(os.path.join(data, "zarr-v3")) if n.endswith(".zarr"))
    c.check("every store of data/zarr-v3 has an expectation",
            [] if found == sorted(expected) else [f"stores {found}, expectations {sorted(expected)}"])

    # The decoder on what others wrote.
    for name, want in sorted(expected.items()):
        path = os.path.join(data, "zarr-v3", name)

        def problems(path=path, want=want, name=name):
            store = z3.DirStore(path)
            keys = [k for k in store.keys() if os.path.basename(k) not in (".zarray", ".zattrs")]
            reader = z3.Reader(store.get)
            tree = z3.decode_tree(store.get, keys, reader)
            out = tree_problems(want, tree, "expected")
            out += [f"decoder violation on a reference store: {w}: {what}" for w, what in reader.violations]
            return out

        c.check(f"zarr3_decode {name}", problems)

    # Tessera's reader on the same stores, through a group holding a v3-only view of each.
    view = c.path("view")
    remove(view)
    os.makedirs(view)
    with open(os.path.join(view, "zarr.json"), "w") as fh:
        json.dump({"zarr_format": 3, "node_type": "group", "attributes": {}}, fh)
    for name in expected:
        if name != "zarrs_sharded_array_write_read.zarr":
            v3_view(os.path.join(data, "zarr-v3", name), os.path.join(view, name[: -len(".zarr")]))
    dumped = run_tool(c, "zarr_interop_tool dump (the stores of data/zarr-v3)", args.interop_tool, view)
    if dumped is not None:
        for name, want in sorted(expected.items()):
            if name == "zarrs_sharded_array_write_read.zarr":
                continue
            key = "/" + name[: -len(".zarr")]
            entry = dumped["arrays"].get(key)
            label = f"Tessera reads {name}"
            if entry is None:
                c.fail(label, [f"{key} not in the dump: {sorted(dumped['arrays'])[:5]}"])
                continue
            if name == "zarr_python_array_bz2.zarr":
                err = entry.get("error", "")
                c.check("Tessera refuses numcodecs.bz2 naming the codec",
                        [] if "numcodecs.bz2" in err
                        else [f"not an error naming numcodecs.bz2: {canonical(entry)[:300]}"])
                continue
            c.check(label, dump_problems(entry, want[""][0], want[""][1], name))
    sharded = os.path.join(data, "zarr-v3", "zarrs_sharded_array_write_read.zarr")
    dumped = run_tool(c, "zarr_interop_tool dump zarrs_sharded_array_write_read.zarr", args.interop_tool, sharded)
    if dumped is not None:
        want = expected["zarrs_sharded_array_write_read.zarr"]

        def problems():
            out = []
            if canonical(dumped["groups"].get("/group")) != canonical({"foo": "bar"}):
                out.append(f"/group attributes {canonical(dumped['groups'].get('/group'))}")
            entry = dumped["arrays"].get("/group/array")
            if entry is None:
                return out + [f"/group/array not in the dump: {sorted(dumped['arrays'])}"]
            return out + dump_problems(entry, want["group/array"][0], want["group/array"][1], "group/array")

        c.check("Tessera reads zarrs_sharded_array_write_read.zarr (sharded, no root zarr.json)", problems)

    # Stores made here: the decoder, with and without a key listing (consolidated metadata).
    store, want = made_stores()

    def made_problems():
        reader = z3.Reader(store.get)
        out = tree_problems(want, z3.decode_tree(store.get, sorted(store), reader), "expected")
        out += [f"violation: {w}: {what}" for w, what in reader.violations]
        out += ["(through consolidated metadata) " + p
                for p in tree_problems(want, z3.decode_tree(store.get), "expected")]
        return out

    c.check("zarr3_decode on stores made here (shards, fills, keys, 0-d, transpose, endian, codecs)",
            made_problems)

    # The decoder refuses damage: a shard index or an inner chunk whose CRC fails, a crc32c codec
    # mismatch, a truncated vlen chunk; and sees a missing chunk as fill, not as an error.
    damaged = {
        "a shard index (at the start) with a wrong CRC": (flip(store, "sharded_start/c/0/0", 3), "sharded_start",
                                                           "crc32c"),
        "a shard index (at the end) with a wrong CRC": (flip(store, "sharded_end/c/0/0", -9), "sharded_end", "crc32c"),
        "an inner chunk with a wrong crc32c": (flip(store, "sharded_start/c/0/0", -2), "sharded_start", "crc32c"),
        "a crc32c codec mismatch": (flip(store, "ints/int32/0.0", 1), "ints/int32", "crc32c"),
        "a truncated vlen chunk": (None, "strings", "vlen"),
    }
    bad = MemStore(store)
    bad["strings/c/0"] = z3.zstd_decode(store["strings/c/0"])[:-2]
    bad["strings/zarr.json"] = json.dumps(dict(json.loads(store["strings/zarr.json"]),
                                               codecs=[{"name": "vlen-utf8"}])).encode()
    damaged["a truncated vlen chunk"] = (bad, "strings", "vlen")
    for label, (s, path, word) in damaged.items():
        def problems(s=s, path=path, word=word):
            try:
                z3.decode_array(s.get, path)
            except z3.DecodeError as e:
                return [] if word in str(e) else [f"refused, but the error does not say {word}: {e}"]
            return ["decoded without an error"]

        c.check(f"zarr3_decode refuses {label}", problems)

    # Tessera's reader on the made stores: written to disk, dumped, compared.
    folder = c.path("made.zarr")
    remove(folder)
    for k, v in store.items():
        os.makedirs(os.path.dirname(os.path.join(folder, k)), exist_ok=True)
        with open(os.path.join(folder, k), "wb") as fh:
            fh.write(v)
    dumped = run_tool(c, "zarr_interop_tool dump made.zarr", args.interop_tool, folder)
    if dumped is not None:
        for path, (attrs, values) in sorted(want.items()):
            if values is None or path in TOOL_SKIP:
                continue
            entry = dumped["arrays"].get("/" + path)
            label = f"Tessera reads made.zarr/{path}"
            if entry is None:
                c.fail(label, [f"not in the dump: {sorted(dumped['arrays'])[:8]}"])
                continue
            c.check(label, dump_problems(entry, attrs, values, path))
    for label, (s, path, word) in damaged.items():
        if path == "strings":
            continue
        folder = c.path("damaged.zarr")
        remove(folder)
        for k, v in s.items():
            if k == "zarr.json" or k.startswith(path + "/"):
                os.makedirs(os.path.dirname(os.path.join(folder, k)), exist_ok=True)
                with open(os.path.join(folder, k), "wb") as fh:
                    fh.write(v)
        for parent in ("ints",):
            if path.startswith(parent + "/"):
                with open(os.path.join(folder, parent, "zarr.json"), "wb") as fh:
                    fh.write(store[parent + "/zarr.json"])
        root = json.loads(s["zarr.json"])
        root.pop("consolidated_metadata", None)
        with open(os.path.join(folder, "zarr.json"), "w") as fh:
            json.dump(root, fh)
        dumped = run_tool(c, f"zarr_interop_tool dump ({label})", args.interop_tool, folder)
        if dumped is not None:
            entry = dumped["arrays"].get("/" + path, {})
            c.check(f"Tessera refuses {label}",
                    [] if "error" in entry else [f"read without an error: {canonical(entry)[:200]}"])


# ---------------------------------------------------------------------------------------------
# convert: Tessera's v3 output against its v2 output (zarr-python) and against anndata


def grid_object():
    """Dense X with NaN, infinities and -0.0 on a grid that does not divide into the chunks; a
    layer per numeric type; a layer of zeros (the fill value: chunks a writer may skip); strings
    with non-ASCII; empty arrays."""
    rng = np.random.default_rng(11)
    n, m = 23, 17
    X = rng.standard_normal((n, m)).astype(np.float32)
    X[0, 0], X[5, 3], X[22, 16], X[7, 7], X[14, 10] = np.nan, np.inf, -np.inf, -0.0, np.nan
    obs = pd.DataFrame({"name ü": [f"zelle {i} ∂" for i in range(n)],
                        "x": np.where(np.arange(n) % 4 == 0, np.nan, np.arange(n) / 3.0),
                        "flag": np.arange(n) % 3 == 0,
                        "kind": pd.Categorical(rng.choice(["α", "β", "γ"], n)),
                        "nint": pd.array([None if i % 5 == 0 else i for i in range(n)], dtype="Int32")},
                       index=[f"cell_{i}_ü" for i in range(n)])
    var = pd.DataFrame({"gene": [f"g{j}" for j in range(m)]}, index=[f"gène{j}" for j in range(m)])
    a = ad.AnnData(X, obs=obs, var=var)
    for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        info = np.iinfo(t)
        v = rng.integers(max(info.min, -1000), min(info.max, 1000), (n, m)).astype(t)
        v[0, 1], v[n - 1, m - 1] = info.min, info.max
        a.layers[t] = v
    a.layers["bool"] = rng.random((n, m)) > 0.6
    a.layers["float64"] = rng.standard_normal((n, m))
    zeros = np.zeros((n, m), dtype=np.float32)
    zeros[20:, 15:] = 1.5  # one corner chunk holds values, the rest are all fill value
    a.layers["mostly_zero"] = zeros
    a.uns["empty_f64"] = np.zeros(0, dtype=np.float64)
    a.uns["empty_i8"] = np.zeros(0, dtype=np.int8)
    a.uns["empty_2d"] = np.zeros((0, 3), dtype=np.int32)
    a.uns["u64"] = np.array([0, 2**63, 2**64 - 1], dtype=np.uint64)
    a.uns["i8"] = np.array([-128, 0, 127], dtype=np.int8)
    a.uns["nan_inf"] = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-310])
    a.uns["bools"] = np.array([True, False, True])
    a.uns["text"] = "Grüße, 世界 🧬"
    a.uns["words"] = np.array(["", "ü", "naïve", "日本"], dtype=object)
    return a


# (label, source, sharding of the dense X/layers: (--chunks, --shards))
def sources(c, data):
    made = {"made_full": interop.full_object(), "made_grid": grid_object(), "made_zero_rows": interop.zero_rows()}
    out = []
    for label, a in made.items():
        path = c.path(f"{label}.h5ad")
        a.write_h5ad(path)
        out.append((label, path))
    for version in ("v0.7.8", "v0.5.0"):
        out.append((version, os.path.join(data, "anndata-archives", version, "adata.h5ad")))
    return out


SHARDING = {"v0.5.0": ("64,100", "128,300")}  # 700 x 765: 6 x 3 shards of 2 x 3 inner chunks, ragged
DEFAULT_SHARDING = ("7,5", "14,10")  # shards larger than a 9 x 5 X, ragged on a 23 x 17 one


def read_anndata(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ad.read_h5ad(path) if path.endswith(".h5ad") else ad.read_zarr(path)


def reference_round_trip(src, workdir):
    """anndata's own h5ad writing and reading of the source: what a faithful conversion gives
    (for legacy layouts the reference upgrades on writing)."""
    target = os.path.join(workdir, "reference_round_trip.h5ad")
    remove(target)
    read_anndata(src).write_h5ad(target)
    return read_anndata(target)


def spec_of(option):
    return [int(x) for x in option.split(",")]


def check_v3_output(c, label, out, v2_reference, meta_kw, serial_args):
    """The decoder's tree of `out` equals `v2_reference` (zarr-python's reading of the v2 output);
    spec-valid; the metadata facts; byte-identical to a run without a launcher (`serial_args`,
    run into a sibling path)."""
    decoded = cached(lambda: v3_tree(out))

    def violations():
        found = [f"{w}: {what}" for w, what in decoded()[1]]
        return found[:6] + ([f"… {len(found) - 6} more"] if len(found) > 6 else [])

    c.check(f"{label}: decodes equal to the v2 output (zarr-python)",
            lambda: tree_problems(v2_reference(), decoded()[0]))
    c.check(f"{label}: metadata valid by the v3 spec", violations)
    c.check(f"{label}: metadata (consolidated inline, codecs, shards, keys)", lambda: metadata_problems(out, **meta_kw))
    serial_out = out.replace(".zarr", ".serial.zarr")
    remove(serial_out)
    r = c.tessera_ok(f"{label} (again, without a launcher)", *serial_args(serial_out), ranks=0)
    if r is not None:
        what = "the serial run" if c.ranks else "a second serial run"
        c.check(f"{label}: byte-identical to {what}", lambda: identical_problems(serial_out, out, what))


def cached(fn):
    value = []

    def get():
        if not value:
            value.append(fn())
        return value[0]

    return get


# The outputs each source is written to: (name, suffix, options, metadata facts). Every source
# gets the default codecs and a sharded store; lz4 and the .zarr.zip on the sources named.
def variants(chunks, shards, lz4, zipped):
    sharding = {"shards": spec_of(shards), "chunks": spec_of(chunks)}
    out = [("v3", ".zarr", [], {}),
           ("v3_sharded", ".zarr", ["--chunks", chunks, "--shards", shards], sharding)]
    if lz4:
        out.append(("v3_lz4", ".zarr", ["--compressor", "lz4"], {"lz4": True}))
    if zipped:
        out.append(("v3_sharded", ".zarr.zip", ["--chunks", chunks, "--shards", shards], sharding))
    return out


EXTRA_VARIANTS = {"made_grid": (True, True), "v0.5.0": (True, True), "v0.7.8": (False, True)}


def part_convert(c, args):
    for label, src in sources(c, args.data):
        v2 = c.path(f"{label}.v2.zarr")
        remove(v2)
        if c.tessera_ok(f"{label}: convert -> v2", "convert", src, v2) is None:
            continue
        v2_reference = cached(lambda v2=v2: v2_tree(v2))
        chunks, shards = SHARDING.get(label, DEFAULT_SHARDING)
        outputs = {}
        for name, suffix, extra, meta_kw in variants(chunks, shards, *EXTRA_VARIANTS.get(label, (False, False))):
            out = c.path(f"{label}.{name}{suffix}")
            remove(out)
            tag = f"{label}: convert -> {suffix} --zarr-format 3 {' '.join(extra)}".rstrip()
            if c.tessera_ok(tag, "convert", src, out, "--zarr-format", "3", *extra) is None:
                continue
            outputs[name + suffix] = out
            check_v3_output(c, tag, out, v2_reference, meta_kw,
                            lambda o, src=src, extra=extra: ["convert", src, o, "--zarr-format", "3", *extra])
        # Back to h5ad (from the sharded store, or the plain one where sharding failed): anndata
        # reads it equal to the source.
        name = next((n for n in ("v3_sharded.zarr", "v3.zarr") if n in outputs), None)
        if name is None:
            continue
        back = c.path(f"{label}.back.h5ad")
        remove(back)
        tag = f"{label}: {name} -> convert -> .h5ad"
        if c.tessera_ok(tag, "convert", outputs[name], back) is not None:
            c.check(f"{tag}: anndata reads it equal to the source",
                    lambda: interop.compare_anndata(reference_round_trip(src, c.workdir), read_anndata(back)))


# ---------------------------------------------------------------------------------------------
# concat


def part_concat(c, args):
    genes = [f"gene{i}" for i in range(40)]
    a = cli_check.dense_object(1, 61, genes[:30], "a")
    b = cli_check.dense_object(2, 38, genes[10:40], "b")
    a.obs_names = [f"a_{n}_ü" for n in a.obs_names]
    a.X[3, 4] = np.nan
    dense = [c.path("a.h5ad"), c.path("b.h5ad")]
    a.write_h5ad(dense[0])
    b.write_h5ad(dense[1])
    s1, s2 = cli_check.sparse_object(3, 45, 25), cli_check.sparse_object(4, 30, 25)
    s1.obs_names = [f"s1_{n}" for n in s1.obs_names]
    sparse = [c.path("s1.h5ad"), c.path("s2.h5ad")]
    s1.write_h5ad(sparse[0])
    s2.write_h5ad(sparse[1])
    sharding = {"shards": [16, 12], "chunks": [8, 6]}
    cases = [("dense", dense, [("v3", ".zarr", [], {}),
                               ("v3_sharded", ".zarr.zip", ["--chunks", "8,6", "--shards", "16,12"], sharding)]),
             ("sparse", sparse, [("v3", ".zarr", [], {})])]
    for label, ins, outs in cases:
        v2 = c.path(f"concat_{label}.v2.zarr")
        remove(v2)
        if c.tessera_ok(f"concat {label} -> v2", "concat", *ins, "-o", v2) is None:
            continue
        v2_reference = cached(lambda v2=v2: v2_tree(v2))
        for name, suffix, extra, meta_kw in outs:
            out = c.path(f"concat_{label}.{name}{suffix}")
            remove(out)
            tag = f"concat {label} -o {suffix} --zarr-format 3 {' '.join(extra)}".rstrip()
            if c.tessera_ok(tag, "concat", *ins, "-o", out, "--zarr-format", "3", *extra) is None:
                continue
            check_v3_output(c, tag, out, v2_reference, meta_kw,
                            lambda o, ins=ins, extra=extra: ["concat", *ins, "-o", o, "--zarr-format", "3", *extra])
            if suffix == ".zarr":
                back = c.path(f"concat_{label}.{name}.back.h5ad")
                remove(back)
                if c.tessera_ok(f"{tag} -> .h5ad", "convert", out, back) is not None:
                    c.check(f"{tag} -> .h5ad: equal to anndata.concat", lambda back=back, ins=ins, label=label:
                            interop.compare_anndata(
                                cli_check.reference_concat(ins, c.path(f"ref_concat_{label}.h5ad")),
                                read_anndata(back)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tessera")
    parser.add_argument("--interop-tool", required=True)
    parser.add_argument("--part", required=True, choices=["stores", "convert", "concat"])
    parser.add_argument("--ranks", type=int, default=0)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "..", "shared", "data"))
    args = parser.parse_args()
    if os.path.exists(args.workdir):
        shutil.rmtree(args.workdir)
    os.makedirs(args.workdir)
    args.data = os.path.abspath(args.data)
    c = Checker(os.path.abspath(args.tessera), args.ranks, os.path.abspath(args.workdir))
    started = time.time()
    {"stores": part_stores, "convert": part_convert, "concat": part_concat}[args.part](c, args)
    print(f"{args.part} [{c.tag}]: {len(c.failures)} failures, {time.time() - started:.1f} s")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
