// The C++ half of the h5py interop tests.
//
//   io_hdf5_interop_tool dump FILE    prints, as JSON, everything Tessera reads from FILE: per
//                                     object path its kind, attributes, children (groups) or
//                                     dtype, shape, chunks and row-major values (arrays); an
//                                     array Tessera refuses shows its error instead.
//   io_hdf5_interop_tool write FILE   writes a fixture with every dtype, string layout, attribute
//                                     kind and compressor, and prints the same JSON for what it
//                                     meant to write (plus each array's filter pipeline), for
//                                     h5py to check.
//
// Floats that JSON cannot hold print as "nan", "inf", "-inf".
#include <cmath>
#include <cstdint>
#include <exception>
#include <iostream>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "h5_test_util.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/hdf5_file.hpp"

namespace tessera::io {
namespace {

using V = std::vector<index_t>;

template <typename T>
Json element(T value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    return static_cast<double>(value);
  } else {
    return value;
  }
}

Json values_of(const Chunk& chunk) {
  Json out = Json::array();
  dispatch(chunk.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (index_t r = 0; r < chunk.rows(); ++r)
      for (index_t c = 0; c < chunk.cols(); ++c)
        out.push_back(element<T>(chunk.row<T>(r)[c]));
  });
  return out;
}

void describe(const Group& group, const std::string& h5path, Json& out) {
  const std::vector<std::string> children = group.children();
  out[h5path] = {{"kind", "group"}, {"attrs", group.attributes()}, {"children", children}};
  for (const std::string& name : children) {
    const std::string path = h5path == "/" ? "/" + name : h5path + "/" + name;
    if (group.has_group(name)) {
      describe(*group.group(name), path, out);
      continue;
    }
    if (!group.has_array(name)) continue;
    Json node = {{"kind", "array"}};
    try {
      node["attrs"] = group.attributes(name);
      const ArrayMeta meta = group.array_meta(name);
      node["shape"] = meta.shape;
      node["chunks"] = meta.chunks;
      if (meta.is_string()) {
        node["dtype"] = "str";
        node["values"] = group.read_strings(name);
      } else {
        node["dtype"] = std::string(tessera::name(*meta.dtype));
        node["values"] = values_of(group.read_all(name));
      }
    } catch (const Error& e) {
      node = {{"kind", "array"}, {"error", e.what()}};
    }
    out[path] = node;
  }
}

// ---- the fixture ------------------------------------------------------------------------------

constexpr DType kAllDTypes[] = {DType::boolean, DType::int8,    DType::int16,  DType::int32,
                                DType::int64,   DType::uint8,   DType::uint16, DType::uint32,
                                DType::uint64,  DType::float32, DType::float64};

Shape as_2d(const V& shape) {
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {1, shape[0]};
  return {shape[0], shape[1]};
}

