// Element types of Tessera arrays, with numpy's names and promotion rules (for the subset of
// numpy dtypes that AnnData files use). `dispatch` turns a runtime DType into a C++ type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "tessera/core/error.hpp"

namespace tessera {

enum class DType : std::uint8_t {
  boolean,
  int8,
  int16,
  int32,
  int64,
  uint8,
  uint16,
  uint32,
  uint64,
  float32,
  float64,
};

inline constexpr int kDTypeCount = 11;

// numpy's name: "bool", "int8", …, "float64".
std::string_view name(DType dtype);
// Parses numpy's name; throws ValueError naming the text when it is not a dtype.
DType dtype_from_name(std::string_view text);
std::size_t itemsize(DType dtype);

bool is_float(DType dtype);
bool is_signed_int(DType dtype);
bool is_unsigned_int(DType dtype);
inline bool is_integer(DType d) {
  return is_signed_int(d) || is_unsigned_int(d);
}

// numpy's result type for an operation mixing two arrays (np.result_type).
DType promote(DType a, DType b);
// The float type numpy computes in for a float function of this type (np.sqrt of int32 → float64).
DType float_result(DType dtype);
// Accumulator type numpy uses for sum (np.sum of int32 → int64, of uint8 → uint64, of bool →
// int64).
DType sum_result(DType dtype);

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<bool> {
  static constexpr DType value = DType::boolean;
};
template <>
struct DTypeOf<std::int8_t> {
  static constexpr DType value = DType::int8;
};
template <>
struct DTypeOf<std::int16_t> {
  static constexpr DType value = DType::int16;
};
template <>
struct DTypeOf<std::int32_t> {
  static constexpr DType value = DType::int32;
};
template <>
struct DTypeOf<std::int64_t> {
  static constexpr DType value = DType::int64;
};
template <>
struct DTypeOf<std::uint8_t> {
  static constexpr DType value = DType::uint8;
};
template <>
struct DTypeOf<std::uint16_t> {
  static constexpr DType value = DType::uint16;
};
template <>
struct DTypeOf<std::uint32_t> {
  static constexpr DType value = DType::uint32;
};
template <>
struct DTypeOf<std::uint64_t> {
  static constexpr DType value = DType::uint64;
};
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::float32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::float64;
};
template <typename T>
inline constexpr DType dtype_of = DTypeOf<T>::value;

// A value standing for a C++ type, passed to dispatch's callback: `using T = decltype(tag)::type`.
template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) with the C++ type T of `dtype`.
template <typename F>
decltype(auto) dispatch(DType dtype, F&& f) {
  switch (dtype) {
    case DType::boolean:
      return std::forward<F>(f)(TypeTag<bool>{});
    case DType::int8:
      return std::forward<F>(f)(TypeTag<std::int8_t>{});
    case DType::int16:
      return std::forward<F>(f)(TypeTag<std::int16_t>{});
    case DType::int32:
      return std::forward<F>(f)(TypeTag<std::int32_t>{});
    case DType::int64:
      return std::forward<F>(f)(TypeTag<std::int64_t>{});
    case DType::uint8:
      return std::forward<F>(f)(TypeTag<std::uint8_t>{});
    case DType::uint16:
      return std::forward<F>(f)(TypeTag<std::uint16_t>{});
    case DType::uint32:
      return std::forward<F>(f)(TypeTag<std::uint32_t>{});
    case DType::uint64:
      return std::forward<F>(f)(TypeTag<std::uint64_t>{});
    case DType::float32:
      return std::forward<F>(f)(TypeTag<float>{});
    case DType::float64:
      return std::forward<F>(f)(TypeTag<double>{});
  }
  throw InternalError("dispatch: invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

}  // namespace tessera
