// Value conversions with numpy's results where numpy's are defined, and defined ones where C++'s
// are not (NaN or out-of-range floats to integers: NaN → 0, others clamp).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace tessera::detail {

// Element type for scratch vectors: std::vector<bool> is bit-packed, so bools live in bytes.
template <typename T>
using store_t = std::conditional_t<std::is_same_v<T, bool>, std::uint8_t, T>;

template <typename T>
constexpr bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return v != v;
  } else {
    (void)v;
    return false;
  }
}

template <typename To, typename From>
To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From{};
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (std::isnan(v)) return To{};
    if (v <= static_cast<From>(std::numeric_limits<To>::lowest()))
      return std::numeric_limits<To>::lowest();
    if (v >= static_cast<From>(std::numeric_limits<To>::max()))
      return std::numeric_limits<To>::max();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace tessera::detail
