#include "tessera/io/storage.hpp"

#include <string>

#include "tessera/core/error.hpp"

namespace tessera::io {

Compression Compression::from_name(std::string_view name) {
  Compression c;
  if (name == "none") {
    c.codec = Codec::none;
  } else if (name == "lz4" || name == "lz4hc" || name == "zstd" || name == "blosclz" ||
             name == "blosc-zlib") {
    c.codec = Codec::blosc;
    c.cname = name == "blosc-zlib" ? "zlib" : std::string(name);
  } else if (name == "zlib" || name == "gzip") {
    c.codec = Codec::zlib;
    c.level = 4;
  } else {
    throw ValueError("unknown compressor '" + std::string(name) +
                     "' (expected none, lz4, lz4hc, zstd, blosclz, blosc-zlib or zlib)");
  }
  return c;
}

index_t ArrayMeta::size() const {
  index_t n = 1;
  for (index_t s : shape)
    n *= s;
  return n;
}

Chunk Group::read_all(const std::string& name) const {
  const ArrayMeta meta = array_meta(name);
  Box box;
  box.start.assign(meta.shape.size(), 0);
  box.count = meta.shape;
  return read(name, box);
}

void Group::write_blocks(const std::string& name,
                         const std::vector<std::pair<Box, Chunk>>& blocks) {
  for (const auto& [box, data] : blocks)
    write(name, box, data);
}

FieldValues Group::read_field(const std::string& name, const std::string& field) const {
  throw FormatError(path() + "/" + name + ": reading field '" + field +
                    "': this storage has no compound arrays");
}

void Group::write_compound(const std::string& name, const std::vector<FieldValues>& /*fields*/,
                           index_t /*n*/) {
  throw ValueError(path() + "/" + name + ": this storage cannot write compound arrays");
}

void Group::create_null(const std::string& name) {
  throw ValueError(path() + "/" + name + ": this storage cannot write null elements");
}

}  // namespace tessera::io
