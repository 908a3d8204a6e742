#include "tessera/anndata/anndata.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <tuple>
#include <unordered_map>

#include "tessera/core/error.hpp"
#include "tessera/distributed/context.hpp"

namespace tessera {
namespace {

std::string shape_text(index_t rows, index_t cols) {
  std::string s = "(";
  if (rows >= 0) s += std::to_string(rows);
  if (rows >= 0 && cols >= 0) s += ", ";
  if (cols >= 0) s += std::to_string(cols);
  if (cols < 0) s += ",";
  return s + ")";
}

// An in-memory chunk as an array, one chunk (or the given chunking) over it, zero-copy.
Array in_memory_array(const Chunk& data, const std::optional<ChunkGrid>& chunks = std::nullopt) {
  if (chunks) return from_chunk(data, ChunkSpec(*chunks));
  return from_chunk(
      data, ChunkSpec(std::max<index_t>(data.rows(), 1), std::max<index_t>(data.cols(), 1)));
}

Uns copy_uns(const Uns& uns, bool copy_data);

UnsValue copy_value(const UnsValue& v, bool copy_data) {
  return std::visit(
      [&](const auto& x) -> UnsValue {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, UnsValue::Mapping>) {
          return copy_uns(*x, copy_data);
        } else if constexpr (std::is_same_v<T, NdArray>) {
          return copy_data ? NdArray{x.data.deep_copy(), x.shape} : x;
        } else if constexpr (std::is_same_v<T, DataFrame>) {
          return copy_data ? x.deep_copy() : x;
        } else if constexpr (std::is_same_v<T, RecArray>) {
          RecArray out = x;
          if (copy_data) {
            for (RecField& f : out.fields) {
              if (f.values) f.values = f.values->deep_copy();
            }
          }
          return out;
        } else {
          return x;
        }
      },
      v.get());
}

Uns copy_uns(const Uns& uns, bool copy_data) {
  Uns out(uns.name());
  for (const auto& [k, v] : uns)
    out.set(k, copy_value(v, copy_data));
  return out;
}

}  // namespace

// ---- uns ---------------------------------------------------------------------------------------

NdArray NdArray::scalar(const Chunk& one_by_one) {
  if (one_by_one.shape() != Shape{1, 1}) {
    throw ShapeError("a numeric scalar needs a 1 x 1 chunk, got " + to_string(one_by_one.shape()));
  }
  return {one_by_one, {}};
}

bool operator==(const NdArray& a, const NdArray& b) {
  return a.shape == b.shape && a.data.dtype() == b.data.dtype() &&
         a.data.layout() == b.data.layout() && array_equal(a.data, b.data);
}

bool operator==(const RecArray& a, const RecArray& b) {
  if (a.length != b.length || a.fields.size() != b.fields.size()) return false;
  for (std::size_t i = 0; i < a.fields.size(); ++i) {
    const RecField& x = a.fields[i];
    const RecField& y = b.fields[i];
    if (x.name != y.name || x.values.has_value() != y.values.has_value() || x.strings != y.strings)
      return false;
    if (x.values && (x.values->dtype() != y.values->dtype() || !array_equal(*x.values, *y.values)))
      return false;
  }
  return true;
}

bool operator==(const StoredElement& a, const StoredElement& b) {
  return a.attributes == b.attributes && a.is_group == b.is_group && a.values == b.values &&
         a.strings == b.strings && a.children == b.children && a.length == b.length;
}

UnsValue UnsValue::deep_copy() const {
  return copy_value(*this, true);
}

bool operator==(const UnsValue& a, const UnsValue& b) {
  if (a.get().index() != b.get().index()) return false;
  if (a.holds<UnsValue::Mapping>()) return a.mapping() == b.mapping();
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, UnsValue::Mapping>) {
          return false;
        } else {
          return x == std::get<T>(b.get());
        }
      },
      a.get());
}

Uns deep_copy(const Uns& uns) {
  return copy_uns(uns, true);
}

bool operator==(const Uns& a, const Uns& b) {
  if (a.keys() != b.keys()) return false;
  for (const auto& [k, v] : a) {
    if (!(v == b.at(k))) return false;
  }
  return true;
}

// ---- aligned arrays ----------------------------------------------------------------------------

AlignedArrays::AlignedArrays(std::string name, index_t rows, index_t cols)
    : arrays_(name), frames_(name), stored_(name), rows_(rows), cols_(cols) {}

