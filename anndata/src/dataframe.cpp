#include "tessera/anndata/dataframe.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "tessera/core/error.hpp"

namespace tessera {
namespace {

// A fresh (n, 1) dense chunk from a dense or CSR chunk of shape (n, 1) or (1, n).
Chunk as_column_chunk(const Chunk& values, const char* what) {
  if (values.rows() != 1 && values.cols() != 1) {
    throw ShapeError(std::string(what) + ": column values must be one-dimensional, got shape " +
                     to_string(values.shape()));
  }
  const Chunk dense = values.to_dense();
  const bool across = dense.rows() == 1 && dense.cols() != 1;
  const index_t n = across ? dense.cols() : dense.rows();
  const auto item = static_cast<index_t>(itemsize(dense.dtype()));
  Chunk out = Chunk::dense(dense.dtype(), {n, 1});
  for (index_t i = 0; i < n; ++i) {
    const std::byte* src = across ? dense.raw_row(0) + i * item : dense.raw_row(i);
    std::memcpy(out.mutable_raw_row(i), src, static_cast<std::size_t>(item));
  }
  return out;
}

// Python's repr of a float: the shortest digits that round-trip, in fixed notation when the
// decimal exponent is in [-4, 16), else d.ddde±XX.
std::string python_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string sci(buf, result.ptr);  // "-1.2345e+02"
  const auto e = sci.find('e');
  const bool negative = sci[0] == '-';
  std::string digits;
  for (std::size_t i = negative ? 1 : 0; i < e; ++i) {
    if (sci[i] != '.') digits += sci[i];
  }
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    } else {
      const auto point = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= point) {
        out += digits + std::string(point - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, point) + "." + digits.substr(point);
      }
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp;
}

// An integer element exactly, whatever its width.
std::string integer_text(const Chunk& values, index_t i) {
  return dispatch(values.dtype(), [&](auto tag) -> std::string {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      return std::to_string(values.row<T>(i)[0]);
    } else {
      return python_float(values.value_at(i, 0));
    }
  });
}

std::vector<std::string> sorted_union(const std::vector<std::vector<std::string>>& lists) {
  std::set<std::string> all;
  for (const auto& l : lists)
    all.insert(l.begin(), l.end());
  return {all.begin(), all.end()};
}

Chunk codes_chunk(const std::vector<std::int64_t>& codes, index_t categories) {
  // pandas stores codes in the smallest signed integer type that holds them.
  const DType dtype = categories < 127     ? DType::int8
                      : categories < 32767 ? DType::int16
                                           : DType::int32;
  return Chunk::from_values<std::int64_t>({static_cast<index_t>(codes.size()), 1}, codes)
      .astype(dtype);
}

}  // namespace

std::string_view name(ColumnKind kind) {
  switch (kind) {
    case ColumnKind::numeric:
      return "numeric";
    case ColumnKind::boolean:
      return "bool";
    case ColumnKind::string:
      return "string";
    case ColumnKind::categorical:
      return "categorical";
    case ColumnKind::nullable_integer:
      return "nullable integer";
    case ColumnKind::nullable_boolean:
      return "nullable bool";
    case ColumnKind::nullable_string:
      return "nullable string";
  }
  return "?";
}

Column::Column() : values_(Chunk::dense(DType::float64, {0, 1})) {}

Column Column::values(const Chunk& values) {
  Column c;
  c.values_ = as_column_chunk(values, "column");
  c.kind_ = c.values_.dtype() == DType::boolean ? ColumnKind::boolean : ColumnKind::numeric;
  return c;
}

Column Column::from(const std::vector<bool>& values) {
  return Column::values(Chunk::from_values({static_cast<index_t>(values.size()), 1}, values));
}

Column Column::strings(std::vector<std::string> values) {
  Column c;
  c.kind_ = ColumnKind::string;
  c.strings_ = std::move(values);
  c.values_ = Chunk();
  return c;
}

