// The Zarr implementation of tessera::io::Group (zarr_group.cpp), as the factories in
// zarr_open.cpp make it.
#pragma once

#include <memory>
#include <string>

#include "formats/zarr/caches.hpp"
#include "tessera/io/key_value_store.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io::detail {

// The group at `prefix` of `store`. `v3`: the node cache of a Zarr v3 store (nullptr: v2);
// `v2`: a read-only v2 store's consolidated metadata by key (or nullptr).
std::unique_ptr<Group> make_zarr_group(std::shared_ptr<KeyValueStore> store, std::string label,
                                       std::string prefix, bool writable,
                                       std::shared_ptr<ChunkBufferPool> buffers,
                                       std::shared_ptr<NodeCache> v3 = nullptr,
                                       std::shared_ptr<NodeCache> v2 = nullptr);

}  // namespace tessera::io::detail