void write_fixture(const std::string& file, Json& expected) {
  auto root = create_h5(file);
  const auto add_group = [&](Group& parent, const std::string& h5path, const std::string& name) {
    auto g = parent.create_group(name);
    expected[h5path] = {{"kind", "group"}, {"attrs", Json::object()}, {"children", Json::array()}};
    return g;
  };
  expected["/"] = {{"kind", "group"}, {"attrs", Json::object()}, {"children", Json::array()}};

  // Every dtype at 0, 1 and 2 dimensions, uncompressed.
  auto plain = add_group(*root, "/plain", "plain");
  const std::vector<V> shapes = {{}, {7}, {3, 4}, {0}};
  for (DType dtype : kAllDTypes) {
    for (std::size_t s = 0; s < shapes.size(); ++s) {
      const std::string name = std::string(tessera::name(dtype)) + "_" +
                               std::to_string(shapes[s].size()) + "d" + (s == 3 ? "_empty" : "");
      const Chunk data = test::pattern_chunk(dtype, as_2d(shapes[s]), static_cast<index_t>(s));
      plain->create_array(name, ArrayMeta{shapes[s], dtype, {}}, Compression{});
      plain->write(name, Box{V(shapes[s].size(), 0), shapes[s]}, data);
      expected["/plain/" + name] = {
          {"kind", "array"},         {"attrs", Json::object()},       {"shape", shapes[s]},
          {"chunks", Json::array()}, {"dtype", tessera::name(dtype)}, {"values", values_of(data)},
          {"filters", Json::array()}};
    }
  }

  // Compressors, on chunked arrays.
  auto packed = add_group(*root, "/compressed", "compressed");
  struct Packed {
    std::string name;
    Compression compression;
    DType dtype;
    Json filters;
  };
  std::vector<Packed> cases;
  cases.push_back({"gzip", Compression::from_name("zlib"), DType::float64,
                   Json::array({Json::array({1, Json::array({4})})})});
  const std::vector<std::pair<std::string, int>> codes = {
      {"blosclz", 0}, {"lz4", 1}, {"lz4hc", 2}, {"zlib", 4}, {"zstd", 5}};
  for (const auto& [cname, code] : codes) {
    for (int shuffle : {0, 1, 2}) {
      Compression c;
      c.codec = Codec::blosc;
      c.cname = cname;
      c.level = 5 + shuffle;
      c.shuffle = shuffle;
      const DType dtype = shuffle == 2 ? DType::int32 : DType::float32;
      // hdf5plugin's layout: revision 2, Blosc format 2, type size, chunk bytes, level, shuffle,
      // code.
      const unsigned chunk_bytes = 10 * 6 * 4;
      cases.push_back({"blosc_" + cname + "_" + std::to_string(shuffle), c, dtype,
                       Json::array({Json::array({32001, Json::array({2, 2, 4, chunk_bytes, c.level,
                                                                     shuffle, code})})})});
    }
  }
  cases.push_back({"zstd", Compression{Codec::zstd, "", 3, 0}, DType::uint16,
                   Json::array({Json::array({32015, Json::array({3})})})});
  for (const Packed& p : cases) {
    const Chunk data = test::pattern_chunk(p.dtype, {25, 6}, 4);
    packed->create_array(p.name, ArrayMeta{{25, 6}, p.dtype, {10, 6}}, p.compression);
    packed->write(p.name, Box{{0, 0}, {25, 6}}, data);
    expected["/compressed/" + p.name] = {
        {"kind", "array"},     {"attrs", Json::object()},         {"shape", {25, 6}},
        {"chunks", {10, 6}},   {"dtype", tessera::name(p.dtype)}, {"values", values_of(data)},
        {"filters", p.filters}};
  }
  // A bool array in blosc: type size 1.
  {
    const Chunk data = test::pattern_chunk(DType::boolean, {1, 40});
    packed->create_array("bools", ArrayMeta{{40}, DType::boolean, {16}},
                         Compression::from_name("lz4"));
    packed->write("bools", Box{{0}, {40}}, data);
    expected["/compressed/bools"] = {
        {"kind", "array"},
        {"attrs", Json::object()},
        {"shape", {40}},
        {"chunks", {16}},
        {"dtype", "bool"},
        {"values", values_of(data)},
        {"filters", Json::array({Json::array({32001, Json::array({2, 2, 1, 16, 5, 1, 1})})})}};
  }

  // Strings.
  auto strings = add_group(*root, "/strings", "strings");
  const std::vector<std::string> words = {"",           "plain", "Grüße", "日本語テキスト",
                                          "with space", "z"};
  const auto add_strings = [&](const std::string& name, const std::vector<std::string>& values,
                               const V& shape, const Compression& c, const V& chunks) {
    strings->write_strings(name, values, shape, c);
    const Json filters =
        c.codec == Codec::zlib ? Json::array({Json::array({1, Json::array({4})})}) : Json::array();
    expected["/strings/" + name] = {
        {"kind", "array"}, {"attrs", Json::object()}, {"shape", shape},    {"chunks", chunks},
        {"dtype", "str"},  {"values", values},        {"filters", filters}};
  };
  add_strings("scalar", {"only one"}, {}, Compression{}, {});
  add_strings("list", words, {6}, Compression{}, {});
  add_strings("table", words, {3, 2}, Compression{}, {});
  add_strings("empty", {}, {0}, Compression{}, {});
  add_strings("gzip", words, {6}, Compression::from_name("zlib"), {6});

  // Attributes of every kind, on a group and on an array.
  auto attrs = add_group(*root, "/attrs", "attrs");
  const Json values = {
      {"str", "dataframe"},
      {"unicode", "Grüße 世界"},
      {"int", 42},
      {"negative", -5},
      {"int64_max", std::numeric_limits<std::int64_t>::max()},
      {"float", 0.1},
      {"float_integral", 2.0},
      {"true", true},
      {"false", false},
      {"shape", {30, 7}},
      {"floats", {0.5, -1.25}},
      {"bools", {true, false, false}},
      {"strings", {"b", "a", "ünï"}},
      {"empty", Json::array()},
  };
  for (const auto& [key, value] : values.items())
    attrs->set_attribute(key, value);
  expected["/attrs"]["attrs"] = values;
  attrs->create_array("x", ArrayMeta{{2}, DType::int8, {}}, Compression{});
  const Chunk x = test::pattern_chunk(DType::int8, {1, 2});
  attrs->write("x", Box{{0}, {2}}, x);
  attrs->set_attribute("encoding-type", "array", "x");
  attrs->set_attribute("ordered", false, "x");
  expected["/attrs/x"] = {{"kind", "array"},
                          {"attrs", {{"encoding-type", "array"}, {"ordered", false}}},
                          {"shape", {2}},
                          {"chunks", Json::array()},
                          {"dtype", "int8"},
                          {"values", values_of(x)},
                          {"filters", Json::array()}};

  // An anndata 0.8 data frame without columns: the empty column-order must read back as such.
  auto obs = add_group(*root, "/obs", "obs");
  obs->write_strings("_index", {"cell_a", "cell_b", "cell_c"}, {3}, Compression{});
  const Json obs_attrs = {{"encoding-type", "dataframe"},
                          {"encoding-version", "0.2.0"},
                          {"_index", "_index"},
                          {"column-order", Json::array()}};
  for (const auto& [key, value] : obs_attrs.items())
    obs->set_attribute(key, value);
  expected["/obs"]["attrs"] = obs_attrs;
  expected["/obs/_index"] = {{"kind", "array"},
                             {"attrs", Json::object()},
                             {"shape", {3}},
                             {"chunks", Json::array()},
                             {"dtype", "str"},
                             {"values", {"cell_a", "cell_b", "cell_c"}},
                             {"filters", Json::array()}};

  // Children in name order, as h5py lists them.
  for (auto& [path, node] : expected.items()) {
    if (node.at("kind") != "group") continue;
    std::vector<std::string> names;
    for (const auto& [other, unused] : expected.items()) {
      const std::string prefix = path == "/" ? "/" : path + "/";
      if (other.size() > prefix.size() && other.compare(0, prefix.size(), prefix) == 0 &&
          other.find('/', prefix.size()) == std::string::npos)
        names.push_back(other.substr(prefix.size()));
    }
    std::sort(names.begin(), names.end());
    node["children"] = names;
  }
  close_h5(*root);
}

}  // namespace
}  // namespace tessera::io

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "dump" && std::string(argv[1]) != "write")) {
    std::cerr << "usage: " << argv[0] << " dump|write FILE\n";
    return 2;
  }
  try {
    tessera::io::Json out = tessera::io::Json::object();
    if (std::string(argv[1]) == "dump") {
      const auto root = tessera::io::open_h5(argv[2]);
      tessera::io::describe(*root, "/", out);
    } else {
      tessera::io::write_fixture(argv[2], out);
    }
    std::cout << out.dump(1) << "\n";
  } catch (const std::exception& e) {
    std::cerr << argv[0] << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