Column Column::categorical(const std::vector<std::optional<std::string>>& values,
                           std::optional<std::vector<std::string>> categories, bool ordered) {
  std::vector<std::string> cats;
  if (categories) {
    cats = std::move(*categories);
  } else {
    std::set<std::string> distinct;
    for (const auto& v : values) {
      if (v) distinct.insert(*v);
    }
    cats.assign(distinct.begin(), distinct.end());
  }
  std::unordered_map<std::string, std::int64_t> code_of;
  for (std::size_t n = 0; n < cats.size(); ++n) {
    if (!code_of.emplace(cats[n], static_cast<std::int64_t>(n)).second) {
      throw ValueError("categorical: category '" + cats[n] + "' appears twice");
    }
  }
  std::vector<std::int64_t> codes;
  codes.reserve(values.size());
  for (const auto& v : values) {
    if (!v) {
      codes.push_back(-1);
      continue;
    }
    auto it = code_of.find(*v);
    if (it == code_of.end())
      throw ValueError("categorical: value '" + *v + "' is not among the categories");
    codes.push_back(it->second);
  }
  return categorical_from_codes(codes_chunk(codes, static_cast<index_t>(cats.size())),
                                Column::strings(cats), ordered);
}

Column Column::categorical_from_codes(const Chunk& codes, Column categories, bool ordered) {
  Column c;
  c.kind_ = ColumnKind::categorical;
  c.values_ = as_column_chunk(codes, "categorical codes");
  if (!is_signed_int(c.values_.dtype())) {
    throw ValueError("categorical codes must be signed integers, got " +
                     std::string(name(c.values_.dtype())));
  }
  if (categories.kind() == ColumnKind::categorical ||
      categories.kind() == ColumnKind::nullable_boolean ||
      categories.kind() == ColumnKind::nullable_integer) {
    throw ValueError("categorical: categories must be strings or numbers, got " +
                     std::string(name(categories.kind())));
  }
  const index_t n_cat = categories.size();
  for (index_t i = 0; i < c.values_.rows(); ++i) {
    const auto code = static_cast<index_t>(c.values_.value_at(i, 0));
    if (code < -1 || code >= n_cat) {
      throw IndexError("categorical code " + std::to_string(code) + " at row " + std::to_string(i) +
                       " is outside [-1, " + std::to_string(n_cat) + ") for " +
                       std::to_string(n_cat) + " categories");
    }
  }
  c.categories_ = std::make_shared<const Column>(std::move(categories));
  c.ordered_ = ordered;
  return c;
}

Column Column::nullable(const Chunk& values, std::vector<bool> mask) {
  Column c;
  c.values_ = as_column_chunk(values, "nullable column");
  if (c.values_.dtype() == DType::boolean) {
    c.kind_ = ColumnKind::nullable_boolean;
  } else if (is_integer(c.values_.dtype())) {
    c.kind_ = ColumnKind::nullable_integer;
  } else {
    throw ValueError("nullable columns hold integers or bools, got " +
                     std::string(name(c.values_.dtype())));
  }
  if (static_cast<index_t>(mask.size()) != c.values_.rows()) {
    throw ShapeError("nullable column: mask has " + std::to_string(mask.size()) + " entries for " +
                     std::to_string(c.values_.rows()) + " values");
  }
  c.mask_ = std::move(mask);
  return c;
}

Column Column::nullable_strings(std::vector<std::string> values, std::vector<bool> mask,
                                std::string na_value) {
  if (mask.size() != values.size()) {
    throw ShapeError("nullable string column: mask has " + std::to_string(mask.size()) +
                     " entries for " + std::to_string(values.size()) + " values");
  }
  Column c;
  c.kind_ = ColumnKind::nullable_string;
  c.strings_ = std::move(values);
  c.mask_ = std::move(mask);
  c.na_value_ = std::move(na_value);
  c.values_ = Chunk();
  return c;
}

bool Column::holds_strings() const {
  return kind_ == ColumnKind::string || kind_ == ColumnKind::nullable_string;
}

index_t Column::size() const {
  return holds_strings() ? static_cast<index_t>(strings_.size()) : values_.rows();
}

const Column& Column::categories() const {
  if (kind_ != ColumnKind::categorical)
    throw ValueError("a " + std::string(name(kind_)) + " column has no categories");
  return *categories_;
}

bool Column::is_missing(index_t i) const {
  switch (kind_) {
    case ColumnKind::numeric:
      return std::isnan(values_.value_at(i, 0));
    case ColumnKind::categorical:
      return values_.value_at(i, 0) < 0;
    case ColumnKind::nullable_integer:
    case ColumnKind::nullable_boolean:
    case ColumnKind::nullable_string:
      return mask_[i];
    default:
      return false;
  }
}

