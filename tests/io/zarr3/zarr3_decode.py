#!/usr/bin/python3
"""An independent Zarr v3 reader, written from the specification (zarr-specs `docs/v3/core`,
the codec pages and zarr-extensions' data types; FORMATS.md section 3), with numpy and numcodecs
only: it shares no code with Tessera, so that Tessera's v3 output is checked against something
that did not come from Tessera.

    zarr3_decode.py STORE [PATH]   prints the tree (every node, attributes, dtype, shape, values)

    store = open_store(path)                  # a folder, or a .zip archive (the last entry wins)
    tree = decode_tree(store.get, store.keys())
    tree == {"": (attributes, None), "obs": (…, None), "obs/_index": (attributes, ndarray), …}

A store is a getter `key -> bytes or None` (and, for finding nodes, the list of its keys; without
it the root's consolidated metadata names them). Supported: the regular chunk grid, `default` and
`v2` chunk key encodings, bool, int8…uint64, float16/32/64, complex64/128, `string` and `bytes`
(vlen-utf8, vlen-bytes), `fixed_length_utf32`, `struct` and the legacy `structured`; fill values
(numbers, "NaN", "Infinity", "-Infinity", hex bit patterns, [re, im], per-field objects); codecs
transpose, bytes, vlen-utf8, vlen-bytes, sharding_indexed (index at the start or end, its CRC
checked, empty entries read as fill), zstd, blosc, gzip, crc32c (checked), numcodecs.<id>;
missing chunks read as the fill value.

Reading is lenient where the values are still unambiguous, but every departure from the
specification is recorded in `Reader.violations` (path, what the spec says) so that a test can
require a writer's output to have none. Anything that cannot be decoded raises DecodeError.
"""
import base64
import itertools
import json
import math
import os
import struct
import sys
import zipfile

import numcodecs
import numpy as np


class DecodeError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli), as the crc32c codec and the shard index use it: reflected polynomial
# 0x82F63B78, initial value and final xor 0xFFFFFFFF (RFC 3720 appendix B.4).


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the check value of CRC-32C
assert crc32c(b"") == 0


# ---------------------------------------------------------------------------------------------
# Stores


class DirStore:
    def __init__(self, root):
        self.root = root

    def get(self, key):
        p = os.path.join(self.root, *key.split("/"))
        if not os.path.isfile(p):
            return None
        with open(p, "rb") as fh:
            return fh.read()

    def keys(self):
        out = []
        for base, _, files in os.walk(self.root, followlinks=True):
            rel = os.path.relpath(base, self.root)
            for f in files:
                out.append(f if rel == "." else f"{rel.replace(os.sep, '/')}/{f}")
        return sorted(out)


class ZipStore:
    """Keys at the archive root; a name written twice reads as its last entry (zipfile's own
    name table keeps the last)."""

    def __init__(self, path):
        self.zip = zipfile.ZipFile(path)
        self.names = {i.filename for i in self.zip.infolist() if not i.filename.endswith("/")}

    def get(self, key):
        if key not in self.names:
            return None
        return self.zip.read(key)

    def keys(self):
        return sorted(self.names)


def open_store(path):
    return ZipStore(path) if zipfile.is_zipfile(path) and not os.path.isdir(path) else DirStore(path)


# ---------------------------------------------------------------------------------------------
# Data types

CORE = {
    "bool": "?", "int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8",
    "uint8": "u1", "uint16": "u2", "uint32": "u4", "uint64": "u8",
    "float16": "f2", "float32": "f4", "float64": "f8", "complex64": "c8", "complex128": "c16",
}
VARIABLE = {"string": "vlen-utf8", "bytes": "vlen-bytes"}
HEX_DIGITS = {"f2": 4, "f4": 8, "f8": 16}


def named(obj, what, where, violations):
    """(name, configuration) of a `{"name", "configuration"}` object or a bare name string."""
    if isinstance(obj, str):
        return obj, {}
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise DecodeError(f"{where}: {what} {obj!r} is neither a name nor a {{name, configuration}} object")
    extra = set(obj) - {"name", "configuration", "must_understand"}
    if extra:
        violations.append((where, f"{what} {obj['name']!r} has unknown keys {sorted(extra)}"))
    config = obj.get("configuration", {})
    if not isinstance(config, dict):
        raise DecodeError(f"{where}: {what} {obj['name']!r}: configuration is not an object")
    return obj["name"], config


