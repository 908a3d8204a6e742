// Moving a finished output into place (the last step of every atomic write): `temp` becomes
// `target` in one step, whatever was at `target` before (nothing, a file, a folder).
#pragma once

#include <filesystem>

namespace tessera::io::detail {

// A file over a file (or over nothing) is one rename(2). A folder (a Zarr store) cannot be
// replaced by rename(2): the two are swapped atomically (renameat2 RENAME_EXCHANGE) and the old
// one, now at `temp`, is removed afterwards, so a process killed at any point leaves at `target`
// either the old output whole or the new one whole, never a half-removed store. File systems
// without RENAME_EXCHANGE get the old one moved aside first (`target` is then briefly absent,
// never partial). Throws std::filesystem::filesystem_error.
void replace_path(const std::filesystem::path& temp, const std::filesystem::path& target);

}  // namespace tessera::io::detail