std::string Column::text_at(index_t i) const {
  switch (kind_) {
    case ColumnKind::string:
      return strings_.at(i);
    case ColumnKind::nullable_string:
      return is_missing(i) ? "<NA>" : strings_.at(i);
    case ColumnKind::categorical: {
      const auto code = static_cast<index_t>(values_.value_at(i, 0));
      return code < 0 ? "nan" : categories_->text_at(code);
    }
    case ColumnKind::boolean:
    case ColumnKind::nullable_boolean:
      if (is_missing(i)) return "<NA>";
      return values_.value_at(i, 0) != 0 ? "True" : "False";
    case ColumnKind::nullable_integer:
      if (is_missing(i)) return "<NA>";
      [[fallthrough]];
    case ColumnKind::numeric: {
      if (is_integer(values_.dtype())) return integer_text(values_, i);
      return python_float(values_.value_at(i, 0));
    }
  }
  return "";
}

double Column::number_at(index_t i) const {
  if (is_missing(i)) return std::nan("");
  switch (kind_) {
    case ColumnKind::string:
    case ColumnKind::nullable_string:
      throw ValueError("number_at of a string column");
    case ColumnKind::categorical:
      return categories_->number_at(static_cast<index_t>(values_.value_at(i, 0)));
    default:
      return values_.value_at(i, 0);
  }
}

Column Column::take(std::span<const index_t> rows) const {
  Column c = *this;
  if (holds_strings()) {
    c.strings_.clear();
    c.strings_.reserve(rows.size());
    c.mask_.clear();
    for (index_t r : rows) {
      if (r < 0 || r >= size()) throw IndexError("row " + std::to_string(r) + " is out of range");
      c.strings_.push_back(strings_[r]);
      if (!mask_.empty()) c.mask_.push_back(mask_[r]);
    }
    return c;
  }
  const auto n = static_cast<index_t>(rows.size());
  const std::size_t item = itemsize(values_.dtype());
  Chunk out = Chunk::dense(values_.dtype(), {n, 1});
  for (index_t k = 0; k < n; ++k) {
    if (rows[k] < 0 || rows[k] >= size())
      throw IndexError("row " + std::to_string(rows[k]) + " is out of range");
    std::memcpy(out.mutable_raw_row(k), values_.raw_row(rows[k]), item);
  }
  c.values_ = out;
  if (!mask_.empty()) {
    c.mask_.assign(static_cast<std::size_t>(n), false);
    for (index_t k = 0; k < n; ++k)
      c.mask_[k] = mask_[rows[k]];
  }
  return c;
}

Column Column::missing_like(index_t n) const {
  switch (kind_) {
    case ColumnKind::numeric:
      // pandas fills with NaN, so integers become float64.
      return Column::values(
          Chunk::dense_filled(is_float(dtype()) ? dtype() : DType::float64, {n, 1}, std::nan("")));
    case ColumnKind::boolean:
    case ColumnKind::nullable_boolean:
      return Column::nullable(Chunk::dense_filled(DType::boolean, {n, 1}, 0),
                              std::vector<bool>(n, true));
    case ColumnKind::nullable_integer:
      return Column::nullable(Chunk::dense_filled(dtype(), {n, 1}, 0), std::vector<bool>(n, true));
    case ColumnKind::nullable_string:
      return Column::nullable_strings(std::vector<std::string>(static_cast<std::size_t>(n)),
                                      std::vector<bool>(static_cast<std::size_t>(n), true),
                                      na_value_);
    case ColumnKind::string:
    case ColumnKind::categorical: {
      Column cats = kind_ == ColumnKind::categorical ? *categories_ : Column::strings({});
      return categorical_from_codes(Chunk::dense_filled(DType::int8, {n, 1}, -1), std::move(cats),
                                    ordered_);
    }
  }
  return {};
}

