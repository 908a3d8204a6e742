// Opening and creating Zarr groups: the format of a store is found from its root (.zgroup for v2,
// zarr.json for v3), and its consolidated metadata, when it has some, fills the node caches.
#include <filesystem>
#include <memory>
#include <string>

#include "formats/zarr/caches.hpp"
#include "formats/zarr/json_files.hpp"
#include "formats/zarr/zarr_group.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/zarr_store.hpp"
#include "tessera/io/zip_store.hpp"

namespace tessera::io {
namespace {

Json parse_document(const Bytes& bytes, const std::string& where) {
  return detail::parse_json_file(bytes, where);
}

// A Zarr v3 group at `prefix`: its zarr.json (node_type group), or, as old stores have it, no
// root zarr.json but children that have one. The root's inline consolidated metadata, when
// present, fills the node cache (opening costs one read); nullopt when this is not v3 at all.
std::unique_ptr<Group> open_v3(const std::shared_ptr<KeyValueStore>& store,
                               const std::string& label, bool writable, const std::string& prefix) {
  const auto at = [&](const std::string& file) {
    return prefix.empty() ? file : prefix + "/" + file;
  };
  auto cache = std::make_shared<detail::NodeCache>();
  const std::optional<Bytes> root = store->get(at("zarr.json"));
  if (root) {
    const std::string where = store->describe(at("zarr.json"));
    const Json doc = parse_document(*root, where);
    if (!doc.is_object() || doc.value("zarr_format", Json()) != 3)
      throw FormatError("zarr: " + where + ": unsupported zarr_format (expected 3)");
    if (doc.value("node_type", Json()) != "group")
      throw FormatError("zarr: " + label + ":/" + prefix + " is an array, not a group");
    cache->put(at("zarr.json"), detail::NodeCache::Entry{doc, true});
    const Json consolidated = doc.value("consolidated_metadata", Json());
    if (consolidated.is_object()) {
      if (consolidated.value("kind", Json("inline")) != "inline")
        throw FormatError("zarr: " + where + ": consolidated_metadata of kind " +
                          consolidated.value("kind", Json()).dump() + " is not supported (inline)");
      const Json metadata = consolidated.value("metadata", Json::object());
      if (!metadata.is_object())
        throw FormatError("zarr: " + where + ": consolidated_metadata.metadata must be an object");
      for (const auto& [path, node] : metadata.items()) {
        check_store_key(path);  // never a key outside the store
        if (!node.is_object() || node.value("zarr_format", Json()) != 3 ||
            (node.value("node_type", Json()) != "group" &&
             node.value("node_type", Json()) != "array")) {
          throw FormatError("zarr: " + where + ": consolidated metadata of '" + path +
                            "' is not a Zarr v3 node (zarr_format " +
                            (node.is_object() ? node.value("zarr_format", Json()).dump() : "-") +
                            ", node_type " +
                            (node.is_object() ? node.value("node_type", Json()).dump() : "-") +
                            "; expected 3 and \"group\" or \"array\")");
        }
        cache->put(at(path + "/zarr.json"), detail::NodeCache::Entry{node, false});
      }
    }
  } else {
    bool children = false;
    for (const std::string& name : store->list(prefix)) {
      if (name.find_first_of(std::string("\\\0", 2)) == std::string::npos && name != "." &&
          name != ".." && store->contains(at(name + "/zarr.json")))
        children = true;
    }
    if (!children) return nullptr;
  }
  return detail::make_zarr_group(store, label, prefix, writable,
                                 std::make_shared<detail::ChunkBufferPool>(), std::move(cache));
}

}  // namespace

std::unique_ptr<Group> open_zarr(std::shared_ptr<KeyValueStore> store, const std::string& label,
                                 bool writable, const std::string& prefix) {
  check_store_key(prefix, /*allow_empty=*/true);
  auto at = [&](const char* file) {
    return prefix.empty() ? std::string(file) : prefix + "/" + file;
  };
  const std::string where = label + ":/" + prefix;
  const std::optional<Bytes> zgroup = store->get(at(".zgroup"));
  if (!zgroup) {
    if (auto v3 = open_v3(store, label, writable, prefix)) return v3;
    std::string why;
    if (store->contains(at(".zarray"))) why = "; it is an array";
    throw FormatError("zarr: " + where + " is not a Zarr group (no " +
                      store->describe(at(".zgroup")) + " nor zarr.json)" + why);
  }
  const Json doc =
      Json::parse(std::string_view(reinterpret_cast<const char*>(zgroup->data()), zgroup->size()),
                  nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw FormatError("zarr: malformed JSON in " + store->describe(at(".zgroup")));
  }
  const auto format = doc.find("zarr_format");
  if (format == doc.end() || !format->is_number_integer() || format->get<std::int64_t>() != 2) {
    throw FormatError("zarr: " + store->describe(at(".zgroup")) + ": unsupported zarr_format " +
                      (format == doc.end() ? std::string("(missing)") : format->dump()) +
                      " (expected 2)");
  }
  std::shared_ptr<detail::NodeCache> consolidated;
  if (!writable) {  // a store being written would make its .zmetadata stale
    if (const std::optional<Bytes> bytes = store->get(at(".zmetadata"))) {
      consolidated = std::make_shared<detail::NodeCache>();
      const std::string meta_where = store->describe(at(".zmetadata"));
      const Json meta = parse_document(*bytes, meta_where);
      if (!meta.is_object() || !meta.contains("metadata") || !meta.at("metadata").is_object()) {
        throw FormatError("zarr: " + meta_where +
                          ": consolidated metadata needs a \"metadata\" object");
      }
      if (meta.value("zarr_consolidated_format", Json()) != 1) {
        throw FormatError("zarr: " + meta_where + ": zarr_consolidated_format " +
                          meta.value("zarr_consolidated_format", Json()).dump() +
                          " is not supported (1)");
      }
      for (const auto& [k, v] : meta.at("metadata").items()) {
        check_store_key(k);  // never a key outside the store
        const std::string file = k.substr(k.rfind('/') + 1);
        if (file != ".zgroup" && file != ".zarray" && file != ".zattrs") continue;
        consolidated->put(at(k.c_str()), detail::NodeCache::Entry{v, false});
      }
    }
  }
  return detail::make_zarr_group(std::move(store), label, prefix, writable,
                                 std::make_shared<detail::ChunkBufferPool>(), nullptr,
                                 std::move(consolidated));
}

std::unique_ptr<Group> create_zarr(std::shared_ptr<KeyValueStore> store, const std::string& label,
                                   int zarr_format) {
  if (zarr_format != 2 && zarr_format != 3)
    throw ValueError("zarr: format " + std::to_string(zarr_format) + " (Tessera writes 2 or 3)");
  if (zarr_format == 3) {
    const Json root{{"zarr_format", 3}, {"node_type", "group"}, {"attributes", Json::object()}};
    const std::string text = detail::dump_json(root);
    store->set("zarr.json", std::as_bytes(std::span(text.data(), text.size())));
    auto cache = std::make_shared<detail::NodeCache>();
    cache->put("zarr.json", detail::NodeCache::Entry{root, true});
    return detail::make_zarr_group(std::move(store), label, "", true,
                                   std::make_shared<detail::ChunkBufferPool>(), std::move(cache));
  }
  const std::string text = detail::dump_json(Json{{"zarr_format", 2}});
  store->set(".zgroup", std::as_bytes(std::span(text.data(), text.size())));
  return detail::make_zarr_group(std::move(store), label, "", true,
                                 std::make_shared<detail::ChunkBufferPool>());
}

std::unique_ptr<Group> open_zarr(const std::filesystem::path& dir, bool writable) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw IoError("zarr: cannot open " + dir.string() + ": not a directory");
  }
  return open_zarr(std::make_shared<DirectoryStore>(dir), dir.string(), writable);
}

