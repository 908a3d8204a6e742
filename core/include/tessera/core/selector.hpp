// What to take along one axis: everything, a Python-style slice (negative bounds and steps), a
// list of positions (any order, repeats allowed, negatives count from the end), or a boolean mask.
#pragma once

#include <optional>
#include <vector>

#include "tessera/core/chunk.hpp"
#include "tessera/core/index.hpp"

namespace tessera {

class Selector {
 public:
  enum class Kind : std::uint8_t { all, slice, take, mask };

  Selector() = default;  // all
  static Selector all() { return {}; }
  // Python's slice(start, stop, step): bounds clip to the axis, step may be negative, not 0.
  static Selector slice(std::optional<index_t> start, std::optional<index_t> stop,
                        std::optional<index_t> step = std::nullopt);
  static Selector take(std::vector<index_t> positions);
  static Selector mask(std::vector<bool> mask);
  // A mask from a computed bool array of shape (n, 1) or (1, n).
  static Selector mask(const Chunk& mask);

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] bool is_all() const { return kind_ == Kind::all; }
  // The selected positions along an axis of this length, validated: IndexError for a position
  // outside [-length, length) or a mask of another length; ValueError for a slice step of 0.
  [[nodiscard]] std::vector<index_t> resolve(index_t length) const;
  // True when resolve(length) is 0, 1, 2, … length-1 (the selection changes nothing).
  [[nodiscard]] bool is_identity(index_t length) const;

 private:
  Kind kind_ = Kind::all;
  std::optional<index_t> start_, stop_, step_;
  std::vector<index_t> positions_;
  std::vector<bool> mask_;
};

}  // namespace tessera
