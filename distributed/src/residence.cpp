#include "tessera/distributed/residence.hpp"

#include <string>

#include "tessera/core/error.hpp"

namespace tessera {

std::string_view name(Residence residence) {
  switch (residence) {
    case Residence::every_rank:
      return "every_rank";
    case Residence::root:
      return "root";
    case Residence::distributed:
      return "distributed";
  }
  return "unknown";
}

Residence parse_residence(std::string_view text) {
  for (Residence r : {Residence::every_rank, Residence::root, Residence::distributed}) {
    if (text == name(r)) return r;
  }
  throw ValueError("unknown residence '" + std::string(text) +
                   "' (expected every_rank, root or distributed)");
}

}  // namespace tessera
