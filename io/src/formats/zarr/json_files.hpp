// The JSON files of Zarr stores (.zgroup, .zarray, .zattrs, .zmetadata, zarr.json), read and
// written as zarr-python does. Python's json writes NaN, Infinity and -Infinity for non-finite
// floats (zarr-python attributes), which strict JSON parsers refuse: they are read as those
// doubles and written back the same way, so attributes round-trip with the reference.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "tessera/io/storage.hpp"

namespace tessera::io::detail {

// The document in `bytes`; FormatError "zarr: malformed JSON in <where>" when it is not JSON.
Json parse_json_file(std::span<const std::byte> bytes, const std::string& where);

// zarr-python's layout: sorted keys, 4-space indent, ASCII only (\uXXXX escapes), bare NaN /
// Infinity / -Infinity for non-finite floats. Json::exception for strings that are not UTF-8.
std::string dump_json(Json doc);

}  // namespace tessera::io::detail
