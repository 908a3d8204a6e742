#include "tessera/core/dtype.hpp"

#include <array>
#include <string>

namespace tessera {
namespace {

constexpr std::array<std::string_view, kDTypeCount> kNames = {
    "bool",   "int8",   "int16",  "int32",   "int64",   "uint8",
    "uint16", "uint32", "uint64", "float32", "float64",
};

DType signed_of_size(std::size_t bytes) {
  switch (bytes) {
    case 1:
      return DType::int8;
    case 2:
      return DType::int16;
    case 4:
      return DType::int32;
    default:
      return DType::int64;
  }
}

}  // namespace

std::string_view name(DType dtype) {
  return kNames.at(static_cast<std::size_t>(dtype));
}

DType dtype_from_name(std::string_view text) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == text) return static_cast<DType>(i);
  }
  throw ValueError("unknown dtype '" + std::string(text) +
                   "' (expected bool, int8..int64, uint8..uint64, float32 or float64)");
}

std::size_t itemsize(DType dtype) {
  switch (dtype) {
    case DType::boolean:
    case DType::int8:
    case DType::uint8:
      return 1;
    case DType::int16:
    case DType::uint16:
      return 2;
    case DType::int32:
    case DType::uint32:
    case DType::float32:
      return 4;
    case DType::int64:
    case DType::uint64:
    case DType::float64:
      return 8;
  }
  throw InternalError("itemsize: invalid DType");
}

bool is_float(DType d) {
  return d == DType::float32 || d == DType::float64;
}
bool is_signed_int(DType d) {
  return d == DType::int8 || d == DType::int16 || d == DType::int32 || d == DType::int64;
}
bool is_unsigned_int(DType d) {
  return d == DType::uint8 || d == DType::uint16 || d == DType::uint32 || d == DType::uint64;
}

DType promote(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::boolean) return b;
  if (b == DType::boolean) return a;
  if (is_float(a) || is_float(b)) {
    if (a == DType::float64 || b == DType::float64) return DType::float64;
    const DType other = is_float(a) ? b : a;  // float32 with an integer
    return itemsize(other) <= 2 ? DType::float32 : DType::float64;
  }
  if (is_signed_int(a) == is_signed_int(b)) return itemsize(a) >= itemsize(b) ? a : b;
  const DType s = is_signed_int(a) ? a : b;
  const DType u = is_signed_int(a) ? b : a;
  if (itemsize(s) > itemsize(u)) return s;
  if (itemsize(u) == 8) return DType::float64;  // int64 with uint64, as numpy
  return signed_of_size(itemsize(u) * 2);
}

DType float_result(DType dtype) {
  if (is_float(dtype)) return dtype;
  return itemsize(dtype) <= 2 ? DType::float32 : DType::float64;
}

DType sum_result(DType dtype) {
  if (is_float(dtype)) return dtype;
  if (is_unsigned_int(dtype)) return DType::uint64;
  return DType::int64;
}

}  // namespace tessera
