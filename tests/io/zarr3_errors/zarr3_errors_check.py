#!/usr/bin/python3
"""Hostile Zarr v3 stores through the tessera command: each must fail cleanly, and the good
variants beside them (reordered shards, missing and empty inner chunks, stale consolidated
metadata, a .zarr.zip) must read right.

    zarr3_errors_check.py TESSERA --ranks 0|1|2 --workdir DIR [--data SHARED_DATA_DIR]
                          [--interop-tool ZARR_INTEROP_TOOL] [--only SUBSTRING]

Every store is made here from JSON and raw bytes (the shard encoder, CRC-32C, vlen-utf8 and the
consolidated metadata are written in this file), so no expectation depends on Tessera's own
writer: values come from numpy, the reference for h5ad/zarr v2 outputs is Debian's anndata 0.8.
The one store from elsewhere, zarrs' sharded array (DATA/zarr-v3), is copied into the workdir and
mutated there, and read with zarr_interop_tool's `dump`.

A hostile case passes when every subcommand run on it (info, convert to .h5ad and to .zarr,
reduce) exits non-zero without a signal or a timeout, prints exactly one line of ours on stderr,
`tessera: error: ...`, naming the element (X, obs/_index, ...) and a word of the problem, prints
nothing on stdout, and leaves the output folder as it was (no target, no hidden scratch files).

--ranks 0 runs `tessera` directly; K > 0 under `mpirun -np K`, where the failing rank must stop
the whole job with its one message. Every launch has a timeout (a hang is a FAIL).
"""
import argparse
import gzip
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import warnings
import zipfile

import numpy as np
import numcodecs

warnings.simplefilter("ignore")

RUN_TIMEOUT = 60  # seconds for one launch (normally well under 1 s); longer is a hang
BUDGET = 540  # seconds for the whole run (ctest's TIMEOUT is 600): later launches are not run
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OMPI_MCA_pml": "ob1",
    "OMPI_MCA_btl": "self,vader",
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    # When a rank exits non-zero mpirun stops the others; its default grace of 1 s between SIGTERM
    # and SIGKILL made each failing launch cost ~1.5 s (the launcher's teardown, not Tessera's).
    "OMPI_MCA_odls_base_sigkill_timeout": "0",
}
EMPTY = 2**64 - 1  # offset and nbytes of an empty inner chunk in a shard index
CRASH_WORDS = ("Segmentation", "Aborted", "core dumped", "terminate called", "AddressSanitizer",
               "signal 11", "signal 6", "Bus error")
# What the C++ library says when an exception of its own escapes (allocation, container limits,
# conversions): caught at the top, but a message for the programmer, not the user.
LEAK_WORDS = ("std::", "bad_alloc", "max_size()", "basic_string", "stoi", "stoll", "vector::")


# ---------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as the crc32c codec and shard indexes use


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


# ---------------------------------------------------------------------------------------------
# Encoding chunks: bytes, vlen-utf8, zstd, gzip, crc32c, sharding_indexed (nested too)

NUMPY_TYPES = {"bool": "?", "int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8", "uint8": "u1",
               "uint16": "u2", "uint32": "u4", "uint64": "u8", "float32": "f4", "float64": "f8"}


def codec(name, **configuration):
    return {"name": name, "configuration": configuration} if configuration else {"name": name}


BYTES = codec("bytes", endian="little")
ZSTD = codec("zstd", level=0, checksum=False)
GZIP = codec("gzip", level=5)
VLEN = codec("vlen-utf8")
INDEX_CODECS = [BYTES, codec("crc32c")]


def sharding(inner_shape, inner_codecs, location="end"):
    return codec("sharding_indexed", chunk_shape=list(inner_shape), codecs=inner_codecs,
                 index_codecs=INDEX_CODECS, index_location=location)


def vlen_utf8(items):
    """u32le count (the whole chunk, padding included), then u32le length + UTF-8 bytes each."""
    out = [struct.pack("<I", len(items))]
    for s in items:
        b = s.encode("utf-8") if isinstance(s, str) else s
        out.append(struct.pack("<I", len(b)) + b)
    return b"".join(out)


def pack_index(entries):
    raw = b"".join(struct.pack("<QQ", off, n) for off, n in entries)
    return raw + struct.pack("<I", crc32c(raw))


def pack_shard(chunks, order=None, location="end"):
    """A shard object from its inner chunks (encoded bytes, or None for empty) in C order over the
    inner grid; `order` is the physical order of the stored chunks (default: C order)."""
    n = len(chunks)
    index_size = 16 * n + 4
    base = index_size if location == "start" else 0
    entries = [(EMPTY, EMPTY)] * n
    payload = b""
    for i in (order if order is not None else range(n)):
        if chunks[i] is None:
            continue
        entries[i] = (base + len(payload), len(chunks[i]))
        payload += chunks[i]
    index = pack_index(entries)
    return index + payload if location == "start" else payload + index


def unpack_shard(data, n, location="end"):
    """[(offset, nbytes)] and the inner chunks (None where empty), checking the index's CRC."""
    index = data[:16 * n + 4] if location == "start" else data[len(data) - 16 * n - 4:]
    raw, crc = index[:-4], struct.unpack("<I", index[-4:])[0]
    assert crc32c(raw) == crc, "index CRC mismatch"
    entries = [struct.unpack_from("<QQ", raw, 16 * i) for i in range(n)]
    chunks = [None if off == EMPTY else data[off:off + nb] for off, nb in entries]
    return entries, chunks


