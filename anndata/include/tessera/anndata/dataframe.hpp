// DataFrame: the obs/var annotation tables of AnnData, a string index and ordered columns of the
// kinds anndata stores: numeric, bool, string, categorical (ordered or not, missing = code -1),
// nullable integer and nullable bool (values + mask, true = missing). Values live in Chunks of
// shape (n, 1), so numeric dtypes survive the round trip through files.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tessera/anndata/ordered_map.hpp"
#include "tessera/core/chunk.hpp"

namespace tessera {

enum class ColumnKind : std::uint8_t {
  numeric,
  boolean,
  string,
  categorical,
  nullable_integer,
  nullable_boolean,
  nullable_string  // pandas' StringDtype: strings + mask (anndata's nullable-string-array)
};

std::string_view name(ColumnKind kind);

class Column {
 public:
  Column();  // an empty float64 column
  // Numeric or bool values: a dense (n, 1) or (1, n) chunk.
  static Column values(const Chunk& values);
  template <typename T>
  static Column from(std::vector<T> values) {
    const Shape shape{static_cast<index_t>(values.size()), 1};
    return Column::values(Chunk::from_values<T>(shape, std::move(values)));
  }
  static Column from(const std::vector<bool>& values);
  static Column strings(std::vector<std::string> values);
  // Categorical from values: categories are the sorted distinct values unless given; a value
  // that is nullopt is missing (code -1). ValueError for a value not among given categories.
  static Column categorical(const std::vector<std::optional<std::string>>& values,
                            std::optional<std::vector<std::string>> categories = std::nullopt,
                            bool ordered = false);
  // Categorical from codes (signed integers, -1 = missing) and categories (a string or numeric
  // column of distinct values). IndexError for a code outside [-1, categories).
  static Column categorical_from_codes(const Chunk& codes, Column categories, bool ordered);
  // Nullable integer (values of an integer dtype) or bool, with mask (true = missing).
  static Column nullable(const Chunk& values, std::vector<bool> mask);
  // Nullable strings (mask true = missing; the value there is ignored). `na_value` is how the
  // file spells missing ("NA" for pd.NA, "NaN" for np.nan, empty when it did not say).
  static Column nullable_strings(std::vector<std::string> values, std::vector<bool> mask,
                                 std::string na_value = {});

  [[nodiscard]] ColumnKind kind() const { return kind_; }
  // String or nullable string: the values are string_values().
  [[nodiscard]] bool holds_strings() const;
  [[nodiscard]] index_t size() const;
  // dtype of the values (numeric, bool, nullable) or of the codes (categorical); string: none.
  [[nodiscard]] DType dtype() const { return values_.dtype(); }
  [[nodiscard]] const Chunk& values() const { return values_; }  // codes for categorical
  [[nodiscard]] const std::vector<std::string>& string_values() const { return strings_; }
  [[nodiscard]] const Column& categories() const;
  [[nodiscard]] bool ordered() const { return ordered_; }
  [[nodiscard]] const std::vector<bool>& mask() const { return mask_; }
  [[nodiscard]] const std::string& na_value() const { return na_value_; }

  [[nodiscard]] bool is_missing(index_t i) const;
  // Element i as text (the category for categoricals; numbers as Python prints them).
  [[nodiscard]] std::string text_at(index_t i) const;
  // Element i as a number (the code's category must be numeric); NaN when missing.
  [[nodiscard]] double number_at(index_t i) const;

  [[nodiscard]] Column take(std::span<const index_t> rows) const;
  // A column of `n` missing values of the same kind (concat's outer join).
  [[nodiscard]] Column missing_like(index_t n) const;
  // Element-wise equality with a value: obs["batch"] == "b". Missing values compare false.
  [[nodiscard]] std::vector<bool> operator==(std::string_view value) const;
  [[nodiscard]] std::vector<bool> operator==(double value) const;
  // Deep copy of every buffer.
  [[nodiscard]] Column deep_copy() const;

  // Same kind, dtype and values (NaN equal NaN), categories and orderedness.
  friend bool operator==(const Column& a, const Column& b);

  // Joins columns end to end (pandas.concat of Series). Same kinds join as that kind;
  // categoricals merge their categories (sorted union unless all are equal); numeric with
  // different dtypes promote; mixtures of strings and categoricals become categorical; anything
  // else is a ValueError naming the kinds.
  static Column concat(const std::vector<Column>& parts);

 private:
  ColumnKind kind_ = ColumnKind::numeric;
  Chunk values_;
  std::vector<std::string> strings_;
  std::vector<bool> mask_;
  std::shared_ptr<const Column> categories_;
  bool ordered_ = false;
  std::string na_value_;
};

class DataFrame {
 public:
  // `name` is used in error messages ("obs", "var", …).
  explicit DataFrame(std::string name = "dataframe");
  DataFrame(std::vector<std::string> index, std::string name = "dataframe");
  // An index "0", "1", … n-1, as anndata makes for missing names.
  static DataFrame range_index(index_t n, std::string name = "dataframe");

  [[nodiscard]] const std::string& name() const { return name_; }
  void set_name(std::string name);
  [[nodiscard]] index_t size() const { return static_cast<index_t>(index_.size()); }
  [[nodiscard]] const std::vector<std::string>& index() const { return index_; }
  // Replaces the index; ShapeError if the length differs from the rows.
  void set_index(std::vector<std::string> index);
  [[nodiscard]] const std::string& index_name() const { return index_name_; }
  void set_index_name(std::string name) { index_name_ = std::move(name); }
  [[nodiscard]] bool index_is_unique() const;
  // Appends "-1", "-2", … to repeated names, as anndata's obs_names_make_unique.
  void make_index_unique(const std::string& join = "-");

  [[nodiscard]] const OrderedMap<Column>& columns() const { return columns_; }
  [[nodiscard]] bool contains(std::string_view column) const { return columns_.contains(column); }
  [[nodiscard]] const Column& operator[](std::string_view column) const;
  // Adds or replaces a column; ShapeError naming the column if its length differs.
  void set(std::string column, Column values);
  bool erase(std::string_view column) { return columns_.erase(column); }

  [[nodiscard]] DataFrame take(std::span<const index_t> rows) const;
  // Positions of names in the index; IndexError naming the first unknown name, ValueError when
  // the index is not unique (as pandas refuses to look names up then).
  [[nodiscard]] std::vector<index_t> positions(const std::vector<std::string>& names) const;
  [[nodiscard]] DataFrame deep_copy() const;
  friend bool operator==(const DataFrame& a, const DataFrame& b);

 private:
  std::string name_;
  std::vector<std::string> index_;
  std::string index_name_;
  OrderedMap<Column> columns_;
};

}  // namespace tessera