std::vector<bool> Column::operator==(std::string_view value) const {
  std::vector<bool> out(static_cast<std::size_t>(size()), false);
  if (holds_strings()) {
    for (index_t i = 0; i < size(); ++i)
      out[i] = !is_missing(i) && strings_[i] == value;
  } else if (kind_ == ColumnKind::categorical && categories_->kind() == ColumnKind::string) {
    const auto& cats = categories_->string_values();
    const auto it = std::find(cats.begin(), cats.end(), value);
    if (it == cats.end()) return out;
    const auto code = static_cast<double>(it - cats.begin());
    for (index_t i = 0; i < size(); ++i)
      out[i] = values_.value_at(i, 0) == code;
  }
  return out;
}

std::vector<bool> Column::operator==(double value) const {
  std::vector<bool> out(static_cast<std::size_t>(size()), false);
  if (holds_strings()) return out;
  if (kind_ == ColumnKind::categorical && categories_->kind() == ColumnKind::string) return out;
  for (index_t i = 0; i < size(); ++i)
    out[i] = !is_missing(i) && number_at(i) == value;
  return out;
}

Column Column::deep_copy() const {
  Column c = *this;
  if (!holds_strings()) c.values_ = values_.deep_copy();
  if (categories_) c.categories_ = std::make_shared<const Column>(categories_->deep_copy());
  return c;
}

bool operator==(const Column& a, const Column& b) {
  if (a.kind_ != b.kind_ || a.size() != b.size() || a.ordered_ != b.ordered_ || a.mask_ != b.mask_)
    return false;
  if (a.kind_ == ColumnKind::nullable_string) {
    for (std::size_t i = 0; i < a.strings_.size(); ++i) {
      if (!a.mask_[i] && a.strings_[i] != b.strings_[i]) return false;
    }
    return true;
  }
  if (a.kind_ == ColumnKind::string) return a.strings_ == b.strings_;
  if (a.values_.dtype() != b.values_.dtype() || !array_equal(a.values_, b.values_)) return false;
  if (a.kind_ == ColumnKind::categorical) return *a.categories_ == *b.categories_;
  return true;
}