def grid(shape, chunk):
    return [-(-s // c) for s, c in zip(shape, chunk)]


def grid_positions(g):
    return [tuple(int(i) for i in p) for p in np.ndindex(*g)]


def padded_block(data, pos, chunk, fill):
    """The chunk at grid position `pos`, padded with `fill` at the array's edge."""
    block = np.full(chunk, fill, dtype=data.dtype)
    sl = tuple(slice(p * c, min((p + 1) * c, s)) for p, c, s in zip(pos, chunk, data.shape))
    part = data[sl]
    block[tuple(slice(0, n) for n in part.shape)] = part
    return block


def encode(block, codecs, fill):
    """Encoded bytes of one chunk through `codecs`, or None when a shard holds only empty chunks."""
    data = block
    for c in codecs:
        name = c["name"] if isinstance(c, dict) else c
        cfg = c.get("configuration", {}) if isinstance(c, dict) else {}
        if name == "bytes":
            data = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()
        elif name == "vlen-utf8":
            data = vlen_utf8(list(np.asarray(data).ravel()))
        elif name == "sharding_indexed":
            inner = cfg["chunk_shape"]
            chunks = []
            for pos in grid_positions(grid(data.shape, inner)):
                sub = padded_block(data, pos, inner, fill)
                chunks.append(None if np.all(sub == fill) else encode(sub, cfg["codecs"], fill))
            if all(x is None for x in chunks):
                return None
            data = pack_shard(chunks, location=cfg.get("index_location", "end"))
        elif name == "zstd":
            data = numcodecs.Zstd(level=cfg.get("level", 0)).encode(data)
        elif name == "gzip":
            data = gzip.compress(data, cfg.get("level", 5), mtime=0)
        elif name == "crc32c":
            data = data + struct.pack("<I", crc32c(data))
        else:
            raise ValueError(f"encode: no codec {name}")
        data = bytes(data) if not isinstance(data, np.ndarray) else data
    return data


# ---------------------------------------------------------------------------------------------
# A store as {key: bytes}, consolidated like zarr-python's


def dumps(obj):
    return json.dumps(obj, indent=2).encode()


class Store:
    def __init__(self):
        self.files = {}

    def copy(self):
        s = Store()
        s.files = dict(self.files)
        return s

    def meta(self, path):
        return json.loads(self.files[key(path, "zarr.json")])

    def put_meta(self, path, meta):
        self.files[key(path, "zarr.json")] = dumps(meta)

    def group(self, path, attributes):
        meta = {"zarr_format": 3, "node_type": "group", "attributes": attributes}
        if path:
            meta["consolidated_metadata"] = None  # as zarr-python 3.0-3.1.3 wrote in every group
        self.put_meta(path, meta)

    def array(self, path, data, chunk, codecs, fill, attributes, data_type=None, separator="/",
              skip_fill_chunks=False):
        data = np.asarray(data)
        meta = {"zarr_format": 3, "node_type": "array", "shape": list(data.shape),
                "data_type": data_type or [k for k, v in NUMPY_TYPES.items() if np.dtype(v) == data.dtype][0],
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunk)}},
                "chunk_key_encoding": {"name": "default", "configuration": {"separator": separator}},
                "fill_value": fill, "codecs": codecs, "attributes": attributes}
        self.put_meta(path, meta)
        fill_in_type = "" if data.dtype.kind in "UO" else fill
        for pos in grid_positions(grid(data.shape, chunk)):
            block = padded_block(data, pos, chunk, fill_in_type)
            if skip_fill_chunks and np.all(block == fill_in_type):
                continue
            encoded = encode(block, codecs, fill_in_type)
            if encoded is not None:
                self.files[chunk_key(path, pos, separator)] = encoded

    def consolidate(self):
        """The root zarr.json gets every node's zarr.json inline, keyed by path (groups in it carry
        an empty inline object)."""
        nodes = {}
        for k in sorted(self.files):
            if k.endswith("zarr.json") and k != "zarr.json":
                path = k[: -len("/zarr.json")]
                m = json.loads(self.files[k])
                if m.get("node_type") == "group":
                    m["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": {}}
                nodes[path] = m
        root = self.meta("")
        root["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": nodes}
        self.put_meta("", root)

    def edit(self, path, fn, consolidated=True):
        """Apply fn to the node's zarr.json and, unless told not to, to its consolidated entry
        (so that a reader trusting either sees the same)."""
        m = self.meta(path)
        fn(m)
        self.put_meta(path, m)
        if consolidated and path:
            root = self.meta("")
            entries = (root.get("consolidated_metadata") or {}).get("metadata", {})
            if path in entries:
                fn(entries[path])
                self.put_meta("", root)

    def consolidated(self):
        return self.meta("")["consolidated_metadata"]["metadata"]

    def edit_consolidated(self, fn):
        root = self.meta("")
        fn(root["consolidated_metadata"])
        self.put_meta("", root)

    def drop_consolidated(self):
        root = self.meta("")
        root.pop("consolidated_metadata", None)
        self.put_meta("", root)

    def write(self, folder):
        remove(folder)
        os.makedirs(folder)
        for k, v in self.files.items():
            full = os.path.join(folder, k)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as fh:
                fh.write(v)

    def write_zip(self, target):
        remove(target)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as z:
            for k in sorted(self.files):
                z.writestr(zipfile.ZipInfo(k, (2020, 1, 1, 0, 0, 0)), self.files[k])


def key(path, name):
    return f"{path}/{name}" if path else name


def chunk_key(path, pos, separator="/"):
    return key(path, separator.join(["c", *map(str, pos)]))


# ---------------------------------------------------------------------------------------------
# The AnnData object every case starts from

N_OBS, N_VAR = 10, 6
X_SHARD, X_INNER = (4, 6), (2, 3)  # 3 shards (the last one partial), 2 x 2 inner chunks each
N_INNER = 4
OBS_CHUNK = 4  # obs/_index in 3 chunks, the last padded


def x_values():
    return (((np.arange(N_OBS * N_VAR) * 7) % 23 - 6) * 0.5).astype(np.float32).reshape(N_OBS, N_VAR)


OBS_NAMES = [f"cell{i}" for i in range(N_OBS)]
OBS_NAMES[3] = "São Paulo"  # multi-byte UTF-8
VAR_NAMES = [f"g{i}" for i in range(N_VAR)]
OBS_N = np.arange(N_OBS, dtype=np.int64) * 3


def x_inner_codecs(kind):
    return [BYTES, GZIP] if kind == "gzip" else [BYTES, ZSTD]


def make_base(inner="zstd", fill=0.0, location="end", x=None, x_codecs=None, x_chunk=X_SHARD):
    """An anndata 0.13-style v3 store: X dense float32 sharded, obs with a string index (vlen-utf8
    + zstd) and an int64 column (bytes only), var with a string index (vlen-utf8), the empty
    mappings, consolidated metadata inline in the root zarr.json."""
    s = Store()
    s.group("", {"encoding-type": "anndata", "encoding-version": "0.1.0"})
    arr = lambda t: {"encoding-type": t, "encoding-version": "0.2.0"}  # noqa: E731
    s.array("X", x_values() if x is None else x, x_chunk,
            x_codecs or [sharding(X_INNER, x_inner_codecs(inner), location)], fill, arr("array"))
    s.group("obs", {"_index": "_index", "column-order": ["n"], "encoding-type": "dataframe",
                    "encoding-version": "0.2.0"})
    s.array("obs/_index", np.array(OBS_NAMES, dtype=object), (OBS_CHUNK,), [VLEN, ZSTD], "",
            arr("string-array"), data_type="string")
    s.array("obs/n", OBS_N, (5,), [BYTES], 0, arr("array"))
    s.group("var", {"_index": "_index", "column-order": [], "encoding-type": "dataframe",
                    "encoding-version": "0.2.0"})
    s.array("var/_index", np.array(VAR_NAMES, dtype=object), (N_VAR,), [VLEN], "",
            arr("string-array"), data_type="string")
    for g in ("layers", "obsm", "obsp", "varm", "varp", "uns"):
        s.group(g, {"encoding-type": "dict", "encoding-version": "0.1.0"})
    s.consolidate()
    return s


