#include "tessera/core/error.hpp"

#include <string>

#include "tessera/core/index.hpp"

namespace tessera {

std::string to_string(Shape shape) {
  // Appending (not "(" + std::string) sidesteps a GCC 12 -Wrestrict false positive.
  std::string out = "(";
  out.append(std::to_string(shape.rows))
      .append(", ")
      .append(std::to_string(shape.cols))
      .append(")");
  return out;
}

namespace detail {
void assert_failed(const char* expr, const char* file, int line, const std::string& msg) {
  throw InternalError("internal error: " + msg + " [" + expr + " failed at " + file + ":" +
                      std::to_string(line) + "]");
}
}  // namespace detail

}  // namespace tessera