void AlignedArrays::place(const std::string& key) {
  arrays_.erase(key);
  frames_.erase(key);
  stored_.erase(key);
  if (std::find(order_.begin(), order_.end(), key) == order_.end()) order_.push_back(key);
}

void AlignedArrays::set(std::string key, Array value) {
  const Shape s = value.shape();
  if ((rows_ >= 0 && s.rows != rows_) || (cols_ >= 0 && s.cols != cols_)) {
    throw ShapeError("Value passed for " + name() + "[" + python_repr(key) +
                     "] is of incorrect shape " + to_string(s) + ": values of " + name() +
                     " must have shape " + shape_text(rows_, cols_) +
                     (cols_ < 0 ? " in their first dimension" : ""));
  }
  place(key);
  arrays_.set(std::move(key), std::move(value));
}

void AlignedArrays::set(std::string key, const Chunk& value) {
  set(std::move(key), in_memory_array(value));
}

void AlignedArrays::set(std::string key, DataFrame frame) {
  if (cols_ >= 0) {
    throw ValueError(name() + "[" + python_repr(key) + "]: " + name() +
                     " holds arrays only, not data frames");
  }
  if (rows_ >= 0 && frame.size() != rows_) {
    throw ShapeError("Value passed for " + name() + "[" + python_repr(key) + "] has " +
                     std::to_string(frame.size()) + " rows: data frames in " + name() +
                     " must have " + std::to_string(rows_));
  }
  place(key);
  frames_.set(std::move(key), std::move(frame));
}

void AlignedArrays::set(std::string key, StoredElement element) {
  if (rows_ >= 0 && element.length >= 0 && element.length != rows_) {
    throw ShapeError("Value passed for " + name() + "[" + python_repr(key) + "] has length " +
                     std::to_string(element.length) + ": values of " + name() + " must have " +
                     std::to_string(rows_));
  }
  place(key);
  stored_.set(std::move(key), std::move(element));
}

bool AlignedArrays::has_key(std::string_view key) const {
  return arrays_.contains(key) || frames_.contains(key) || stored_.contains(key);
}

bool AlignedArrays::erase(std::string_view key) {
  const bool found = arrays_.erase(key) || frames_.erase(key) || stored_.erase(key);
  if (found) order_.erase(std::find(order_.begin(), order_.end(), key));
  return found;
}

// ---- axis indices ------------------------------------------------------------------------------

AxisIndex AxisIndex::names(std::vector<std::string> names) {
  AxisIndex index;
  index.names_ = std::move(names);
  return index;
}

std::vector<index_t> AxisIndex::resolve(const std::vector<std::string>& axis_names,
                                        const char* axis, const DataFrame& frame) const {
  try {
    if (names_) return frame.positions(*names_);
    return selector_.resolve(static_cast<index_t>(axis_names.size()));
  } catch (const IndexError& e) {
    throw IndexError(std::string("selecting ") + axis + ": " + e.what());
  }
}

// ---- AnnData -----------------------------------------------------------------------------------

AnnData::AnnData(index_t n_obs, index_t n_vars)
    : obs_(DataFrame::range_index(n_obs, "obs")), var_(DataFrame::range_index(n_vars, "var")) {
  if (n_obs < 0 || n_vars < 0)
    throw ShapeError("AnnData: negative shape " + to_string(Shape{n_obs, n_vars}));
  reset_slots();
}

AnnData::AnnData(Array X, std::optional<DataFrame> obs, std::optional<DataFrame> var)
    : AnnData(obs ? std::move(*obs) : DataFrame::range_index(X.shape().rows, "obs"),
              var ? std::move(*var) : DataFrame::range_index(X.shape().cols, "var")) {
  set_X(std::move(X));
}

AnnData::AnnData(const Chunk& X, std::optional<DataFrame> obs, std::optional<DataFrame> var)
    : AnnData(in_memory_array(X), std::move(obs), std::move(var)) {}

AnnData::AnnData(DataFrame obs, DataFrame var) : obs_(std::move(obs)), var_(std::move(var)) {
  obs_.set_name("obs");
  var_.set_name("var");
  reset_slots();
}

void AnnData::reset_slots() {
  obsm_ = AlignedArrays("obsm", n_obs(), -1);
  varm_ = AlignedArrays("varm", n_vars(), -1);
  layers_ = AlignedArrays("layers", n_obs(), n_vars());
  obsp_ = AlignedArrays("obsp", n_obs(), n_obs());
  varp_ = AlignedArrays("varp", n_vars(), n_vars());
}