class DataType:
    """What a v3 data type means in numpy: `dtype` (native byte order), whether it is of variable
    length (`variable`: the serializer it needs), whether the bytes codec needs an endian."""

    def __init__(self, spec, where, violations):
        self.spec = spec
        name, config = named(spec, "data_type", where, violations)
        self.name = name
        self.variable = None
        if name in CORE:
            if config:
                violations.append((where, f"data type {name} takes no configuration"))
            self.dtype = np.dtype(CORE[name])
        elif name in VARIABLE:
            self.variable = VARIABLE[name]
            self.dtype = np.dtype(object)
        elif name == "fixed_length_utf32":
            n = config.get("length_bytes")
            if not isinstance(n, int) or isinstance(n, bool) or n < 0 or n % 4:
                raise DecodeError(f"{where}: fixed_length_utf32 length_bytes {n!r} (a multiple of 4 required)")
            self.dtype = np.dtype(f"U{n // 4}")
        elif name in ("struct", "structured"):
            fields = config.get("fields")
            if not isinstance(fields, list) or not fields:
                raise DecodeError(f"{where}: {name} needs a non-empty list of fields")
            self.fields = []
            if name == "struct" and any(isinstance(f, list) for f in fields):
                violations.append((where, "data type 'struct': each field must be an object "
                                          "{\"name\", \"data_type\"}; [name, type] pairs belong to "
                                          "the legacy 'structured' data type (zarr-extensions)"))
            for f in fields:
                if isinstance(f, dict) and name == "struct":
                    fname, ftype = f.get("name"), f.get("data_type")
                elif isinstance(f, list) and len(f) == 2:
                    fname, ftype = f
                else:
                    raise DecodeError(f"{where}: {name} field {f!r} is not understood")
                if not isinstance(fname, str) or not fname:
                    raise DecodeError(f"{where}: {name} field name {fname!r}")
                sub = DataType(ftype, where, violations)
                if sub.variable:
                    raise DecodeError(f"{where}: {name} field {fname!r} of variable length")
                self.fields.append((fname, sub))
            names = [n for n, _ in self.fields]
            if len(set(names)) != len(names):
                raise DecodeError(f"{where}: {name} has duplicated field names {names}")
            self.dtype = np.dtype([(n, t.dtype) for n, t in self.fields])
        else:
            raise DecodeError(f"{where}: data type {name!r} is not supported")

    def multi_byte(self):
        if self.dtype.fields:
            return any(t.multi_byte() for _, t in self.fields)
        return self.dtype.itemsize > 1 and self.variable is None

    def fill(self, value, where, violations):
        """The fill value as a numpy scalar (or Python str/bytes for variable-length types)."""
        name, dt = self.name, self.dtype
        if name == "bool":
            if not isinstance(value, bool):
                raise DecodeError(f"{where}: fill_value {value!r} for bool (true or false required)")
            return np.bool_(value)
        if dt.kind in "iu":
            if isinstance(value, bool) or not isinstance(value, int):
                raise DecodeError(f"{where}: fill_value {value!r} for {name} (an integer required)")
            info = np.iinfo(dt)
            if not info.min <= value <= info.max:
                raise DecodeError(f"{where}: fill_value {value} out of range for {name}")
            return dt.type(value)
        if dt.kind == "f":
            return dt.type(self._float(value, dt, where))
        if dt.kind == "c":
            if not isinstance(value, list) or len(value) != 2:
                raise DecodeError(f"{where}: fill_value {value!r} for {name} ([re, im] required)")
            part = np.dtype(f"f{dt.itemsize // 2}")
            return dt.type(complex(self._float(value[0], part, where), self._float(value[1], part, where)))
        if name == "string":
            if not isinstance(value, str):
                raise DecodeError(f"{where}: fill_value {value!r} for string (a string required)")
            return value
        if name == "bytes":
            if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
                return bytes(value)
            if isinstance(value, str):  # base64, as zarr-python writes
                return base64.b64decode(value)
            raise DecodeError(f"{where}: fill_value {value!r} for bytes")
        if name == "fixed_length_utf32":
            if not isinstance(value, str) or len(value) > dt.itemsize // 4:
                raise DecodeError(f"{where}: fill_value {value!r} for {dt} (a string that fits required)")
            return np.array(value, dtype=dt)[()]
        if dt.fields:
            if isinstance(value, dict):
                if set(value) != {n for n, _ in self.fields}:
                    raise DecodeError(f"{where}: fill_value fields {sorted(value)}, data type fields "
                                      f"{[n for n, _ in self.fields]}")
                out = np.zeros((), dtype=dt)
                for n, sub in self.fields:
                    out[n] = sub.fill(value[n], where, violations)
                return out[()]
            if isinstance(value, str):
                if name == "struct":
                    violations.append((where, "struct fill_value must be an object {field: value}; base64 "
                                              "is the legacy 'structured' form readers accept, not to be written"))
                raw = base64.b64decode(value)
                if len(raw) != dt.itemsize:
                    raise DecodeError(f"{where}: base64 fill_value of {len(raw)} bytes for {dt.itemsize}-byte records")
                return np.frombuffer(raw, dtype=dt.newbyteorder("<"))[0].astype(dt)
            violations.append((where, f"{name} fill_value {value!r}: the spec requires an object mapping every "
                                      f"field name to its fill value (zarr-extensions data-types/{name})"))
            if value == 0:
                return np.zeros((), dtype=dt)[()]
            raise DecodeError(f"{where}: fill_value {value!r} for {name}")
        raise DecodeError(f"{where}: fill_value for {name} not understood")

    @staticmethod
    def _float(value, dt, where):
        if isinstance(value, bool):
            raise DecodeError(f"{where}: fill_value {value!r} for a float")
        if isinstance(value, (int, float)):
            return float(value)
        if value == "NaN":
            return math.nan
        if value == "Infinity":
            return math.inf
        if value == "-Infinity":
            return -math.inf
        if isinstance(value, str) and value.startswith("0x"):
            digits = HEX_DIGITS.get(dt.str[1:])
            if digits is None or len(value) != 2 + digits:
                raise DecodeError(f"{where}: hex fill_value {value!r} for {dt} ({digits} hex digits required)")
            bits = np.array(int(value, 16), dtype=f"u{dt.itemsize}")
            return float(bits.view(dt))
        raise DecodeError(f"{where}: fill_value {value!r} for a float")


