// Zarr v2 and v3 groups on a byte store (key_value_store.hpp, zip_store.hpp): a Zarr group
// (tessera::io::Group) is a store plus a key prefix; this is the formats floor of io/.
//
// Parallel writers (design card §4): one rank creates the groups and arrays (.zgroup, .zarray,
// .zattrs); then every rank opens the same directory and writes its own blocks with write() or
// write_blocks(). A block covering whole chunks (ending at the array's edge counts) is encoded
// and written without reading anything, so ranks whose blocks are chunk-aligned never touch the
// same chunk file. A block covering part of a chunk reads, updates and rewrites that chunk: two
// ranks doing so to the same chunk at once would race, so unaligned blocks must not share chunks.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "tessera/io/key_value_store.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io {

// Zarr specifics of the Group these return: children are named by one path segment (no '/',
// '\\', NUL, ".", ".." or .z* metadata names: ValueError when writing, FormatError when reading);
// create_group opens a group that exists; create_array and write_strings replace an array of the
// same name (its chunks and attributes go); a group and an array never share a name. Numeric
// arrays are written little-endian with fill_value 0, strings as "|O" with the vlen-utf8 filter in
// one chunk (up to 2^20 strings per chunk). Reads accept what zarr-python 2 writes: either byte
// order, C or F order, '.' or '/' separators, "|O" (vlen-utf8/-bytes), "<U{n}" and "|S{n}" strings.

// Opens the Zarr group at `prefix` of `store` ("" is the root). FormatError naming the file when
// there is no .zgroup (a Zarr v3 store, with zarr.json, is named as such) or its zarr_format is
// not 2. `label` starts every path() and error message ("pbmc.zarr" gives "pbmc.zarr:/obs"). A
// group opened read-only throws IoError on any write.
std::unique_ptr<Group> open_zarr(std::shared_ptr<KeyValueStore> store, const std::string& label,
                                 bool writable, const std::string& prefix = "");
// Writes the root .zgroup of `store` (Zarr v3: the root zarr.json) and nothing else, and opens it
// for writing. Zarr v3 groups write zarr.json nodes, chunk keys "c/i/j", and shard arrays created
// with ArrayMeta::shards.
std::unique_ptr<Group> create_zarr(std::shared_ptr<KeyValueStore> store, const std::string& label,
                                   int zarr_format = 2);

// The Zarr group stored in directory `dir` (a DirectoryStore); IoError if `dir` is not a
// directory, FormatError as above.
std::unique_ptr<Group> open_zarr(const std::filesystem::path& dir, bool writable);
// Creates directory `dir` with a root .zgroup. An existing empty folder is used; an existing Zarr
// store (a folder holding .zgroup or .zarray) is emptied first only when `overwrite`; any other
// existing path is refused with IoError, so a mistyped path never loses unrelated files.
std::unique_ptr<Group> create_zarr(const std::filesystem::path& dir, bool overwrite = false,
                                   int zarr_format = 2);

// Gathers the metadata of the whole store into its root, as zarr-python's consolidate_metadata
// does (anndata >= 0.12 writes stores this way): Zarr v2 writes `.zmetadata` with every .zgroup,
// .zattrs and .zarray by key; Zarr v3 rewrites the root zarr.json with an inline
// "consolidated_metadata" holding every node's zarr.json by path. Readers opening the store
// read-only use it instead of each node's files (an array's own metadata still wins); a store
// opened for writing ignores it. FormatError when the store has no root group.
void consolidate_metadata(KeyValueStore& store);

// The Zarr group at the root of the zip archive `archive` (a ZipStore, zip_store.hpp), read-only;
// the archive's path is the label of every path and error message. IoError / FormatError as
// ZipStore and open_zarr.
std::unique_ptr<Group> open_zarr_zip(const std::filesystem::path& archive);

// A new empty Zarr group in memory (a root .zgroup in a fresh MemoryStore), for tests and scratch.
// The store stays reachable through `store` when given.
std::unique_ptr<Group> memory_zarr(std::shared_ptr<MemoryStore>* store = nullptr);

}  // namespace tessera::io
