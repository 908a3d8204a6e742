// Consolidated metadata: every node's metadata of a Zarr store gathered into one document at the
// root, as zarr-python's consolidate_metadata writes it (FORMATS.md §3 and §4), so that a reader
// opens the store with one read instead of one per group, array and attribute file.
#include <string>

#include "formats/zarr/json_files.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/zarr_store.hpp"

namespace tessera::io {
namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

std::optional<Json> read_doc(const KeyValueStore& store, const std::string& key) {
  const std::optional<Bytes> bytes = store.get(key);
  if (!bytes) return std::nullopt;
  return detail::parse_json_file(*bytes, store.describe(key));
}

// v2: the group's .zgroup/.zattrs, then each child array's .zarray/.zattrs and each child group.
void gather_v2(const KeyValueStore& store, const std::string& prefix, Json& metadata) {
  for (const char* file : {".zgroup", ".zattrs"}) {
    if (auto doc = read_doc(store, join(prefix, file))) metadata[join(prefix, file)] = *doc;
  }
  for (const std::string& name : store.list(prefix)) {
    if (name.starts_with(".z")) continue;  // this group's own metadata files
    const std::string child = join(prefix, name);
    if (store.contains(join(child, ".zgroup"))) {
      gather_v2(store, child, metadata);
      continue;
    }
    if (auto doc = read_doc(store, join(child, ".zarray"))) {
      metadata[join(child, ".zarray")] = *doc;
      if (auto attrs = read_doc(store, join(child, ".zattrs")))
        metadata[join(child, ".zattrs")] = *attrs;
    }
  }
}

Json empty_inline() {
  return Json{{"kind", "inline"}, {"must_understand", false}, {"metadata", Json::object()}};
}

// v3: each node's zarr.json by its path below the root; nested groups carry an empty inline
// consolidated_metadata, as zarr-python writes them. Chunk folders are never listed: only
// groups are descended into.
void gather_v3(const KeyValueStore& store, const std::string& prefix, const std::string& path,
               Json& metadata) {
  for (const std::string& name : store.list(prefix)) {
    if (name == "zarr.json") continue;
    const std::string child = join(prefix, name);
    std::optional<Json> doc = read_doc(store, join(child, "zarr.json"));
    if (!doc || !doc->is_object()) continue;
    const std::string at = join(path, name);
    if (doc->value("node_type", Json()) == "group") {
      (*doc)["consolidated_metadata"] = empty_inline();
      metadata[at] = *doc;
      gather_v3(store, child, at, metadata);
    } else {
      metadata[at] = *doc;
    }
  }
}

void put(KeyValueStore& store, const std::string& key, const Json& doc) {
  const std::string text = detail::dump_json(doc);
  store.set(key, std::as_bytes(std::span(text.data(), text.size())));
}

}  // namespace

void consolidate_metadata(KeyValueStore& store) {
  if (store.contains(".zgroup")) {
    Json metadata = Json::object();
    gather_v2(store, "", metadata);
    put(store, ".zmetadata", Json{{"metadata", metadata}, {"zarr_consolidated_format", 1}});
    return;
  }
  std::optional<Json> root = read_doc(store, "zarr.json");
  if (!root || !root->is_object() || root->value("node_type", Json()) != "group") {
    throw FormatError("zarr: " + store.describe("") +
                      " has no root group (.zgroup or zarr.json) to consolidate");
  }
  Json metadata = Json::object();
  gather_v3(store, "", "", metadata);
  Json consolidated = empty_inline();
  consolidated["metadata"] = std::move(metadata);
  (*root)["consolidated_metadata"] = std::move(consolidated);
  put(store, "zarr.json", *root);
}

}  // namespace tessera::io