# ---------------------------------------------------------------------------------------------
# Codecs. Each has kind "aa" (array -> array), "ab" (array -> bytes) or "bb" (bytes -> bytes).


class Transpose:
    kind = "aa"

    def __init__(self, config, ndim, where, violations):
        order = config.get("order")
        if order == "C":
            order = list(range(ndim))
        elif order == "F":
            order = list(range(ndim))[::-1]
        if not isinstance(order, list) or sorted(order) != list(range(ndim)):
            raise DecodeError(f"{where}: transpose order {config.get('order')!r} is not a permutation of {ndim} axes")
        self.order = order

    def encoded_shape(self, shape):
        return [shape[i] for i in self.order]

    def decode(self, arr):
        return np.transpose(arr, np.argsort(self.order))


class BytesCodec:
    kind = "ab"

    def __init__(self, config, dtype, where, violations):
        self.endian = config.get("endian")
        if self.endian not in (None, "little", "big"):
            raise DecodeError(f"{where}: bytes endian {self.endian!r}")
        if dtype.variable:
            raise DecodeError(f"{where}: the bytes codec cannot serialize data type {dtype.name!r}")
        if self.endian is None and dtype.multi_byte():
            violations.append((where, f"bytes codec without endian for the multi-byte type {dtype.name}"))
        self.dtype = dtype.dtype

    def decode(self, raw, shape):
        n = int(np.prod(shape, dtype=np.int64))
        if len(raw) != n * self.dtype.itemsize:
            raise DecodeError(f"bytes: {len(raw)} bytes for {n} elements of {self.dtype.itemsize} bytes")
        stored = self.dtype.newbyteorder(">" if self.endian == "big" else "<")
        arr = np.frombuffer(raw, dtype=stored, count=n).reshape(shape)
        if self.dtype == np.dtype("?") and n and np.frombuffer(raw, dtype=np.uint8).max() > 1:
            raise DecodeError("bytes: a bool element is neither 0 nor 1")
        return arr.astype(self.dtype)


