#include "storage/replace.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc >= 2.28)

#include <cerrno>
#include <string>
#include <system_error>

namespace tessera::io::detail {

namespace fs = std::filesystem;

void replace_path(const fs::path& temp, const fs::path& target) {
  std::error_code ec;
  const fs::file_status old = fs::symlink_status(target, ec);
  if (!fs::exists(old) || (!fs::is_directory(old) && !fs::is_directory(temp))) {
    fs::rename(temp, target);  // atomic, replacing a file
    return;
  }
  if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fs::remove_all(temp);  // the old output, now at the temporary (hidden) name
    return;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
    throw fs::filesystem_error("cannot swap the output into place", temp, target,
                               std::error_code(errno, std::generic_category()));
  }
  fs::path aside = temp;
  aside += ".old";
  fs::rename(target, aside);
  fs::rename(temp, target);
  fs::remove_all(aside);
}

}  // namespace tessera::io::detail
