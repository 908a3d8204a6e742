// The one index type of Tessera and the 2-D shape built from it.
// Every offset, count, extent and chunk coordinate is a signed 64-bit `index_t` (DuckDB's idx_t
// rule), so arithmetic on sizes never mixes signedness.
#pragma once

#include <cstdint>
#include <string>

namespace tessera {

using index_t = std::int64_t;

// Shape of a 2-D array: rows (observations) by columns (variables).
struct Shape {
  index_t rows = 0;
  index_t cols = 0;

  [[nodiscard]] index_t size() const { return rows * cols; }
  [[nodiscard]] index_t operator[](int axis) const { return axis == 0 ? rows : cols; }
  friend bool operator==(const Shape&, const Shape&) = default;
};

// "(rows, cols)", the way numpy prints a shape.
std::string to_string(Shape shape);

}  // namespace tessera
