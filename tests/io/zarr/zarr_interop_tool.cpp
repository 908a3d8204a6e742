// The C++ side of the interop test with zarr-python (interop.py):
//   zarr_interop_tool dump DIR    prints every group and array of the store DIR as JSON
//   zarr_interop_tool write DIR   writes the fixed set of arrays interop.py then checks
// Values are printed as text ("nan", "-inf", exact integers) so nothing is lost on the way.
#include <cinttypes>
#include <cstdio>
#include <iostream>

#include "tessera/core/error.hpp"
#include "tessera/io/zarr_store.hpp"
#include "zarr_test_util.hpp"

namespace {

using tessera::Chunk;
using tessera::DType;
using tessera::index_t;
using tessera::Shape;
using tessera::io::ArrayMeta;
using tessera::io::Box;
using tessera::io::Compression;
using tessera::io::Group;
using tessera::io::Json;

std::string text_of(const Chunk& c, index_t r, index_t col) {
  return tessera::dispatch(c.dtype(), [&](auto tag) -> std::string {
    using T = typename decltype(tag)::type;
    const T v = c.row<T>(r)[col];
    if constexpr (std::is_same_v<T, bool>) {
      return v ? "1" : "0";
    } else if constexpr (std::is_floating_point_v<T>) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", static_cast<double>(v));
      return buf;
    } else {
      return std::to_string(v);
    }
  });
}

Json values_of(const Chunk& c) {
  Json out = Json::array();
  for (index_t r = 0; r < c.rows(); ++r) {
    for (index_t col = 0; col < c.cols(); ++col)
      out.push_back(text_of(c, r, col));
  }
  return out;
}

// Reading the array in boxes of every alignment must give the same values as reading it whole.
bool boxes_agree(const Group& g, const std::string& name, const ArrayMeta& meta, const Chunk& all) {
  if (meta.shape.size() != 2) return true;
  const index_t rows = meta.shape[0];
  const index_t cols = meta.shape[1];
  for (index_t r0 = 0; r0 < rows; r0 += 3) {
    for (index_t c0 = 0; c0 < cols; c0 += 2) {
      const index_t nr = std::min<index_t>(4, rows - r0);
      const index_t nc = std::min<index_t>(3, cols - c0);
      const Chunk part = g.read(name, Box{{r0, c0}, {nr, nc}});
      if (!tessera::io::test::same_bytes(part, all.block(r0, r0 + nr, c0, c0 + nc))) return false;
    }
  }
  return true;
}

void dump(const Group& g, const std::string& path, Json& out) {
  out["groups"][path.empty() ? "/" : path] = g.attributes();
  for (const std::string& name : g.children()) {
    const std::string child = path + "/" + name;
    if (g.has_group(name)) {
      dump(*g.group(name), child, out);
      continue;
    }
    Json a;
    try {
      const ArrayMeta meta = g.array_meta(name);
      a["shape"] = meta.shape;
      a["chunks"] = meta.chunks;
      a["attrs"] = g.attributes(name);
      if (meta.is_string()) {
        a["dtype"] = "string";
        a["values"] = g.read_strings(name);
      } else {
        a["dtype"] = std::string(tessera::name(*meta.dtype));
        const Chunk all = g.read_all(name);
        a["values"] = values_of(all);
        a["boxes_agree"] = boxes_agree(g, name, meta, all);
      }
    } catch (const tessera::Error& e) {
      a["error"] = e.what();
    }
    out["arrays"][child] = a;
  }
}

Compression compression_named(const std::string& spec) {
  // "none", "lz4_s0" (Blosc lz4, shuffle 0), "blosc-zlib_s2", "zlib", "zstd-plain" (numcodecs Zstd)
  const auto us = spec.find("_s");
  const std::string base = spec.substr(0, us);
  Compression c;
  if (base == "zstd-plain") {
    c.codec = tessera::io::Codec::zstd;
    c.level = 3;
  } else {
    c = Compression::from_name(base);
  }
  if (us != std::string::npos) c.shuffle = std::stoi(spec.substr(us + 2));
  return c;
}

std::vector<index_t> shape_of_rank(int rank) {
  if (rank == 0) return {};
  if (rank == 1) return {23};
  return {13, 7};
}
std::vector<index_t> chunks_of_rank(int rank) {
  if (rank == 0) return {};
  if (rank == 1) return {5};
  return {4, 3};
}