class VlenCodec:
    kind = "ab"

    def __init__(self, name, config, dtype, where, violations):
        self.text = name == "vlen-utf8"
        if dtype.variable != name:
            raise DecodeError(f"{where}: codec {name} cannot serialize data type {dtype.name!r}")

    def decode(self, raw, shape):
        n = int(np.prod(shape, dtype=np.int64))
        if len(raw) < 4:
            raise DecodeError("vlen: chunk shorter than its element count")
        count, = struct.unpack_from("<I", raw, 0)
        if count != n:
            raise DecodeError(f"vlen: the chunk holds {count} elements, its shape {list(shape)} has {n} "
                              f"(the count includes edge padding)")
        out = np.empty(n, dtype=object)
        pos = 4
        for i in range(n):
            if pos + 4 > len(raw):
                raise DecodeError(f"vlen: truncated at element {i}")
            length, = struct.unpack_from("<I", raw, pos)
            pos += 4
            if pos + length > len(raw):
                raise DecodeError(f"vlen: element {i} of {length} bytes runs past the chunk")
            item = bytes(raw[pos:pos + length])
            out[i] = item.decode("utf-8") if self.text else item
            pos += length
        if pos != len(raw):
            raise DecodeError(f"vlen: {len(raw) - pos} bytes after the last element")
        return out.reshape(shape)


class Crc32c:
    kind = "bb"
    size = 4

    def decode(self, raw):
        if len(raw) < 4:
            raise DecodeError("crc32c: fewer than 4 bytes")
        body, stored = raw[:-4], struct.unpack("<I", raw[-4:])[0]
        if crc32c(body) != stored:
            raise DecodeError(f"crc32c: stored {stored:#010x}, computed {crc32c(body):#010x}")
        return body


class Numcodec:
    """A bytes -> bytes codec numcodecs implements (zstd, blosc, gzip, zlib, numcodecs.<id>)."""
    kind = "bb"

    def __init__(self, name, impl):
        self.name = name
        self.impl = impl

    def decode(self, raw):
        try:
            return bytes(self.impl.decode(raw))
        except Exception as e:  # noqa: BLE001: the codec library's error, named
            raise DecodeError(f"{self.name}: {type(e).__name__}: {e}") from e


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def zstd_decode(raw, size_hint=None):
    """One zstd frame, with or without the content size in its header (RFC 8878 section 3.1.1).
    numcodecs' decoder needs that size; for a frame without it, the size is found from the
    blocks (raw and RLE blocks say it) or taken from `size_hint` (what the next codec expects),
    written into a copy of the header, and the copy decoded."""
    raw = bytes(raw)
    try:
        return bytes(numcodecs.Zstd().decode(raw))
    except Exception as e:  # noqa: BLE001: retried below when the header has no content size
        first = e
    if len(raw) < 6 or raw[:4] != ZSTD_MAGIC:
        raise DecodeError(f"zstd: not a zstd frame ({first})")
    fhd = raw[4]
    fcs_flag, single, dict_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    if fcs_flag != 0 or single:
        raise DecodeError(f"zstd: {first}")
    pos = 5 + 1 + (0, 1, 2, 4)[dict_flag]  # window descriptor, dictionary id
    header_end = pos
    total, blocks_known = 0, True
    while True:
        if pos + 3 > len(raw):
            raise DecodeError("zstd: truncated block header")
        bh = int.from_bytes(raw[pos:pos + 3], "little")
        last, btype, bsize = bh & 1, (bh >> 1) & 3, bh >> 3
        pos += 3
        if btype == 0:
            total += bsize
            pos += bsize
        elif btype == 1:
            total += bsize
            pos += 1
        elif btype == 2:
            blocks_known = False
            pos += bsize
        else:
            raise DecodeError("zstd: reserved block type")
        if last:
            break
    size = total if blocks_known else size_hint
    if size is None:
        raise DecodeError("zstd: a frame without its content size holding compressed blocks, and the "
                          "decoded size is not known from the data type")
    patched = raw[:4] + bytes([fhd | 0xC0]) + raw[5:header_end] + struct.pack("<Q", size) + raw[header_end:]
    try:
        return bytes(numcodecs.Zstd().decode(patched))
    except Exception as e:  # noqa: BLE001
        raise DecodeError(f"zstd: {e}") from e