Column Column::concat(const std::vector<Column>& parts) {
  if (parts.empty()) return {};
  if (parts.size() == 1) return parts[0];
  bool all_same_kind = true, texty = true;
  for (const auto& p : parts) {
    all_same_kind = all_same_kind && p.kind_ == parts[0].kind_;
    texty = texty &&
            (p.kind_ == ColumnKind::string ||
             (p.kind_ == ColumnKind::categorical && p.categories_->kind() == ColumnKind::string));
  }
  if (all_same_kind && parts[0].kind_ == ColumnKind::string) {
    std::vector<std::string> all;
    for (const auto& p : parts)
      all.insert(all.end(), p.strings_.begin(), p.strings_.end());
    return Column::strings(std::move(all));
  }
  bool strings_only = true, any_nullable_string = false;
  for (const auto& p : parts) {
    strings_only = strings_only && p.holds_strings();
    any_nullable_string = any_nullable_string || p.kind_ == ColumnKind::nullable_string;
  }
  if (strings_only && any_nullable_string) {
    // pandas: string[python] joined with object strings stays a string dtype.
    std::vector<std::string> all;
    std::vector<bool> mask;
    for (const auto& p : parts) {
      all.insert(all.end(), p.strings_.begin(), p.strings_.end());
      for (index_t i = 0; i < p.size(); ++i)
        mask.push_back(p.is_missing(i));
    }
    std::string na;
    for (const auto& p : parts) {
      if (na.empty()) na = p.na_value_;
    }
    return Column::nullable_strings(std::move(all), std::move(mask), na);
  }
  if (texty) {
    // Categoricals (and strings) merge into one categorical: the categories themselves when all
    // parts share them, else their sorted union.
    std::vector<std::vector<std::string>> lists;
    bool same = true, ordered = true;
    for (const auto& p : parts) {
      lists.push_back(p.kind_ == ColumnKind::categorical ? p.categories_->strings_ : p.strings_);
      if (p.kind_ != ColumnKind::categorical || parts[0].kind_ != ColumnKind::categorical ||
          p.categories_->strings_ != parts[0].categories_->strings_) {
        same = false;
      }
      ordered = ordered && p.kind_ == ColumnKind::categorical && p.ordered_;
    }
    std::vector<std::optional<std::string>> values;
    for (const auto& p : parts) {
      for (index_t i = 0; i < p.size(); ++i) {
        values.push_back(p.is_missing(i) ? std::nullopt : std::optional<std::string>(p.text_at(i)));
      }
    }
    std::vector<std::string> cats = same ? parts[0].categories_->strings_ : sorted_union(lists);
    return Column::categorical(values, std::move(cats), same && ordered);
  }
  if (all_same_kind && parts[0].kind_ == ColumnKind::categorical) {
    // Numeric categories: the categories themselves when all parts share them, else their sorted
    // union (as pandas' union of categoricals), in the promoted dtype.
    bool same = true, ordered = true, numeric = true;
    DType dtype = parts[0].categories_->dtype();
    for (const auto& p : parts) {
      numeric = numeric && p.categories_->kind() == ColumnKind::numeric;
      same = same && *p.categories_ == *parts[0].categories_;
      ordered = ordered && p.ordered_;
      if (numeric) dtype = promote(dtype, p.categories_->dtype());
    }
    if (!numeric) throw ValueError("cannot join categorical columns of these categories");
    std::vector<double> cats;
    if (same) {
      for (index_t i = 0; i < parts[0].categories_->size(); ++i)
        cats.push_back(parts[0].categories_->number_at(i));
    } else {
      std::set<double> all;
      for (const auto& p : parts) {
        for (index_t i = 0; i < p.categories_->size(); ++i)
          all.insert(p.categories_->number_at(i));
      }
      cats.assign(all.begin(), all.end());
    }
    std::map<double, std::int64_t> code_of;
    for (std::size_t i = 0; i < cats.size(); ++i)
      code_of.emplace(cats[i], static_cast<std::int64_t>(i));
    std::vector<std::int64_t> codes;
    for (const auto& p : parts) {
      for (index_t i = 0; i < p.size(); ++i)
        codes.push_back(p.is_missing(i) ? -1 : code_of.at(p.number_at(i)));
    }
    const Column categories = same
                                  ? *parts[0].categories_
                                  : Column::values(Chunk::from_values<double>(
                                                       {static_cast<index_t>(cats.size()), 1}, cats)
                                                       .astype(dtype));
    return categorical_from_codes(codes_chunk(codes, categories.size()), categories,
                                  same && ordered);
  }
  const auto numeric_like = [](ColumnKind k) {
    return k == ColumnKind::numeric || k == ColumnKind::boolean;
  };
  const auto nullable_like = [&](ColumnKind k) {
    return k == ColumnKind::nullable_integer || k == ColumnKind::nullable_boolean ||
           numeric_like(k);
  };
  bool any_nullable = false, all_ok = true;
  DType dtype = parts[0].values_.dtype();
  for (const auto& p : parts) {
    any_nullable = any_nullable || p.kind_ == ColumnKind::nullable_integer ||
                   p.kind_ == ColumnKind::nullable_boolean;
    all_ok = all_ok && nullable_like(p.kind_);
    dtype = promote(dtype, p.values_.dtype());
  }
  if (!all_ok) {
    std::string kinds;
    for (const auto& p : parts)
      kinds += std::string(kinds.empty() ? "" : ", ") + std::string(name(p.kind_));
    throw ValueError("cannot join columns of kinds " + kinds);
  }
  index_t n = 0;
  for (const auto& p : parts)
    n += p.size();
  std::vector<Chunk> chunks;
  std::vector<bool> mask;
  for (const auto& p : parts) {
    chunks.push_back(p.values_.astype(dtype));
    for (index_t i = 0; i < p.size(); ++i)
      mask.push_back(!p.mask_.empty() && p.mask_[i]);
  }
  const Chunk joined = assemble_blocks(chunks, static_cast<index_t>(chunks.size()), 1);
  if (any_nullable) {
    if (is_float(dtype)) {
      // A nullable integer joined with floats: pandas gives floats with NaN for missing.
      Chunk out = joined.deep_copy();
      for (index_t i = 0; i < n; ++i) {
        if (mask[i]) out.mutable_row<double>(i)[0] = std::nan("");
      }
      return Column::values(dtype == DType::float64 ? out : out.astype(dtype));
    }
    return Column::nullable(joined, std::move(mask));
  }
  return Column::values(joined);
}

