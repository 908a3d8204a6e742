// Unstructured annotation (`uns`): a nested mapping of strings, numeric scalars and arrays
// (numpy's 0-, 1- and 2-D), string arrays, data frames and further mappings.
#pragma once

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tessera/anndata/dataframe.hpp"
#include "tessera/anndata/ordered_map.hpp"
#include "tessera/core/chunk.hpp"

namespace tessera {

// A numpy array of 0, 1 or 2 dimensions: `data` holds the values as a 2-D chunk ((1, 1) for a
// scalar, (1, n) for a vector); `shape` is the numpy shape.
struct NdArray {
  Chunk data;
  std::vector<index_t> shape;

  static NdArray scalar(const Chunk& one_by_one);
  template <typename T>
  static NdArray scalar(T value) {
    return {Chunk::from_values<T>({1, 1}, std::vector<T>{value}), {}};
  }
  template <typename T>
  static NdArray vector(std::vector<T> values) {
    const auto n = static_cast<index_t>(values.size());
    return {Chunk::from_values<T>({1, n}, std::move(values)), {n}};
  }
  static NdArray matrix(const Chunk& data) { return {data, {data.rows(), data.cols()}}; }
  [[nodiscard]] bool is_scalar() const { return shape.empty(); }
  friend bool operator==(const NdArray& a, const NdArray& b);
};

// An array of strings, 0-D (a numpy str scalar), 1-D or 2-D (row-major).
struct StringArray {
  std::vector<std::string> values;
  std::vector<index_t> shape;
  friend bool operator==(const StringArray&, const StringArray&) = default;
};

class UnsValue;
using Uns = OrderedMap<UnsValue>;

class UnsValue {
 public:
  using Mapping = std::shared_ptr<Uns>;
  using Variant = std::variant<std::string, NdArray, StringArray, DataFrame, Mapping>;

  UnsValue() : value_(std::string()) {}
  UnsValue(std::string text) : value_(std::move(text)) {}    // NOLINT: implicit, as Python values
  UnsValue(const char* text) : value_(std::string(text)) {}  // NOLINT
  UnsValue(NdArray array) : value_(std::move(array)) {}      // NOLINT
  UnsValue(StringArray array) : value_(std::move(array)) {}  // NOLINT
  UnsValue(DataFrame frame) : value_(std::move(frame)) {}    // NOLINT
  UnsValue(Uns mapping) : value_(std::make_shared<Uns>(std::move(mapping))) {}  // NOLINT

  [[nodiscard]] const Variant& get() const { return value_; }
  template <typename T>
  [[nodiscard]] bool holds() const {
    return std::holds_alternative<T>(value_);
  }
  template <typename T>
  [[nodiscard]] const T& as() const {
    return std::get<T>(value_);
  }
  [[nodiscard]] const Uns& mapping() const { return *std::get<Mapping>(value_); }
  [[nodiscard]] Uns& mapping() { return *std::get<Mapping>(value_); }
  [[nodiscard]] UnsValue deep_copy() const;
  friend bool operator==(const UnsValue& a, const UnsValue& b);

 private:
  Variant value_;
};

Uns deep_copy(const Uns& uns);
bool operator==(const Uns& a, const Uns& b);

}  // namespace tessera