# ---------------------------------------------------------------------------------------------
# Running tessera


class Checker:
    def __init__(self, tessera, ranks, workdir):
        self.tessera = tessera
        self.ranks = ranks
        self.workdir = workdir
        self.failures = []
        self.passed = 0
        self.start = time.monotonic()
        self.tag = "serial" if ranks == 0 else f"np{ranks}"

    def path(self, *names):
        return os.path.join(self.workdir, *names)

    def run(self, label, *args, ranks=None, tool=None):
        """(returncode, stdout, stderr), or None after a timeout or past the budget (a FAIL)."""
        ranks = self.ranks if ranks is None else ranks
        if time.monotonic() - self.start > BUDGET:
            self.fail(label, [f"not run: the run's {BUDGET} s budget is spent (earlier hangs?)"])
            return None
        program = tool or self.tessera
        cmd = [tool, *args] if tool else [self.tessera, "--no-progress", *args]
        if ranks > 0 and not tool:
            cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", *cmd]
        for attempt in range(3):
            wait_for(program)
            r = self._launch(label, cmd)
            # A binary being relinked while the suite runs is briefly missing: wait and launch again.
            if r is None or not (r[0] == -999 or "could not access\nor execute" in r[2]):
                return r
        return r

    def _launch(self, label, cmd):
        env = dict(os.environ, **MPI_ENV)
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                    start_new_session=True, errors="replace")
        except OSError as e:
            return -999, "", f"cannot launch {cmd[0]}: {e}"
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

    def run_ok(self, label, *args, tool=None):
        r = self.run(label, *args, tool=tool)
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
        for line in lines[:12]:
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
            self.passed += 1
            print(f"ok   [{self.tag}] {label}")
            sys.stdout.flush()


def wait_for(program, seconds=300):
    end = time.monotonic() + seconds
    while not os.access(program, os.X_OK) and time.monotonic() < end:
        time.sleep(2)


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def listing(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


# ---------------------------------------------------------------------------------------------
# Hostile cases

OUT_OF = ["outside", "beyond", "past", "exceed", "bound", "range", "end of", "larger", "truncat", "overflow"]
SMALL = ["index", "small", "short", "truncat", "size"]
CRC = ["crc", "checksum"]
ZSTD_BAD = ["zstd", "decompress", "corrupt", "decod", "frame"]
GZIP_BAD = ["gzip", "inflate", "deflate", "decompress", "corrupt", "decod", "header"]
SIZE = ["size", "bytes", "expected", "short", "length", "shape"]
VLEN_BAD = ["vlen", "count", "item", "element", "truncat", "short", "beyond", "past", "length", "end of",
            "exceed"]
SHAPE = ["shape", "dimension", "rank", "negative", "large", "rows", "match", "overflow"]
CHUNK = ["chunk_shape", "chunk shape", "zero", "positive", "chunk_grid"]
FILL = ["fill_value", "fill value"]
JSON_BAD = ["json", "parse", "syntax"]
NOT_OBJECT = ["object", "json", "not a zarr", "zarr_format"]
FORMAT = ["zarr_format", "version", "format", "v3"]
CONSOLIDATED = ["consolidated_metadata", "consolidated"]
ROOT = ["FILE", "zarr.json"]  # FILE: the store's own path (taken out of the message before matching)

# Which subcommands read what: info parses every array's metadata it shows (X's chunk table); the
# chunks of X are read by convert and reduce --axis 0 (which names the var), obs/_index's by
# convert and reduce --axis 1, obs/n's by convert only.
ALL = ("info", "h5ad", "zarr", "reduce0")
X_DATA = ("h5ad", "zarr", "reduce0")
OBS_INDEX_DATA = ("h5ad", "zarr", "reduce1")
CONVERT = ("h5ad", "zarr")


class Case:
    """A hostile store: build(store) damages a copy of the base; the error must name one of
    `element` and say one of `words`; for damaged chunk data it must also name the stored object
    (`where`, e.g. the shard's key c/2/0, not an inner chunk's grid position)."""

    def __init__(self, label, build, element, words, runs, note="", where=None):
        self.label, self.build, self.element, self.words, self.runs = label, build, element, words, runs
        self.note, self.where = note, where


def shard_edit(s, pos, fn):
    """Rewrite the shard of X at `pos`: fn(entries, chunks, data) -> new shard bytes."""
    k = chunk_key("X", pos)
    data = s.files[k]
    entries, chunks = unpack_shard(data, N_INNER)
    s.files[k] = fn(entries, chunks, data)


def with_entry(i, entry):
    """The shard with index entry i replaced (and a correct CRC)."""
    def fn(entries, chunks, data):
        entries = list(entries)
        entries[i] = entry
        return data[: len(data) - 16 * N_INNER - 4] + pack_index(entries)
    return fn


def with_chunk(i, new):
    """The shard with inner chunk i replaced by `new` bytes (index rebuilt, CRC right)."""
    def fn(entries, chunks, data):
        chunks = list(chunks)
        chunks[i] = new(chunks[i])
        return pack_shard(chunks)
    return fn


def inner_block(values, shard_row, i):
    r, c = divmod(i, 2)
    r0, c0 = shard_row * X_SHARD[0] + r * X_INNER[0], c * X_INNER[1]
    return values[r0:r0 + X_INNER[0], c0:c0 + X_INNER[1]]


def vlen_chunk_edit(s, pos, fn):
    """Rewrite obs/_index's chunk `pos` (vlen-utf8 + zstd): fn(raw vlen bytes) -> raw bytes."""
    k = chunk_key("obs/_index", (pos,))
    raw = numcodecs.Zstd().decode(s.files[k])
    s.files[k] = numcodecs.Zstd(level=0).encode(fn(bytes(raw)))


def vlen_set_count(n):
    return lambda raw: struct.pack("<I", n) + raw[4:]


def vlen_set_length(item, n):
    def fn(raw):
        at = 4
        for _ in range(item):
            at += 4 + struct.unpack_from("<I", raw, at)[0]
        return raw[:at] + struct.pack("<I", n) + raw[at + 4:]
    return fn


def garbage(n, seed=5):
    return bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8))


