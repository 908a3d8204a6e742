#include "tessera/core/selector.hpp"

#include <algorithm>
#include <string>

#include "tessera/core/error.hpp"

namespace tessera {

Selector Selector::slice(std::optional<index_t> start, std::optional<index_t> stop,
                         std::optional<index_t> step) {
  if (step && *step == 0) throw ValueError("slice step cannot be zero");
  Selector s;
  s.kind_ = Kind::slice;
  s.start_ = start;
  s.stop_ = stop;
  s.step_ = step;
  return s;
}

Selector Selector::take(std::vector<index_t> positions) {
  Selector s;
  s.kind_ = Kind::take;
  s.positions_ = std::move(positions);
  return s;
}

Selector Selector::mask(std::vector<bool> mask) {
  Selector s;
  s.kind_ = Kind::mask;
  s.mask_ = std::move(mask);
  return s;
}

Selector Selector::mask(const Chunk& mask) {
  if (mask.rows() != 1 && mask.cols() != 1) {
    throw IndexError("a boolean mask must have one row or one column, got shape " +
                     to_string(mask.shape()));
  }
  if (mask.dtype() != DType::boolean) {
    throw IndexError("a mask must have dtype bool, got " + std::string(name(mask.dtype())));
  }
  std::vector<bool> values(static_cast<std::size_t>(mask.shape().size()));
  for (index_t n = 0; n < static_cast<index_t>(values.size()); ++n) {
    values[n] = mask.rows() == 1 ? mask.value_at(0, n) != 0.0 : mask.value_at(n, 0) != 0.0;
  }
  return Selector::mask(std::move(values));
}

std::vector<index_t> Selector::resolve(index_t length) const {
  std::vector<index_t> out;
  switch (kind_) {
    case Kind::all:
      out.resize(static_cast<std::size_t>(length));
      for (index_t n = 0; n < length; ++n)
        out[n] = n;
      return out;
    case Kind::slice: {
      // Python's slice.indices(length).
      const index_t step = step_.value_or(1);
      index_t start, stop;
      const auto clamp = [&](std::optional<index_t> v, index_t lo, index_t hi, index_t dflt) {
        if (!v) return dflt;
        index_t x = *v < 0 ? *v + length : *v;
        return std::clamp(x, lo, hi);
      };
      if (step > 0) {
        start = clamp(start_, 0, length, 0);
        stop = clamp(stop_, 0, length, length);
        for (index_t n = start; n < stop; n += step)
          out.push_back(n);
      } else {
        start = clamp(start_, -1, length - 1, length - 1);
        stop = clamp(stop_, -1, length - 1, -1);
        for (index_t n = start; n > stop; n += step)
          out.push_back(n);
      }
      return out;
    }
    case Kind::take:
      out.reserve(positions_.size());
      for (index_t p : positions_) {
        if (p < -length || p >= length) {
          throw IndexError("index " + std::to_string(p) +
                           " is out of range for an axis of length " + std::to_string(length));
        }
        out.push_back(p < 0 ? p + length : p);
      }
      return out;
    case Kind::mask:
      if (static_cast<index_t>(mask_.size()) != length) {
        throw IndexError("boolean mask of length " + std::to_string(mask_.size()) +
                         " does not match an axis of length " + std::to_string(length));
      }
      for (index_t n = 0; n < length; ++n) {
        if (mask_[n]) out.push_back(n);
      }
      return out;
  }
  throw InternalError("Selector::resolve: invalid kind");
}

bool Selector::is_identity(index_t length) const {
  if (kind_ == Kind::all) return true;
  const auto positions = resolve(length);
  if (static_cast<index_t>(positions.size()) != length) return false;
  for (index_t n = 0; n < length; ++n) {
    if (positions[n] != n) return false;
  }
  return true;
}

}  // namespace tessera