def make_bb(name, config, where, violations):
    if name == "crc32c":
        return Crc32c()
    if name == "zstd":
        level = config.get("level", 0)
        if not isinstance(level, int):
            violations.append((where, f"zstd level {level!r} is not an integer"))
        if "checksum" in config and not isinstance(config["checksum"], bool):
            violations.append((where, f"zstd checksum {config['checksum']!r} is not a boolean"))
        return Zstd()
    if name == "blosc":
        shuffle = config.get("shuffle")
        if shuffle is not None and shuffle not in ("noshuffle", "shuffle", "bitshuffle"):
            violations.append((where, f"blosc shuffle {shuffle!r} (v3: noshuffle|shuffle|bitshuffle)"))
        if shuffle in ("shuffle", "bitshuffle") and not isinstance(config.get("typesize"), int):
            violations.append((where, "blosc with shuffle needs an integer typesize"))
        return Numcodec("blosc", numcodecs.Blosc())
    if name == "gzip":
        return Numcodec("gzip", numcodecs.GZip())
    if name.startswith("numcodecs."):
        codec_id = name[len("numcodecs."):]
        try:
            impl = numcodecs.get_codec(dict(config, id=codec_id))
        except Exception as e:  # noqa: BLE001
            raise DecodeError(f"{where}: codec {name!r} is not available: {e}") from e
        return Numcodec(name, impl)
    raise DecodeError(f"{where}: codec {name!r} is not supported")


class Zstd:
    kind = "bb"

    def decode(self, raw, size_hint=None):
        return zstd_decode(raw, size_hint)