void AnnData::set_X(Array X) {
  if (X.shape() != shape()) {
    throw ShapeError("X of shape " + to_string(X.shape()) +
                     " does not fit an object with n_obs × n_vars = " + std::to_string(n_obs()) +
                     " × " + std::to_string(n_vars()));
  }
  X_ = std::move(X);
  is_view_ = false;
}

void AnnData::set_X(const Chunk& X) {
  set_X(in_memory_array(X));
}

void AnnData::set_obs(DataFrame obs) {
  if (obs.size() != n_obs()) {
    throw ShapeError("obs has " + std::to_string(obs.size()) + " rows but the object has " +
                     std::to_string(n_obs()) + " observations");
  }
  obs.set_name("obs");
  obs_ = std::move(obs);
}

void AnnData::set_var(DataFrame var) {
  if (var.size() != n_vars()) {
    throw ShapeError("var has " + std::to_string(var.size()) + " rows but the object has " +
                     std::to_string(n_vars()) + " variables");
  }
  var.set_name("var");
  var_ = std::move(var);
}

void AnnData::set_raw(Raw raw) {
  raw.var.set_name("raw.var");
  if (raw.X) {
    if (raw.X->shape().rows != n_obs()) {
      throw ShapeError("raw.X has " + std::to_string(raw.X->shape().rows) +
                       " rows but the object has " + std::to_string(n_obs()) + " observations");
    }
    if (raw.var.size() == 0 && raw.X->shape().cols > 0)
      raw.var = DataFrame::range_index(raw.X->shape().cols, "raw.var");
    if (raw.X->shape().cols != raw.var.size()) {
      throw ShapeError("raw.X has " + std::to_string(raw.X->shape().cols) +
                       " columns but raw.var has " + std::to_string(raw.var.size()) + " rows");
    }
  }
  AlignedArrays varm("raw.varm", raw.var.size(), -1);
  for (const std::string& k : raw.varm.keys()) {
    if (raw.varm.contains(k)) {
      varm.set(k, raw.varm[k]);
    } else if (raw.varm.frames().contains(k)) {
      varm.set(k, raw.varm.frames().at(k));
    } else {
      varm.set(k, raw.varm.stored().at(k));
    }
  }
  raw.varm = std::move(varm);
  raw_ = std::move(raw);
}

AnnData AnnData::operator()(const AxisIndex& obs, const AxisIndex& var) const {
  const std::vector<index_t> rows = obs.resolve(obs_names(), "obs", obs_);
  const std::vector<index_t> cols = var.resolve(var_names(), "var", var_);
  const Selector r = obs.is_all() ? Selector::all() : Selector::take(rows);
  const Selector c = var.is_all() ? Selector::all() : Selector::take(cols);
  AnnData v(obs_.take(rows), var_.take(cols));
  if (X_) v.X_ = (*X_)(r, c);
  for (const auto& [k, a] : layers_)
    v.layers_.set(k, a(r, c));
  // obsm and varm keep their key order: arrays, frames and stored elements alike.
  for (auto [src, dst, sel, positions, all] :
       {std::tuple{&obsm_, &v.obsm_, &r, &rows, obs.is_all()},
        std::tuple{&varm_, &v.varm_, &c, &cols, var.is_all()}}) {
    for (const std::string& k : src->keys()) {
      if (src->contains(k)) {
        dst->set(k, (*src)[k](*sel));
      } else if (src->frames().contains(k)) {
        dst->set(k, src->frames().at(k).take(*positions));
      } else if (all) {
        dst->set(k, src->stored().at(k));
      } else {
        throw ValueError(src->name() + "[" + python_repr(k) + "] is kept as stored (" +
                         src->stored().at(k).encoding +
                         ") and cannot be subset by Tessera; drop it before taking a view");
      }
    }
  }
  for (auto [src, dst, all] :
       {std::tuple{&layers_, &v.layers_, obs.is_all() && var.is_all()},
        std::tuple{&obsp_, &v.obsp_, obs.is_all()}, std::tuple{&varp_, &v.varp_, var.is_all()}}) {
    for (const auto& [k, element] : src->stored()) {
      if (!all) {
        throw ValueError(src->name() + "[" + python_repr(k) + "] is kept as stored (" +
                         element.encoding +
                         ") and cannot be subset by Tessera; drop it before taking a view");
      }
      dst->set(k, element);
    }
  }
  for (const auto& [k, a] : obsp_)
    v.obsp_.set(k, a(r, r));
  for (const auto& [k, a] : varp_)
    v.varp_.set(k, a(c, c));
  v.uns_ = copy_uns(uns_, false);
  if (raw_) {
    Raw raw;
    if (raw_->X) raw.X = (*raw_->X)(r);
    raw.var = raw_->var;
    raw.varm = raw_->varm;
    v.raw_ = std::move(raw);
  }
  v.is_view_ = true;
  return v;
}

