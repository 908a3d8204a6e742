// Unstructured annotation (`uns`): a nested mapping of strings, numeric scalars and arrays
// (numpy's 0-, 1- and 2-D), string arrays, data frames and further mappings.
#pragma once

#include <memory>
#include <optional>
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

// A numpy record (structured) array, as scanpy keeps rank_genes_groups/names: named fields of
// `length` records, numbers (an (length, count) chunk) or strings.
struct RecField {
  std::string name;
  std::optional<Chunk> values;       // numeric fields
  std::vector<std::string> strings;  // string fields (when values is empty)
};
struct RecArray {
  index_t length = 0;
  std::vector<RecField> fields;
  friend bool operator==(const RecArray& a, const RecArray& b);
};

// Python's None in uns (anndata's `null` encoding).
struct Null {
  friend bool operator==(const Null&, const Null&) = default;
};

// An element kept exactly as the file stored it and written back unchanged, without being
// understood (awkward arrays): a group of children, or an array of numbers or strings, each with
// its attributes (a JSON object, as text).
struct StoredElement {
  std::string attributes = "{}";
  bool is_group = false;
  std::optional<NdArray> values;                                // a numeric array
  std::optional<StringArray> strings;                           // a string array
  std::vector<std::pair<std::string, StoredElement>> children;  // a group, in stored order
  index_t length = -1;   // records along the axis it is aligned to, when the element says
  std::string encoding;  // "awkward-array 0.1.0": what it is, for messages and listings
  friend bool operator==(const StoredElement& a, const StoredElement& b);
};

class UnsValue;
using Uns = OrderedMap<UnsValue>;

class UnsValue {
 public:
  using Mapping = std::shared_ptr<Uns>;
  using Variant = std::variant<std::string, NdArray, StringArray, DataFrame, Mapping, RecArray,
                               Null, StoredElement>;

  UnsValue() : value_(std::string()) {}
  UnsValue(std::string text) : value_(std::move(text)) {}    // NOLINT: implicit, as Python values
  UnsValue(const char* text) : value_(std::string(text)) {}  // NOLINT
  UnsValue(NdArray array) : value_(std::move(array)) {}      // NOLINT
  UnsValue(StringArray array) : value_(std::move(array)) {}  // NOLINT
  UnsValue(DataFrame frame) : value_(std::move(frame)) {}    // NOLINT
  UnsValue(Uns mapping) : value_(std::make_shared<Uns>(std::move(mapping))) {}  // NOLINT
  UnsValue(RecArray records) : value_(std::move(records)) {}                    // NOLINT
  UnsValue(Null none) : value_(none) {}                                         // NOLINT
  UnsValue(StoredElement element) : value_(std::move(element)) {}               // NOLINT

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