class Sharding:
    kind = "ab"
    EMPTY = 2**64 - 1

    def __init__(self, config, dtype, fill, outer_ndim, where, violations):
        self.inner_shape = config.get("chunk_shape")
        if (not isinstance(self.inner_shape, list) or len(self.inner_shape) != outer_ndim
                or not all(isinstance(s, int) and s > 0 for s in self.inner_shape)):
            raise DecodeError(f"{where}: sharding_indexed chunk_shape {self.inner_shape!r}")
        if "codecs" not in config:
            raise DecodeError(f"{where}: sharding_indexed without codecs")
        self.location = config.get("index_location", "end")
        if self.location not in ("start", "end"):
            raise DecodeError(f"{where}: sharding_indexed index_location {self.location!r}")
        self.inner = Pipeline(config["codecs"], dtype, fill, outer_ndim, where + " (inner)", violations)
        index_codecs = config.get("index_codecs", [{"name": "bytes", "configuration": {"endian": "little"}},
                                                   {"name": "crc32c"}])
        index_type = DataType("uint64", where, violations)
        self.index = Pipeline(index_codecs, index_type, 0, outer_ndim + 1, where + " (index)", violations)
        if any(not isinstance(c, (BytesCodec, Crc32c)) for c in self.index.codecs):
            raise DecodeError(f"{where}: index_codecs must be of fixed size (bytes, crc32c)")
        self.dtype = dtype
        self.fill = fill

    def decode(self, raw, shape):
        for s, i in zip(shape, self.inner_shape):
            if s % i:
                raise DecodeError(f"sharding_indexed: inner chunks {self.inner_shape} do not divide "
                                  f"the shard {list(shape)}")
        grid = [s // i for s, i in zip(shape, self.inner_shape)]
        n = int(np.prod(grid, dtype=np.int64))
        size = 16 * n + sum(c.size for c in self.index.codecs if isinstance(c, Crc32c))
        if len(raw) < size:
            raise DecodeError(f"sharding_indexed: shard of {len(raw)} bytes, its index alone takes {size}")
        blob = raw[:size] if self.location == "start" else raw[len(raw) - size:]
        index = self.index.decode(blob, grid + [2])
        out = np.full(shape, self.fill, dtype=self.dtype.dtype)
        used = []
        for pos in itertools.product(*[range(g) for g in grid]):
            offset, nbytes = (int(v) for v in index[pos])
            if offset == self.EMPTY and nbytes == self.EMPTY:
                continue
            if offset == self.EMPTY or nbytes == self.EMPTY or offset + nbytes > len(raw):
                raise DecodeError(f"sharding_indexed: inner chunk {list(pos)} at ({offset}, {nbytes}) "
                                  f"outside the {len(raw)}-byte shard")
            used.append((offset, offset + nbytes))
            box = tuple(slice(p * i, (p + 1) * i) for p, i in zip(pos, self.inner_shape))
            out[box] = self.inner.decode(raw[offset:offset + nbytes], list(self.inner_shape))
        index_span = (0, size) if self.location == "start" else (len(raw) - size, len(raw))
        spans = sorted(used + [index_span])
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            if b0 < a1:
                raise DecodeError(f"sharding_indexed: byte ranges [{a0}, {a1}) and [{b0}, {b1}) overlap")
        return out


class Pipeline:
    """A codec chain: array -> array codecs, one array -> bytes codec, bytes -> bytes codecs."""

    def __init__(self, specs, dtype, fill, ndim, where, violations):
        if not isinstance(specs, list) or not specs:
            raise DecodeError(f"{where}: codecs must be a non-empty list")
        self.codecs = []
        for spec in specs:
            name, config = named(spec, "codec", where, violations)
            if name == "transpose":
                c = Transpose(config, ndim, where, violations)
            elif name == "bytes":
                c = BytesCodec(config, dtype, where, violations)
            elif name in ("vlen-utf8", "vlen-bytes"):
                c = VlenCodec(name, config, dtype, where, violations)
            elif name == "sharding_indexed":
                c = Sharding(config, dtype, fill, ndim, where, violations)
            else:
                c = make_bb(name, config, where, violations)
            self.codecs.append(c)
        kinds = "".join({"aa": "a", "ab": "b", "bb": "c"}[c.kind] for c in self.codecs)
        if kinds.count("b") != 1 or kinds != "".join(sorted(kinds)):
            names = [named(s, "codec", where, [])[0] for s in specs]
            raise DecodeError(f"{where}: codecs {names}: array->array codecs, then exactly one "
                              f"array->bytes codec, then bytes->bytes codecs required")
        self.aa = [c for c in self.codecs if c.kind == "aa"]
        self.ab = next(c for c in self.codecs if c.kind == "ab")
        self.bb = [c for c in self.codecs if c.kind == "bb"]

    def decode(self, raw, shape):
        shapes = [list(shape)]
        for c in self.aa:
            shapes.append(c.encoded_shape(shapes[-1]))
        # The size each bytes -> bytes codec must give back, where the data type fixes it (for
        # zstd frames that do not say it).
        size = None
        if isinstance(self.ab, BytesCodec):
            size = int(np.prod(shapes[-1], dtype=np.int64)) * self.ab.dtype.itemsize
        hints = []
        for c in self.bb:
            hints.append(size)
            size = size + 4 if size is not None and isinstance(c, Crc32c) else None
        for c, hint in zip(reversed(self.bb), reversed(hints)):
            raw = c.decode(raw, hint) if isinstance(c, Zstd) else c.decode(raw)
        arr = self.ab.decode(raw, shapes[-1])
        for c in reversed(self.aa):
            arr = c.decode(arr)
        return arr


# ---------------------------------------------------------------------------------------------
# Nodes

ARRAY_KEYS = {"zarr_format", "node_type", "shape", "data_type", "chunk_grid", "chunk_key_encoding", "fill_value",
              "codecs"}
ARRAY_OPTIONAL = {"attributes", "storage_transformers", "dimension_names"}
GROUP_KEYS = {"zarr_format", "node_type"}
GROUP_OPTIONAL = {"attributes"}


def join(*parts):
    return "/".join(p for p in parts if p)


class Reader:
    def __init__(self, get):
        self.get = get
        self.violations = []

    def violation(self, where, what):
        self.violations.append((where, what))

    def metadata(self, path):
        raw = self.get(join(path, "zarr.json"))
        if raw is None:
            return None
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise DecodeError(f"{join(path, 'zarr.json')}: not JSON: {e}") from e
        if not isinstance(meta, dict):
            raise DecodeError(f"{join(path, 'zarr.json')}: not a JSON object")
        return meta

    def check_keys(self, where, meta, required, optional):
        missing = required - set(meta)
        if missing:
            raise DecodeError(f"{where}: missing {sorted(missing)}")
        if meta["zarr_format"] != 3:
            raise DecodeError(f"{where}: zarr_format {meta['zarr_format']!r}")
        for k in set(meta) - required - optional:
            v = meta[k]
            if k == "consolidated_metadata" and v is None:
                self.violation(where, "\"consolidated_metadata\": null (what zarr-python 3.0-3.1.3 wrote): an "
                                      "extension key whose value is not an object with must_understand false")
            elif not (isinstance(v, dict) and v.get("must_understand") is False):
                self.violation(where, f"unknown top-level key {k!r} without \"must_understand\": false "
                                      f"(the spec requires readers to fail)")
        attrs = meta.get("attributes", {})
        if not isinstance(attrs, dict):
            raise DecodeError(f"{where}: attributes is not an object")
        return attrs

    def group(self, path, meta):
        where = join(path, "zarr.json") or "zarr.json"
        return self.check_keys(where, meta, GROUP_KEYS, GROUP_OPTIONAL)

    def array(self, path, meta):
        """(attributes, ndarray)"""
        where = join(path, "zarr.json")
        attrs = self.check_keys(where, meta, ARRAY_KEYS, ARRAY_OPTIONAL)
        shape = meta["shape"]
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in shape):
            raise DecodeError(f"{where}: shape {shape!r}")
        ndim = len(shape)
        grid_name, grid = named(meta["chunk_grid"], "chunk_grid", where, self.violations)
        if grid_name != "regular":
            raise DecodeError(f"{where}: chunk grid {grid_name!r} is not supported")
        chunks = grid.get("chunk_shape")
        if not isinstance(chunks, list) or len(chunks) != ndim:
            raise DecodeError(f"{where}: chunk_shape {chunks!r} for shape {shape}")
        if not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in chunks):
            self.violation(where, f"chunk_shape {chunks}: the regular grid needs positive integers")
            chunks = [c if isinstance(c, int) and c > 0 else 1 for c in chunks]
        key_name, key_config = named(meta["chunk_key_encoding"], "chunk_key_encoding", where, self.violations)
        if key_name not in ("default", "v2"):
            raise DecodeError(f"{where}: chunk key encoding {key_name!r}")
        sep = key_config.get("separator", "/" if key_name == "default" else ".")
        if sep not in ("/", "."):
            raise DecodeError(f"{where}: chunk key separator {sep!r}")
        if meta.get("storage_transformers", []) != []:
            raise DecodeError(f"{where}: storage transformers {meta['storage_transformers']!r} are not supported")
        names = meta.get("dimension_names")
        if names is not None and (not isinstance(names, list) or len(names) != ndim
                                  or not all(n is None or isinstance(n, str) for n in names)):
            self.violation(where, f"dimension_names {names!r}")
        dtype = DataType(meta["data_type"], where, self.violations)
        fill = dtype.fill(meta["fill_value"], where, self.violations)
        pipeline = Pipeline(meta["codecs"], dtype, fill, ndim, where, self.violations)
        if dtype.variable and not isinstance(pipeline.ab, (VlenCodec, Sharding)):
            raise DecodeError(f"{where}: data type {dtype.name} needs {dtype.variable}")

        out = np.full(shape, fill, dtype=dtype.dtype)
        for pos in itertools.product(*[range(-(-s // c)) for s, c in zip(shape, chunks)]):
            if key_name == "default":
                key = sep.join(["c"] + [str(p) for p in pos])
            else:
                key = sep.join(str(p) for p in pos) if pos else "0"
            raw = self.get(join(path, key))
            if raw is None:
                continue
            try:
                chunk = pipeline.decode(raw, list(chunks))
            except DecodeError as e:
                raise DecodeError(f"{join(path, key)}: {e}") from e
            if list(chunk.shape) != list(chunks):
                raise DecodeError(f"{join(path, key)}: decoded shape {list(chunk.shape)}, chunk shape {chunks}")
            box = tuple(slice(p * c, min((p + 1) * c, s)) for p, c, s in zip(pos, chunks, shape))
            out[box] = chunk[tuple(slice(0, b.stop - b.start) for b in box)]
        return attrs, out

    def node(self, path, meta):
        if meta.get("node_type") == "group":
            return self.group(path, meta), None
        if meta.get("node_type") == "array":
            return self.array(path, meta)
        raise DecodeError(f"{join(path, 'zarr.json')}: node_type {meta.get('node_type')!r}")


def node_paths(keys):
    """Every node of a store listing: the folders holding a zarr.json ("" for the root)."""
    out = set()
    for k in keys:
        if k == "zarr.json":
            out.add("")
        elif k.endswith("/zarr.json"):
            out.add(k[: -len("/zarr.json")])
    return sorted(out)


def consolidated(get):
    """The root's inline consolidated metadata {path: metadata}, or None."""
    raw = get("zarr.json")
    if raw is None:
        return None
    cm = json.loads(raw).get("consolidated_metadata")
    if not isinstance(cm, dict) or cm.get("kind") != "inline":
        return None
    return cm.get("metadata")


def decode_tree(get, keys=None, reader=None):
    """{path: (attributes, ndarray or None for a group)} of every node. Without `keys`, the
    nodes are the ones the root's consolidated metadata names, each read from its own zarr.json.
    A store without a root zarr.json (allowed for old stores) gets an implicit root group."""
    reader = reader or Reader(get)
    if keys is not None:
        paths = node_paths(keys)
    else:
        listed = consolidated(get)
        if listed is None:
            raise DecodeError("no key listing and no inline consolidated metadata at the root")
        paths = sorted(set(listed))
    paths = [""] + [p for p in paths if p]
    tree = {}
    for path in paths:
        meta = reader.metadata(path)
        if meta is None:
            if path == "":
                tree[""] = ({}, None)
                continue
            raise DecodeError(f"{join(path, 'zarr.json')}: listed but missing")
        tree[path] = reader.node(path, meta)
    for path in paths[1:]:
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent not in tree:
            reader.violation(join(parent, "zarr.json"), f"{path} has no parent group zarr.json "
                                                        "(v3 has no implicit groups)")
        elif tree[parent][1] is not None:
            raise DecodeError(f"{path}: its parent {parent or '/'} is an array")
    return tree


def decode_array(get, path=""):
    """One array's (attributes, ndarray)."""
    reader = Reader(get)
    meta = reader.metadata(path)
    if meta is None:
        raise DecodeError(f"{join(path, 'zarr.json')}: missing")
    return reader.node(path, meta)


def main():
    store = open_store(sys.argv[1])
    reader = Reader(store.get)
    tree = decode_tree(store.get, store.keys(), reader)
    np.set_printoptions(threshold=20, edgeitems=3)
    for path, (attrs, arr) in tree.items():
        if len(sys.argv) > 2 and not path.startswith(sys.argv[2]):
            continue
        if arr is None:
            print(f"{path or '/'}/  {json.dumps(attrs, ensure_ascii=False)}")
        else:
            print(f"{path}  {arr.dtype} {list(arr.shape)}  {json.dumps(attrs, ensure_ascii=False)}")
            print(f"    {arr!r}"[:300])
    for where, what in reader.violations:
        print(f"VIOLATION {where}: {what}")


if __name__ == "__main__":
    main()