DataFrame::DataFrame(std::string name) : name_(std::move(name)), columns_(name_) {}

DataFrame::DataFrame(std::vector<std::string> index, std::string name)
    : name_(std::move(name)), index_(std::move(index)), columns_(name_) {}

DataFrame DataFrame::range_index(index_t n, std::string name) {
  if (n < 0) throw ShapeError(name + ": a table cannot have " + std::to_string(n) + " rows");
  std::vector<std::string> index;
  index.reserve(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i)
    index.push_back(std::to_string(i));
  return {std::move(index), std::move(name)};
}

void DataFrame::set_name(std::string name) {
  name_ = std::move(name);
  OrderedMap<Column> renamed(name_);
  for (auto& [k, v] : columns_)
    renamed.set(k, std::move(v));
  columns_ = std::move(renamed);
}

void DataFrame::set_index(std::vector<std::string> index) {
  if (static_cast<index_t>(index.size()) != size()) {
    throw ShapeError(name_ + ": new index has " + std::to_string(index.size()) +
                     " names but the table has " + std::to_string(size()) + " rows");
  }
  index_ = std::move(index);
}

bool DataFrame::index_is_unique() const {
  std::unordered_set<std::string_view> seen;
  for (const auto& s : index_) {
    if (!seen.insert(s).second) return false;
  }
  return true;
}

void DataFrame::make_index_unique(const std::string& join) {
  // anndata's make_index_unique: the first occurrence keeps its name, later ones get -1, -2, …
  // skipping names that already exist.
  std::unordered_set<std::string> taken(index_.begin(), index_.end());
  std::unordered_map<std::string, int> seen;
  for (auto& name : index_) {
    int& count = seen[name];
    if (count++ == 0) continue;
    std::string candidate;
    do {
      candidate = name + join + std::to_string(count - 1);
      if (taken.contains(candidate)) ++count;
    } while (taken.contains(candidate));
    taken.insert(candidate);
    name = candidate;
  }
}

const Column& DataFrame::operator[](std::string_view column) const {
  if (!columns_.contains(column))
    throw IndexError(name_ + " has no column '" + std::string(column) + "'");
  return columns_.at(column);
}

void DataFrame::set(std::string column, Column values) {
  if (values.size() != size()) {
    throw ShapeError(name_ + "['" + column + "']: the column has " + std::to_string(values.size()) +
                     " values but the table has " + std::to_string(size()) + " rows");
  }
  columns_.set(std::move(column), std::move(values));
}

DataFrame DataFrame::take(std::span<const index_t> rows) const {
  DataFrame out(name_);
  out.index_name_ = index_name_;
  out.index_.reserve(rows.size());
  for (index_t r : rows) {
    if (r < 0 || r >= size()) {
      throw IndexError(name_ + ": row " + std::to_string(r) + " is out of range for " +
                       std::to_string(size()) + " rows");
    }
    out.index_.push_back(index_[r]);
  }
  for (const auto& [k, v] : columns_)
    out.columns_.set(k, v.take(rows));
  return out;
}

std::vector<index_t> DataFrame::positions(const std::vector<std::string>& names) const {
  std::unordered_map<std::string_view, index_t> where;
  where.reserve(index_.size());
  for (index_t i = 0; i < size(); ++i) {
    if (!where.emplace(index_[i], i).second) {
      throw ValueError(name_ + " names are not unique ('" + index_[i] +
                       "' repeats), so names cannot select; call make_index_unique first");
    }
  }
  std::vector<index_t> out;
  out.reserve(names.size());
  for (const auto& n : names) {
    auto it = where.find(n);
    if (it == where.end()) throw IndexError(name_ + " has no name '" + n + "'");
    out.push_back(it->second);
  }
  return out;
}

DataFrame DataFrame::deep_copy() const {
  DataFrame out = *this;
  for (auto& [k, v] : out.columns_)
    v = v.deep_copy();
  return out;
}

bool operator==(const DataFrame& a, const DataFrame& b) {
  if (a.index_ != b.index_ || a.columns_.keys() != b.columns_.keys()) return false;
  for (const auto& [k, v] : a.columns_) {
    if (!(v == b.columns_.at(k))) return false;
  }
  return true;
}

}  // namespace tessera