AnnData AnnData::copy() const {
  AnnData c = *this;
  c.uns_ = copy_uns(uns_, false);
  c.is_view_ = false;
  return c;
}

AnnData AnnData::materialize(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& compute, bool copy,
    const std::function<bool(const Array&)>& materialized) const {
  // Every array slot, in a fixed order, so one collective computes them all.
  std::vector<const Array*> slots;
  if (X_) slots.push_back(&*X_);
  for (const AlignedArrays* m : {&layers_, &obsm_, &varm_, &obsp_, &varp_}) {
    for (const auto& [k, a] : *m)
      slots.push_back(&a);
  }
  if (raw_) {
    if (raw_->X) slots.push_back(&*raw_->X);
    for (const auto& [k, a] : raw_->varm)
      slots.push_back(&a);
  }
  // The lazy ones, each node once (an array set in two slots is computed once).
  std::vector<Array> lazy;
  std::unordered_map<const Node*, std::size_t> lazy_index;
  for (const Array* a : slots) {
    if (!materialized(*a) && lazy_index.emplace(a->node().get(), lazy.size()).second)
      lazy.push_back(*a);
  }
  const std::vector<Array> computed = compute(lazy);
  const auto resolve = [&](const Array& a) -> Array {
    if (!materialized(a)) return computed.at(lazy_index.at(a.node().get()));
    // Computed arrays are fresh: only those already materialized need copying for copy=true.
    if (!copy) return a;
    if (const Chunk* data = a.in_memory()) return in_memory_array(data->deep_copy(), a.chunks());
    return Context::deep_copy(a);
  };
  AnnData out = *this;
  if (X_) out.X_ = resolve(*X_);
  for (auto [src, dst] : {std::pair{&layers_, &out.layers_},
                          {&obsm_, &out.obsm_},
                          {&varm_, &out.varm_},
                          {&obsp_, &out.obsp_},
                          {&varp_, &out.varp_}}) {
    for (const auto& [k, a] : *src)
      dst->set(k, resolve(a));
  }
  if (raw_) {
    if (raw_->X) out.raw_->X = resolve(*raw_->X);
    for (const auto& [k, a] : raw_->varm)
      out.raw_->varm.set(k, resolve(a));
    if (copy) out.raw_->var = raw_->var.deep_copy();
  }
  out.uns_ = copy_uns(uns_, copy);
  if (copy) {
    out.obs_ = obs_.deep_copy();
    out.var_ = var_.deep_copy();
    for (auto [src, dst] : {std::pair{&obsm_, &out.obsm_}, std::pair{&varm_, &out.varm_}}) {
      for (const auto& [k, frame] : src->frames())
        dst->set(k, frame.deep_copy());
    }
  }
  out.is_view_ = false;
  return out;
}

namespace {
bool whole_in_memory(const Array& a) {
  return a.in_memory() != nullptr;
}
}  // namespace

AnnData AnnData::to_memory(bool copy) const {
  return materialize(
      [](const std::vector<Array>& arrays) {
        std::vector<Array> out;
        out.reserve(arrays.size());
        for (const auto& a : arrays)
          out.push_back(in_memory_array(a.compute(), a.chunks()));
        return out;
      },
      copy, whole_in_memory);
}

AnnData AnnData::to_memory(Context& ctx, bool copy, Residence residence) const {
  if (residence == Residence::distributed) {
    // Arrays in memory whole (the same on every rank) or persisted stay as they are.
    return materialize([&](const std::vector<Array>& arrays) { return ctx.persist(arrays); }, copy,
                       [](const Array& a) {
                         return a.in_memory() != nullptr || Context::ownership(a) != nullptr;
                       });
  }
  const int root = residence == Residence::root ? 0 : -1;
  return materialize(
      [&](const std::vector<Array>& arrays) {
        const std::vector<Chunk> chunks = ctx.compute(arrays, root);
        std::vector<Array> out;
        out.reserve(arrays.size());
        for (std::size_t n = 0; n < arrays.size(); ++n) {
          // Other ranks than the root keep the lazy array (residence.hpp).
          out.push_back(root >= 0 && ctx.rank() != root
                            ? arrays[n]
                            : in_memory_array(chunks[n], arrays[n].chunks()));
        }
        return out;
      },
      copy, whole_in_memory);
}