std::unique_ptr<Group> create_zarr(const std::filesystem::path& dir, bool overwrite,
                                   int zarr_format) {
  std::error_code ec;
  const auto status = std::filesystem::status(dir, ec);
  if (std::filesystem::exists(status)) {
    if (!std::filesystem::is_directory(status)) {
      throw IoError("zarr: cannot create " + dir.string() + ": a file of that name exists");
    }
    const bool empty = std::filesystem::is_empty(dir, ec);
    if (!empty) {
      const bool is_zarr = std::filesystem::exists(dir / ".zgroup", ec) ||
                           std::filesystem::exists(dir / ".zarray", ec) ||
                           std::filesystem::exists(dir / "zarr.json", ec);
      if (!is_zarr) {
        throw IoError("zarr: cannot create " + dir.string() +
                      ": a non-empty folder that is not a Zarr store exists there");
      }
      if (!overwrite) {
        throw IoError("zarr: cannot create " + dir.string() + ": a Zarr store exists there");
      }
      DirectoryStore(dir).erase_prefix("");
    }
  } else {
    std::filesystem::create_directories(dir, ec);
    if (ec) throw IoError("zarr: cannot create folder " + dir.string() + ": " + ec.message());
  }
  return create_zarr(std::make_shared<DirectoryStore>(dir), dir.string(), zarr_format);
}

std::unique_ptr<Group> open_zarr_zip(const std::filesystem::path& archive) {
  return open_zarr(std::make_shared<ZipStore>(archive), archive.string(), /*writable=*/false);
}

std::unique_ptr<Group> memory_zarr(std::shared_ptr<MemoryStore>* store) {
  auto memory = std::make_shared<MemoryStore>();
  if (store != nullptr) *store = memory;
  return create_zarr(memory, "<memory>");
}

}  // namespace tessera::io