def set_inner_codec(i, value):
    def fn(m):
        m["codecs"][0]["configuration"]["codecs"][i] = value
    return fn


def set_key(name, value):
    def fn(m):
        m[name] = value
    return fn


def set_grid(chunk_shape):
    def fn(m):
        m["chunk_grid"]["configuration"]["chunk_shape"] = chunk_shape
    return fn


def build_rank3(s):
    x3 = np.repeat(x_values()[:, :, None], 2, axis=2)
    s.files = make_base(x=x3, x_chunk=(4, 6, 2), x_codecs=[sharding((2, 3, 2), [BYTES, ZSTD])]).files


def cases():
    L = []

    def case(label, build, element, words, runs, note="", where=None):
        L.append(Case(label, build, element, words, runs, note, where))

    # Shard structure (X's chunks; info reads none of them). X/c/R/0 is shard R (rows 4R..4R+3),
    # its inner chunks 0..3 in C order over a 2 x 2 grid.
    def shard(pos, fn):
        return lambda s: shard_edit(s, pos, fn)

    case("shard_index_outside", shard((2, 0), with_entry(0, (5000, 40))), ["X"], OUT_OF, X_DATA, where="c/2/0")
    case("shard_index_nbytes_outside", shard((0, 0), with_entry(1, (0, 10**6))), ["X"], OUT_OF, X_DATA,
         where="c/0/0")
    case("shard_index_offset_wraps", shard((0, 0), with_entry(1, (2**64 - 8, 16))), ["X"], OUT_OF, X_DATA,
         "offset + nbytes wraps past 2^64", where="c/0/0")
    case("shard_index_half_empty", shard((1, 0), with_entry(2, (EMPTY, 12))), ["X"], OUT_OF + ["empty", "invalid"],
         X_DATA, "offset 2^64-1 with a real nbytes", where="c/1/0")
    case("shard_smaller_than_index", lambda s: s.files.__setitem__("X/c/1/0", s.files["X/c/1/0"][-20:]), ["X"],
         SMALL, X_DATA, where="c/1/0")
    case("shard_zero_bytes", lambda s: s.files.__setitem__("X/c/1/0", b""), ["X"], SMALL + ["empty"], X_DATA,
         where="c/1/0")

    def flip_index_byte(s):
        d = bytearray(s.files["X/c/0/0"])
        d[len(d) - 16 * N_INNER - 4 + 16] ^= 0x01  # entry 1's offset, CRC left as it was
        s.files["X/c/0/0"] = bytes(d)

    def flip_crc_byte(s):
        d = bytearray(s.files["X/c/2/0"])
        d[-2] ^= 0x40
        s.files["X/c/2/0"] = bytes(d)

    case("index_crc_mismatch", flip_index_byte, ["X"], CRC, X_DATA, where="c/0/0")
    case("index_crc_bytes_flipped", flip_crc_byte, ["X"], CRC, X_DATA, where="c/2/0")

    # Inner chunk payloads (index right).
    def zstd_of(values):
        return lambda _: bytes(numcodecs.Zstd(level=0).encode(np.ascontiguousarray(values).tobytes()))

    case("inner_zstd_garbage", shard((2, 0), with_chunk(0, lambda b: garbage(len(b)))), ["X"], ZSTD_BAD, X_DATA,
         where="c/2/0")
    case("inner_zstd_truncated", shard((0, 0), with_chunk(3, lambda b: b[: len(b) // 2])), ["X"], ZSTD_BAD, X_DATA,
         where="c/0/0")

    def gzip_garbage(s):
        s.files = make_base(inner="gzip").files
        shard_edit(s, (1, 0), with_chunk(1, lambda b: b[:10] + garbage(len(b) - 10)))

    def zlib_not_gzip(s):
        s.files = make_base(inner="gzip").files
        zlib = numcodecs.Zlib(5).encode(np.ascontiguousarray(inner_block(x_values(), 1, 1)).tobytes())
        shard_edit(s, (1, 0), with_chunk(1, lambda b: bytes(zlib)))

    case("inner_gzip_garbage", gzip_garbage, ["X"], GZIP_BAD, X_DATA, "gzip header kept, deflate stream garbage",
         where="c/1/0")
    case("inner_zlib_not_gzip", zlib_not_gzip, ["X"], GZIP_BAD, X_DATA,
         "a zlib (RFC 1950) stream where gzip is declared", where="c/1/0")
    case("inner_too_few_bytes", shard((0, 0), with_chunk(2, zstd_of(inner_block(x_values(), 0, 2).ravel()[:5]))),
         ["X"], SIZE, X_DATA, "a 2x3 float32 inner chunk that decodes to 20 bytes", where="c/0/0")
    case("inner_too_many_bytes", shard((2, 0), with_chunk(0, zstd_of(np.zeros(7, np.float32)))), ["X"], SIZE,
         X_DATA, "decodes to 28 bytes", where="c/2/0")
    case("chunk_too_few_bytes", lambda s: s.files.__setitem__("obs/n/c/1", s.files["obs/n/c/1"][:13]), ["obs/n"],
         SIZE, CONVERT, "obs/n: bytes codec only, a 5 x int64 chunk of 13 bytes", where="c/1")

    # vlen-utf8 (obs/_index, chunks of 4: the last one padded).
    def vlen(pos, fn):
        return lambda s: vlen_chunk_edit(s, pos, fn)

    I = ["obs/_index"]  # noqa: E741
    case("vlen_count_beyond", vlen(1, vlen_set_count(1000)), I, VLEN_BAD, OBS_INDEX_DATA, where="c/1")
    case("vlen_count_huge", vlen(0, vlen_set_count(0xFFFFFFFF)), I, VLEN_BAD, OBS_INDEX_DATA, where="c/0")
    case("vlen_count_short", vlen(2, vlen_set_count(1)), I, VLEN_BAD + ["expected", "match"], OBS_INDEX_DATA,
         "count 1 for a chunk of 4", where="c/2")
    case("vlen_length_beyond", vlen(1, vlen_set_length(1, 10**6)), I, VLEN_BAD, OBS_INDEX_DATA, where="c/1")
    case("vlen_length_huge", vlen(2, vlen_set_length(0, 0xFFFFFFFF)), I, VLEN_BAD, OBS_INDEX_DATA, where="c/2")
    case("vlen_truncated", vlen(0, lambda raw: raw[:-3]), I, VLEN_BAD, OBS_INDEX_DATA, where="c/0")
    case("vlen_invalid_utf8", vlen(0, lambda raw: raw.replace(b"cell1", b"ce\xff\xfe1")), I,
         ["utf-8", "utf8", "unicode", "encoding"], OBS_INDEX_DATA, "zarr-python's VLenUTF8 raises UnicodeDecodeError",
         where="c/0")

    # Codecs.
    case("codec_unknown_inner", lambda s: s.edit("X", set_inner_codec(1, codec("frobnicate", level=1))), ["X"],
         ["frobnicate"], ALL)
    case("codec_unknown_bare_name", lambda s: s.edit("obs/n", set_key("codecs", [BYTES, "frobnicate"])),
         ["obs/n"], ["frobnicate"], CONVERT, "a codec given as a bare name string")
    case("codec_zstd_level_string", lambda s: s.edit("X", set_inner_codec(1, codec("zstd", level="high"))),
         ["X"], ["level", "zstd"], ALL)
    case("codec_bytes_endian_number", lambda s: s.edit("X", set_inner_codec(0, codec("bytes", endian=5))),
         ["X"], ["endian", "bytes"], ALL)
    case("codec_sharding_chunk_shape_string", lambda s: s.edit(
        "X", lambda m: m["codecs"][0]["configuration"].__setitem__("chunk_shape", "2,3")), ["X"],
         ["chunk_shape", "chunk shape", "sharding"], ALL)
    case("codec_configuration_not_object", lambda s: s.edit("X", set_inner_codec(1, {"name": "zstd",
                                                                                   "configuration": [0]})),
         ["X"], ["configuration", "zstd", "object"], ALL)
    case("codecs_not_a_list", lambda s: s.edit("X", set_key("codecs", {"name": "bytes"})), ["X"], ["codecs"], ALL)
    case("codecs_two_serializers", lambda s: s.edit("obs/n", set_key("codecs", [BYTES, BYTES])), ["obs/n"],
         ["bytes", "codec", "serializer"], CONVERT, "two array->bytes codecs")
    case("codecs_no_serializer", lambda s: s.edit("obs/n", set_key("codecs", [ZSTD])), ["obs/n"],
         ["bytes", "codec", "serializer"], CONVERT, "zstd only, no array->bytes codec")

    # Top-level keys, data types, grids, chunk keys.
    case("must_understand_true", lambda s: s.edit("X", set_key("frobs", {"must_understand": True})), ["X"],
         ["frobs"], ALL)
    case("unknown_key_plain", lambda s: s.edit("X", set_key("frobs", 5)), ["X"], ["frobs"], ALL,
         "no must_understand: false")
    case("unknown_key_object", lambda s: s.edit("X", set_key("frobs", {"a": 1})), ["X"], ["frobs"], ALL,
         "an object without must_understand")
    case("data_type_unknown", lambda s: s.edit("X", set_key("data_type", "frob64")), ["X"], ["frob64"], ALL)
    case("data_type_object_unknown", lambda s: s.edit("X", set_key("data_type", {"name": "frob64",
                                                                                 "configuration": {}})),
         ["X"], ["frob64"], ALL)
    case("data_type_number", lambda s: s.edit("X", set_key("data_type", 5)), ["X"], ["data_type", "data type"], ALL)
    case("chunk_grid_unknown", lambda s: s.edit("X", set_key("chunk_grid", {
        "name": "rectilinear", "configuration": {"kind": "inline", "chunk_shapes": [[4, 4, 2], [6]]}})),
         ["X"], ["rectilinear", "chunk_grid"], ALL)
    case("chunk_key_encoding_unknown", lambda s: s.edit("X", set_key("chunk_key_encoding", {"name": "frobkeys"})),
         ["X"], ["frobkeys", "chunk_key_encoding"], ALL)
    case("chunk_key_separator_bad", lambda s: s.edit("X", set_key("chunk_key_encoding", {
        "name": "default", "configuration": {"separator": "|"}})), ["X"], ["separator", "chunk_key_encoding"], ALL)

    # Shapes and fill values.
    case("shape_negative", lambda s: s.edit("X", set_key("shape", [-10, 6])), ["X"], SHAPE, ALL)
    case("shape_huge", lambda s: s.edit("X", set_key("shape", [2**62, 6])), ["X"], SHAPE, ALL)
    case("shape_huge_both", lambda s: s.edit("X", set_key("shape", [2**62, 2**62])), ["X"], SHAPE, ALL,
         "2^62 x 2^62: the element count overflows 64 bits")
    case("shape_rank3", build_rank3, ["X"], SHAPE + ["2-d", "2d", "3"], ALL, "a valid 10x6x2 array as X")
    case("shape_not_a_list", lambda s: s.edit("X", set_key("shape", "10,6")), ["X"], ["shape"], ALL)
    case("shape_fractional", lambda s: s.edit("X", set_key("shape", [10.5, 6])), ["X"], ["shape"], ALL)
    case("chunk_shape_zero", lambda s: s.edit("X", set_grid([0, 6])), ["X"], CHUNK, ALL)
    case("chunk_shape_rank_mismatch", lambda s: s.edit("X", set_grid([4])), ["X"], CHUNK + ["rank", "dimension"],
         ALL)
    case("inner_chunk_shape_zero", lambda s: s.edit(
        "X", lambda m: m["codecs"][0]["configuration"].__setitem__("chunk_shape", [0, 3])), ["X"], CHUNK, ALL)
    case("fill_value_string_for_float", lambda s: s.edit("X", set_key("fill_value", "hello")), ["X"], FILL, ALL)
    case("fill_value_list_for_int", lambda s: s.edit("obs/n", set_key("fill_value", [1, 2])), ["obs/n"], FILL, CONVERT)
    case("fill_value_missing", lambda s: s.edit("X", lambda m: m.pop("fill_value")), ["X"], FILL, ALL)
    case("sharding_not_dividing", lambda s: s.edit(
        "X", lambda m: m["codecs"][0]["configuration"].__setitem__("chunk_shape", [3, 4])), ["X"],
         ["divid", "multiple"], ALL, "inner 3x4 in a 4x6 shard")

    # Nodes.
    case("node_zarr_format_2", lambda s: s.edit("X", set_key("zarr_format", 2)), ["X"], FORMAT, ALL)
    case("node_type_unknown", lambda s: s.edit("X", set_key("node_type", "frob")), ["X"], ["node_type", "frob"], ALL)

    def node_file(path, content):
        def build(s):
            s.drop_consolidated()
            s.files[key(path, "zarr.json")] = content
        return build

    case("node_json_not_json", node_file("X", b'{"zarr_format": 3, "node_type": '), ["X"], JSON_BAD, ALL,
         "no consolidated metadata")
    case("node_json_array", node_file("obs", b"[1, 2]"), ["obs"], NOT_OBJECT, ALL, "no consolidated metadata")
    case("group_attributes_not_object", lambda s: s.edit("obs", set_key("attributes", [1])), ["obs"],
         ["attributes", "object"], ALL)
    case("root_json_not_json", lambda s: s.files.__setitem__("zarr.json", b"\x00not json"), ROOT, JSON_BAD, ALL)
    case("root_json_array", lambda s: s.files.__setitem__("zarr.json", b"[]"), ROOT, NOT_OBJECT, ALL)
    case("root_zarr_format_4", lambda s: s.edit("", set_key("zarr_format", 4)), ROOT, FORMAT, ALL)

    # Consolidated metadata that is malformed (the store is refused, not silently half-read).
    case("consolidated_metadata_not_object", lambda s: s.edit_consolidated(lambda c: c.__setitem__("metadata", [1, 2])),
         CONSOLIDATED, ["object", "metadata", "expected", "invalid", "malformed"], ALL)

    def add_entry(name, value):
        return lambda s: s.edit_consolidated(lambda c: c["metadata"].__setitem__(name, value))

    group_meta = {"zarr_format": 3, "node_type": "group", "attributes": {}}
    case("consolidated_path_dotdot", add_entry("../evil", group_meta), ["../evil"] + CONSOLIDATED,
         ["..", "path", "key", "invalid", "unsafe", "outside"], ALL)
    case("consolidated_path_dotdot_inner", add_entry("obs/../../evil", group_meta), ["obs/../../evil"] + CONSOLIDATED,
         ["..", "path", "key", "invalid", "unsafe", "outside"], ALL)
    case("consolidated_path_absolute", add_entry("/X", group_meta), ["/X"] + CONSOLIDATED,
         ["absolute", "path", "key", "invalid", "unsafe"], ALL)
    case("consolidated_node_not_v3", lambda s: s.edit_consolidated(lambda c: c["metadata"].__setitem__("X", {
        "zarr_format": 2, "shape": [10, 6], "chunks": [4, 6], "dtype": "<f4", "compressor": None, "fill_value": 0,
        "filters": None, "order": "C"})), ["X"] + CONSOLIDATED, FORMAT + ["v3"], ALL)
    return L


# ---------------------------------------------------------------------------------------------
# Checking a failure

def without_path(message, path):
    text = message.replace(os.path.abspath(path), "FILE").replace(path, "FILE")
    return text.replace(os.path.basename(path), "FILE")


def names_element(text, alternatives):
    return any(re.search(r"(?<![\w.])" + re.escape(alt) + r"(?![\w])", text) for alt in alternatives)


def error_problems(c, result, store, element, words, outdir=None, before=None, label=None, where=None):
    code, out, err = result
    problems = []
    err_lines = [line for line in err.splitlines() if line.strip()]
    ours = [line for line in err_lines if line.startswith("tessera:")]
    errors = [line for line in ours if line.startswith("tessera: error:")]
    if code == 0:
        problems.append("exit 0: the hostile input was accepted")
    elif code < 0:
        problems.append(f"killed by signal {-code} (a crash)")
    elif code >= 128:
        problems.append(f"exit {code} (a crash or abort under the launcher)")
    crash = [w for w in CRASH_WORDS if w in err]
    if crash:
        problems.append(f"a crash ({crash[0]}): {err.strip()[-300:]!r}")
    leak = [w for w in LEAK_WORDS if any(w in line for line in ours)]
    if leak:
        problems.append(f"a C++ library exception reaches the user ({leak[0]})")
    if len(errors) != 1 or len(ours) != 1:
        problems.append(f"{len(ours)} lines of ours on stderr ({len(errors)} errors), expected one error line: "
                        f"{err.strip()[:400]!r}")
    elif c.ranks == 0 and len(err_lines) != 1:
        problems.append(f"stderr has {len(err_lines)} lines, expected 1: {err.strip()[:400]!r}")
    if errors:
        text = without_path(errors[0], store)
        if label:  # the target's name holds the label, whose words must not count as the problem
            text = text.replace(label, "CASE")
        if not names_element(text, element):
            problems.append(f"the error does not name {' or '.join(element)}: {errors[0]!r}")
        if not any(w.lower() in text.lower() for w in words):
            problems.append(f"the error does not say what is wrong (any of {words[:6]}…): {errors[0]!r}")
        if where and where not in text:
            problems.append(f"the error does not name the damaged object {where!r}: {errors[0]!r}")
    if out.strip():
        problems.append(f"stdout not empty: {out.strip()[:200]!r}")
    if outdir is not None:
        after = listing(outdir)
        if after != before:
            problems.append(f"the output folder changed: {sorted(set(after) - set(before))} left beside the target")
    return problems


def run_failing(c, label, store, element, words, runs, where=None):
    outdir = c.path("out")
    os.makedirs(outdir, exist_ok=True)
    for what in runs:
        target = None
        if what == "info":
            args = ["info", store]
        elif what in ("h5ad", "zarr"):
            target = os.path.join(outdir, f"{label}.{what}")
            remove(target)
            args = ["convert", store, target]
        else:
            args = ["reduce", store, "--op", "sum", "--axis", what[-1]]
        name = f"{label}: {' '.join(a if a != store else os.path.basename(store) for a in args[:1] + args[2:])}"
        name = name.replace(outdir + os.sep, "")
        before = listing(outdir)
        r = c.run(name, *args)
        if r is not None:
            c.check(name, error_problems(c, r, store, element, words, outdir if target else None, before,
                                           label, where))


# ---------------------------------------------------------------------------------------------
# Checking a good read against numpy and the reference


def parse_reduce(text):
    names, values = [], []
    for line in text.splitlines():
        name, value = line.split("\t")
        names.append(name)
        values.append(float(value))
    return names, values


def reduce_problems(text, x, axis):
    names, values = parse_reduce(text)
    want_names = VAR_NAMES if axis == 0 else OBS_NAMES
    if names != want_names:
        return [f"names {names[:4]}…, expected {want_names[:4]}…"]
    want = x.astype(np.float64).sum(axis=axis)
    bad = [(n, v, w) for n, v, w in zip(names, values, want) if not abs(v - w) <= 1e-6 * (1 + abs(w))]
    return [f"{n}: {v!r}, numpy {w!r}" for n, v, w in bad[:4]]


def output_problems(path, x):
    import anndata as ad

    a = ad.read_h5ad(path) if path.endswith(".h5ad") else ad.read_zarr(path)
    problems = []
    got = np.asarray(a.X)
    if got.shape != x.shape or not np.array_equal(got.astype(np.float64), x.astype(np.float64)):
        problems.append(f"X differs from numpy's: {got.ravel()[:8]} vs {x.ravel()[:8]}")
    if list(a.obs_names) != OBS_NAMES:
        problems.append(f"obs_names {list(a.obs_names)[:4]}…")
    if list(a.var_names) != VAR_NAMES:
        problems.append(f"var_names {list(a.var_names)[:4]}…")
    if "n" not in a.obs or not np.array_equal(np.asarray(a.obs["n"]), OBS_N):
        problems.append(f"obs['n'] {a.obs.get('n')}")
    return problems


def check_good(c, label, store, x, runs=("info", "reduce0", "reduce1", "h5ad", "zarr"), extra_info=None):
    outdir = c.path("out")
    os.makedirs(outdir, exist_ok=True)
    for what in runs:
        if what == "info":
            r = c.run_ok(f"{label}: info", "info", store)
            if r is not None:
                first = r[1].splitlines()[:1]
                want = f"AnnData object with n_obs × n_vars = {N_OBS} × {N_VAR}"
                problems = [] if first == [want] else [f"first line {first}, expected {want!r}"]
                if extra_info and extra_info not in r[1].splitlines():
                    problems.append(f"no line {extra_info!r} in {r[1].splitlines()[:3]}")
                c.check(f"{label}: info", problems)
        elif what.startswith("reduce"):
            axis = int(what[-1])
            r = c.run_ok(f"{label}: reduce --axis {axis}", "reduce", store, "--op", "sum", "--axis", str(axis))
            if r is not None:
                c.check(f"{label}: reduce --axis {axis}", lambda: reduce_problems(r[1], x, axis))
        else:
            target = os.path.join(outdir, f"{label}.{what}")
            remove(target)
            r = c.run_ok(f"{label}: convert -> .{what}", "convert", store, target)
            if r is not None:
                c.check(f"{label}: convert -> .{what}", lambda: output_problems(target, x))


def case_dir(c, label):
    d = c.path("cases", label)
    remove(d)
    os.makedirs(d)
    return d


# ---------------------------------------------------------------------------------------------
# Good stores


def reversed_shards(s, path, n_inner, location="end"):
    for k in [k for k in s.files if k.startswith(path + "/c/")]:
        _, chunks = unpack_shard(s.files[k], n_inner, location)
        s.files[k] = pack_shard(chunks, order=list(reversed(range(n_inner))), location=location)


def empty_inner(s, k, i, n_inner):
    entries, chunks = unpack_shard(s.files[k], n_inner)
    data = s.files[k]
    entries = list(entries)
    entries[i] = (EMPTY, EMPTY)
    s.files[k] = data[: len(data) - 16 * n_inner - 4] + pack_index(entries)


def part_good(c, args):
    x = x_values()

    def good(label, s, want, **kw):
        d = case_dir(c, label)
        s.write(os.path.join(d, "in.zarr"))
        check_good(c, label, os.path.join(d, "in.zarr"), want, **kw)

    good("good_base", make_base(), x, extra_info="    obs: 'n'")
    good("good_gzip_inner", make_base(inner="gzip"), x, runs=("reduce0", "h5ad"))
    good("good_index_at_start", make_base(location="start"), x, runs=("reduce0", "h5ad"))

    s = make_base()
    reversed_shards(s, "X", N_INNER)
    good("good_inner_chunks_reversed", s, x, runs=("reduce0", "h5ad"))

    # Missing shard and empty inner chunk read as the fill value (2.5, so not mistaken for zeros).
    s = make_base(fill=2.5)
    del s.files["X/c/1/0"]
    empty_inner(s, "X/c/0/0", 1, N_INNER)  # rows 0-1, columns 3-5
    want = x.copy()
    want[4:8, :] = 2.5
    want[0:2, 3:6] = 2.5
    good("good_missing_shard_and_empty_inner", s, want, runs=("reduce0", "reduce1", "h5ad", "zarr"))

    s = make_base()
    s.edit("X", set_key("frobs", {"must_understand": False, "anything": [1, 2]}))
    good("good_unknown_key_must_understand_false", s, x, runs=("info", "reduce0"))

    # Stale consolidated metadata: each node's own zarr.json wins.
    s = make_base()
    cm = s.consolidated()
    cm["X"].update({"data_type": "int32", "codecs": [BYTES],
                    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [10, 6]}}})
    s.edit_consolidated(lambda m: m["metadata"].__setitem__("X", cm["X"]))
    good("good_consolidated_stale_dtype_codecs", s, x, runs=("info", "reduce0", "h5ad"))
    s = make_base()
    s.edit_consolidated(lambda m: m["metadata"]["X"].__setitem__("shape", [4, 6]))
    good("good_consolidated_stale_shape", s, x, runs=("info", "reduce0", "h5ad"))
    s = make_base()
    s.edit_consolidated(lambda m: m["metadata"]["obs"]["attributes"].__setitem__("column-order", []))
    good("good_consolidated_stale_obs_attributes", s, x, runs=("info", "h5ad"), extra_info="    obs: 'n'")
    s = make_base()
    s.edit_consolidated(lambda m: m["metadata"].pop("obs/n"))
    good("good_consolidated_missing_node", s, x, runs=("info", "h5ad"), extra_info="    obs: 'n'")

    # Nested sharding is valid zarr v3 (zarr-python reads it): read right, or refuse it cleanly.
    s = make_base(x_codecs=[sharding((2, 6), [sharding(X_INNER, [BYTES, ZSTD])])])
    d = case_dir(c, "nested_sharding")
    store = os.path.join(d, "in.zarr")
    s.write(store)
    r = c.run("nested_sharding: reduce --axis 0", "reduce", store, "--op", "sum", "--axis", "0")
    if r is not None:
        if r[0] == 0:
            c.check("nested_sharding: read right", lambda: reduce_problems(r[1], x, 0))
            check_good(c, "nested_sharding", store, x, runs=("h5ad",))
        else:
            c.check("nested_sharding: refused cleanly", error_problems(c, r, store, ["X"], ["shard", "nested"]))
            run_failing(c, "nested_sharding", store, ["X"], ["shard", "nested"], ("info", "h5ad", "zarr"))

    # .zarr.zip: the same store packed (entries stored), and a hostile one.
    d = case_dir(c, "zip")
    z = os.path.join(d, "good.zarr.zip")
    make_base().write_zip(z)
    check_good(c, "zip_good", z, x, runs=("info", "reduce0", "reduce1", "h5ad", "zarr"))
    s = make_base()
    shard_edit(s, (2, 0), with_entry(0, (5000, 40)))
    z = os.path.join(d, "shard_index_outside.zarr.zip")
    s.write_zip(z)
    run_failing(c, "zip_shard_index_outside", z, ["X"], OUT_OF, X_DATA, "c/2/0")
    s = make_base()
    s.edit("X", set_key("frobs", {"must_understand": True}))
    z = os.path.join(d, "must_understand_true.zarr.zip")
    s.write_zip(z)
    run_failing(c, "zip_must_understand_true", z, ["X"], ["frobs"], ("info", "h5ad"))


def copy_tree(src, dst):
    """A writable copy (the shared data is read-only)."""
    remove(dst)
    for root, _, files in os.walk(src):
        rel = os.path.relpath(root, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for f in files:
            shutil.copyfile(os.path.join(root, f), os.path.join(dst, rel, f))


def part_zarrs(c, args):
    """zarrs' sharded 8x8 uint16 (shards 4x8, inner 4x4 + gzip) read by zarr_interop_tool."""
    src = os.path.join(args.data, "zarr-v3", "zarrs_sharded_array_write_read.zarr")
    if not os.path.isdir(src):
        c.fail("zarrs store", [f"{src} not found"])
        return
    if not args.interop_tool:
        c.fail("zarrs store", ["no --interop-tool given"])
        return
    arr = "group/array"
    want = np.arange(64, dtype=np.uint16).reshape(8, 8)

    # This file's shard decoder (and CRC-32C) against zarrs' own bytes.
    def self_check():
        problems = []
        for i in range(2):
            data = open(os.path.join(src, arr, "c", str(i), "0"), "rb").read()
            _, chunks = unpack_shard(data, 2)
            for j, ch in enumerate(chunks):
                got = np.frombuffer(gzip.decompress(ch), "<u2").reshape(4, 4)
                if not np.array_equal(got, want[4 * i:4 * i + 4, 4 * j:4 * j + 4]):
                    problems.append(f"shard {i} inner {j} decodes to {got.ravel()[:4]}")
        return problems

    c.check("zarrs store: this script's shard decoder and CRC-32C read zarrs' shards", self_check)

    def variant(label, mutate, expected):
        d = case_dir(c, label)
        store = os.path.join(d, "store.zarr")
        copy_tree(src, store)
        mutate(os.path.join(store, arr))
        r = c.run_ok(f"{label}: dump", "dump", store, tool=args.interop_tool)
        if r is None:
            return

        def problems():
            a = json.loads(r[1])["arrays"].get("/" + arr)
            if a is None:
                return [f"no /{arr} in the dump"]
            got = np.array([int(v) for v in a["values"]])
            if a["shape"] != [8, 8] or not np.array_equal(got, expected.ravel()):
                return [f"values {got[:16]}…, expected {expected.ravel()[:16]}…"]
            return []

        c.check(f"{label}: values", problems)

    def reverse(folder):
        for i in range(2):
            p = os.path.join(folder, "c", str(i), "0")
            _, chunks = unpack_shard(open(p, "rb").read(), 2)
            open(p, "wb").write(pack_shard(chunks, order=[1, 0]))
            assert unpack_shard(open(p, "rb").read(), 2)[0][1][0] == 0  # inner chunk 1 now first

    def missing_shard(folder):
        os.remove(os.path.join(folder, "c", "1", "0"))

    def empty(folder):
        p = os.path.join(folder, "c", "0", "0")
        data = open(p, "rb").read()
        entries, _ = unpack_shard(data, 2)
        open(p, "wb").write(data[: len(data) - 36] + pack_index([entries[0], (EMPTY, EMPTY)]))

    variant("zarrs_original", lambda f: None, want)
    variant("zarrs_inner_chunks_reversed", reverse, want)
    w = want.copy()
    w[4:, :] = 0
    variant("zarrs_missing_shard", missing_shard, w)
    w = want.copy()
    w[0:4, 4:8] = 0
    variant("zarrs_empty_inner_chunk", empty, w)


def runs_at(c, number, runs):
    """Which of a case's runs this rank count makes: all of them without a launcher; under
    `mpirun -np 2` (and more) info and one convert when info reads the damage, else one convert
    and reduce; under `mpirun -np 1` one run, rotating. (Failing launches cost ~0.5 s under
    mpirun; this keeps the suite within its few minutes.)"""
    if c.ranks == 0:
        return runs
    converts = [r for r in runs if r in ("h5ad", "zarr")]
    convert = converts[number % len(converts)] if converts else None
    if c.ranks == 1:
        return (runs[number % len(runs)],)
    if "info" in runs:
        return tuple(r for r in ("info", convert) if r)
    return tuple(r for r in runs if r == convert or r.startswith("reduce"))


def part_hostile(c, args):
    base = make_base()
    for number, case in enumerate(cases()):
        if args.only and args.only not in case.label:
            continue
        s = base.copy()
        case.build(s)
        d = case_dir(c, case.label)
        store = os.path.join(d, "in.zarr")
        s.write(store)
        if case.note:
            print(f"#    {case.label}: {case.note}")
        run_failing(c, case.label, store, case.element, case.words, runs_at(c, number, case.runs), case.where)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tessera")
    parser.add_argument("--ranks", type=int, default=0)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       "..", "..", "..", "..", "shared", "data"))
    parser.add_argument("--interop-tool")
    parser.add_argument("--only", help="run only the cases whose label contains this")
    args = parser.parse_args()
    if os.path.exists(args.workdir):
        shutil.rmtree(args.workdir)
    os.makedirs(args.workdir)
    c = Checker(os.path.abspath(args.tessera), args.ranks, args.workdir)
    if not args.only:
        part_zarrs(c, args)
        part_good(c, args)
    part_hostile(c, args)
    took = time.monotonic() - c.start
    print(f"{c.passed} checks passed, {len(c.failures)} failed, {took:.0f} s")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