AnnData AnnData::transpose() const {
  AnnData t(var_, obs_);
  if (X_) t.X_ = X_->transpose();
  for (const auto& [k, a] : layers_)
    t.layers_.set(k, a.transpose());
  for (auto [src, dst] : {std::pair{&varm_, &t.obsm_}, std::pair{&obsm_, &t.varm_}}) {
    for (const std::string& k : src->keys()) {
      if (src->contains(k)) {
        dst->set(k, (*src)[k]);
      } else if (src->frames().contains(k)) {
        dst->set(k, src->frames().at(k));
      } else {
        dst->set(k, src->stored().at(k));
      }
    }
  }
  for (const auto& [k, a] : varp_)
    t.obsp_.set(k, a);
  for (const auto& [k, a] : obsp_)
    t.varp_.set(k, a);
  t.uns_ = copy_uns(uns_, false);
  return t;
}

namespace {

// Code points Python's str.isprintable() rejects outside ASCII: C1 controls, no-break and other
// spaces (Zs), line/paragraph separators, and the common format characters (Cf).
bool printable(char32_t c) {
  if (c < 0x20 || c == 0x7f) return false;
  if (c >= 0x80 && c <= 0xa0) return false;
  if (c == 0xad || c == 0x1680 || c == 0x180e || c == 0x202f || c == 0x205f || c == 0x3000 ||
      c == 0xfeff)
    return false;
  if (c >= 0x2000 && c <= 0x200f) return false;
  if (c >= 0x2028 && c <= 0x202e) return false;
  if (c >= 0x2060 && c <= 0x206f) return false;
  if (c >= 0xd800 && c <= 0xdfff) return false;
  if (c >= 0xe000 && c <= 0xf8ff) return false;  // private use
  if (c == 0xfff9 || c == 0xfffa || c == 0xfffb || c == 0xfffe || c == 0xffff) return false;
  return true;
}

// Decodes one UTF-8 sequence at text[i]; invalid bytes come back as themselves (0x80…0xff).
char32_t decode(std::string_view text, std::size_t& i) {
  const auto b = static_cast<unsigned char>(text[i]);
  int extra = b >= 0xf0 && b < 0xf8 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : 0;
  if (b >= 0x80 && b < 0xc0) extra = 0;
  char32_t c = extra == 0 ? b : b & (0x3f >> extra);
  if (i + static_cast<std::size_t>(extra) >= text.size() + (extra == 0 ? 1 : 0)) extra = 0;
  for (int k = 1; k <= extra; ++k) {
    const auto next = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
    if ((next & 0xc0) != 0x80) {
      ++i;
      return b;
    }
    c = (c << 6) | (next & 0x3f);
  }
  i += static_cast<std::size_t>(extra) + 1;
  return c;
}

}  // namespace

std::string python_repr(std::string_view text) {
  const bool double_quotes =
      text.find('\'') != std::string_view::npos && text.find('"') == std::string_view::npos;
  const char quote = double_quotes ? '"' : '\'';
  std::string out(1, quote);
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t start = i;
    const char32_t c = decode(text, i);
    char buf[16];
    switch (c) {
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    if (c == static_cast<char32_t>(quote)) {
      out += '\\';
      out += quote;
    } else if (printable(c)) {
      out.append(text.substr(start, i - start));
    } else {
      if (c < 0x100) {
        std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      } else if (c < 0x10000) {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      } else {
        std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
      }
      out += buf;
    }
  }
  out += quote;
  return out;
}

std::string AnnData::repr() const {
  std::string out = is_view_ ? "View of " : "";
  out += "AnnData object with n_obs × n_vars = " + std::to_string(n_obs()) + " × " +
         std::to_string(n_vars());
  const auto line = [&](const char* attr, const std::vector<std::string>& keys) {
    if (keys.empty()) return;
    out += "\n    ";
    out += attr;
    out += ": ";
    for (std::size_t n = 0; n < keys.size(); ++n) {
      if (n > 0) out += ", ";
      out += python_repr(keys[n]);
    }
  };
  line("obs", obs_.columns().keys());
  line("var", var_.columns().keys());
  line("uns", uns_.keys());
  line("obsm", obsm_.keys());
  line("varm", varm_.keys());
  line("layers", layers_.keys());
  line("obsp", obsp_.keys());
  line("varp", varp_.keys());
  return out;
}

}  // namespace tessera