void write_all(const std::filesystem::path& dir) {
  using tessera::io::test::all_dtypes;
  using tessera::io::test::pattern_chunk;
  using tessera::io::test::shape2;
  auto root = tessera::io::create_zarr(dir, /*overwrite=*/true);
  const std::vector<std::string> compressions = {"none",          "lz4",   "lz4_s0",    "lz4_s2",
                                                 "lz4_s-1",       "lz4hc", "blosclz",   "zstd",
                                                 "blosc-zlib_s1", "zlib",  "zstd-plain"};
  auto numbers = root->create_group("numbers");
  std::size_t k = 0;
  for (DType d : all_dtypes()) {
    for (int rank : {0, 1, 2}) {
      const std::string comp = compressions[k++ % compressions.size()];
      const std::string name =
          std::string(tessera::name(d)) + "__" + std::to_string(rank) + "__" + comp;
      const auto shape = shape_of_rank(rank);
      numbers->create_array(name, ArrayMeta{shape, d, chunks_of_rank(rank)},
                            compression_named(comp));
      numbers->write(name, Box{std::vector<index_t>(shape.size(), 0), shape},
                     pattern_chunk(d, shape2(shape)));
    }
  }
  // Every compressor on one dtype.
  auto codecs = root->create_group("codecs");
  for (const std::string& comp : compressions) {
    const std::string name = "float64__2__" + comp;
    codecs->create_array(name, ArrayMeta{{13, 7}, DType::float64, {4, 3}}, compression_named(comp));
    codecs->write(name, Box{{0, 0}, {13, 7}}, pattern_chunk(DType::float64, {13, 7}));
  }
  // Irregular tiles, and a region left unwritten (fill value 0).
  auto boxes = root->create_group("boxes");
  boxes->create_array("float32__2__lz4", ArrayMeta{{13, 7}, DType::float32, {4, 3}},
                      Compression::from_name("lz4"));
  const Chunk data = pattern_chunk(DType::float32, {13, 7});
  for (const auto& [r0, r1, c0, c1] : std::vector<std::array<index_t, 4>>{
           {0, 5, 0, 2}, {0, 5, 2, 7}, {5, 6, 0, 7}, {6, 13, 0, 4}, {6, 13, 4, 7}}) {
    boxes->write("float32__2__lz4", Box{{r0, c0}, {r1 - r0, c1 - c0}}, data.block(r0, r1, c0, c1));
  }
  boxes->create_array("partial", ArrayMeta{{10}, DType::int32, {4}},
                      Compression::from_name("zstd"));
  boxes->write("partial", Box{{3}, {3}},
               Chunk::from_values(Shape{1, 3}, std::vector<std::int32_t>{7, 8, 9}));
  // Strings.
  auto strings = root->create_group("strings");
  std::vector<std::string> words;
  for (int i = 0; i < 35; ++i) {
    // (Appending, not "w" + to_string: GCC 12 warns falsely about the latter, bug 105329.)
    std::string w;
    if (i % 5 != 0) {
      w = "w";
      w += std::to_string(i);
      if (i % 3 == 0) w += "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    }
    words.push_back(std::move(w));
  }
  strings->write_strings("vec", words, {35}, Compression::from_name("lz4"));
  strings->write_strings("mat", words, {5, 7}, Compression::from_name("zlib"));
  strings->write_strings("scalar", {"h\xc3\xa9llo"}, {}, Compression::from_name("none"));
  strings->write_strings("empty", {}, {0}, Compression::from_name("zstd"));
  // Attributes.
  root->set_attribute("encoding-type", "anndata");
  root->set_attribute("encoding-version", "0.1.0");
  root->set_attribute("ints", Json::array({1, -2, 3}));
  root->set_attribute("nested", Json{{"a", 1.5}, {"b", Json::array({"x", "y"})}, {"c", true}});
  root->set_attribute("nan", std::nan(""));
  root->set_attribute("unicode", "\xc3\xa9t\xc3\xa9");
  strings->set_attribute("ordered", false, "vec");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: zarr_interop_tool dump|write DIR\n";
    return 2;
  }
  const std::string mode = argv[1];
  try {
    if (mode == "dump") {
      auto root = tessera::io::open_zarr(std::filesystem::path(argv[2]), false);
      Json out;
      out["groups"] = Json::object();
      out["arrays"] = Json::object();
      dump(*root, "", out);
      std::cout << out.dump() << "\n";
    } else if (mode == "write") {
      write_all(argv[2]);
    } else {
      std::cerr << "unknown mode " << mode << "\n";
      return 2;
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
