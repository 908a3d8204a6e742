// AnnData: the annotated data matrix. X (n_obs × n_vars), obs and var tables, arrays aligned to
// one axis (obsm, varm), to both (layers), pairwise (obsp, varp), unstructured uns, and raw. Every
// array slot holds a lazy Array (dense or CSR); in-memory data is an Array over a Chunk.
//
// Views: `adata(rows, cols)` selects with slices, positions, masks or names; a view's arrays are
// lazy selections of the parent's, views of views compose, `copy()` makes an object of its own
// and to_memory() materializes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tessera/anndata/dataframe.hpp"
#include "tessera/anndata/uns.hpp"
#include "tessera/core/array.hpp"
#include "tessera/distributed/residence.hpp"

namespace tessera {

class Context;

// A mapping of arrays aligned to the parent's axes (obsm, varm, layers, obsp, varp). The
// required extents are fixed by the parent; set() checks them and names slot and key on error.
// obsm and varm may also hold data frames (one row per observation / variable), and any slot
// elements kept as stored (awkward arrays); keys() lists every kind in insertion order, while
// iteration, operator[] and contains() are about the arrays.
class AlignedArrays {
 public:
  // rows/cols: the required extents (-1: any).
  AlignedArrays(std::string name, index_t rows, index_t cols);

  [[nodiscard]] const std::string& name() const { return arrays_.name(); }
  void set(std::string key, Array value);
  void set(std::string key, const Chunk& value);  // in memory
  void set(std::string key, DataFrame frame);     // rows must equal the required rows
  void set(std::string key, StoredElement element);
  [[nodiscard]] const Array& operator[](std::string_view key) const { return arrays_.at(key); }
  [[nodiscard]] bool contains(std::string_view key) const { return arrays_.contains(key); }
  [[nodiscard]] bool has_key(std::string_view key) const;
  bool erase(std::string_view key);
  // Every key, arrays, frames and stored elements alike, in insertion order.
  [[nodiscard]] std::vector<std::string> keys() const { return order_; }
  [[nodiscard]] std::vector<std::string> array_keys() const { return arrays_.keys(); }
  [[nodiscard]] std::size_t size() const { return order_.size(); }
  [[nodiscard]] bool empty() const { return order_.empty(); }
  [[nodiscard]] auto begin() const { return arrays_.begin(); }
  [[nodiscard]] auto end() const { return arrays_.end(); }
  [[nodiscard]] const OrderedMap<DataFrame>& frames() const { return frames_; }
  [[nodiscard]] const OrderedMap<StoredElement>& stored() const { return stored_; }
  [[nodiscard]] index_t required_rows() const { return rows_; }
  [[nodiscard]] index_t required_cols() const { return cols_; }

 private:
  void place(const std::string& key);

  OrderedMap<Array> arrays_;
  OrderedMap<DataFrame> frames_;
  OrderedMap<StoredElement> stored_;
  std::vector<std::string> order_;
  index_t rows_;
  index_t cols_;
};

// One axis' selection for a view: everything, a Selector (slice, positions, mask), or names.
class AxisIndex {
 public:
  AxisIndex() = default;                                            // all
  AxisIndex(Selector selector) : selector_(std::move(selector)) {}  // NOLINT: implicit on purpose
  AxisIndex(std::vector<bool> mask) : selector_(Selector::mask(std::move(mask))) {}  // NOLINT
  static AxisIndex names(std::vector<std::string> names);
  // Positions selected along an axis with this index (names resolved against it).
  [[nodiscard]] std::vector<index_t> resolve(const std::vector<std::string>& axis_names,
                                             const char* axis, const DataFrame& frame) const;
  [[nodiscard]] bool is_all() const { return !names_ && selector_.is_all(); }

 private:
  Selector selector_;
  std::optional<std::vector<std::string>> names_;
};

struct Raw {
  std::optional<Array> X;
  DataFrame var{"raw.var"};
  AlignedArrays varm{"raw.varm", -1, -1};
};

class AnnData {
 public:
  // An object with no X and index names "0", "1", ….
  AnnData(index_t n_obs, index_t n_vars);
  // From X, with obs and var tables (empty tables get "0", "1", … names). ShapeError when the
  // tables' lengths disagree with X.
  explicit AnnData(Array X, std::optional<DataFrame> obs = std::nullopt,
                   std::optional<DataFrame> var = std::nullopt);
  explicit AnnData(const Chunk& X, std::optional<DataFrame> obs = std::nullopt,
                   std::optional<DataFrame> var = std::nullopt);
  // No X, shape from the tables.
  AnnData(DataFrame obs, DataFrame var);

  [[nodiscard]] index_t n_obs() const { return obs_.size(); }
  [[nodiscard]] index_t n_vars() const { return var_.size(); }
  [[nodiscard]] Shape shape() const { return {n_obs(), n_vars()}; }
  [[nodiscard]] bool is_view() const { return is_view_; }

  [[nodiscard]] const std::optional<Array>& X() const { return X_; }
  void set_X(Array X);
  void set_X(const Chunk& X);
  void clear_X() { X_.reset(); }

  // Tables: their row count is fixed; columns and names can change.
  [[nodiscard]] const DataFrame& obs() const { return obs_; }
  [[nodiscard]] DataFrame& obs() { return obs_; }
  [[nodiscard]] const DataFrame& var() const { return var_; }
  [[nodiscard]] DataFrame& var() { return var_; }
  void set_obs(DataFrame obs);  // ShapeError when the length differs
  void set_var(DataFrame var);
  [[nodiscard]] const std::vector<std::string>& obs_names() const { return obs_.index(); }
  [[nodiscard]] const std::vector<std::string>& var_names() const { return var_.index(); }
  void obs_names_make_unique() { obs_.make_index_unique(); }
  void var_names_make_unique() { var_.make_index_unique(); }

  [[nodiscard]] const AlignedArrays& obsm() const { return obsm_; }
  [[nodiscard]] AlignedArrays& obsm() { return obsm_; }
  [[nodiscard]] const AlignedArrays& varm() const { return varm_; }
  [[nodiscard]] AlignedArrays& varm() { return varm_; }
  [[nodiscard]] const AlignedArrays& layers() const { return layers_; }
  [[nodiscard]] AlignedArrays& layers() { return layers_; }
  [[nodiscard]] const AlignedArrays& obsp() const { return obsp_; }
  [[nodiscard]] AlignedArrays& obsp() { return obsp_; }
  [[nodiscard]] const AlignedArrays& varp() const { return varp_; }
  [[nodiscard]] AlignedArrays& varp() { return varp_; }
  [[nodiscard]] const Uns& uns() const { return uns_; }
  [[nodiscard]] Uns& uns() { return uns_; }

  [[nodiscard]] const std::optional<Raw>& raw() const { return raw_; }
  // raw.X must have n_obs rows and as many columns as raw.var has rows.
  void set_raw(Raw raw);
  void clear_raw() { raw_.reset(); }

  // A view: adata[rows, cols]. Arrays become lazy selections; tables are subset.
  [[nodiscard]] AnnData operator()(const AxisIndex& obs, const AxisIndex& var = AxisIndex()) const;
  // An object of its own (not a view); arrays stay lazy (they are immutable, so sharing is safe).
  [[nodiscard]] AnnData copy() const;
  // Every lazy array computed. copy=false shares buffers already in memory; copy=true deep-copies
  // everything. Without a Context, computes on this process's threads; with one, collectively
  // across its ranks, the results held where `residence` says (residence.hpp): whole on every
  // rank (the default), whole on rank 0, or each rank its own chunks. Arrays that compute the
  // same chunks (layers['a'] = X) are materialized once and share their buffers.
  [[nodiscard]] AnnData to_memory(bool copy = false) const;
  [[nodiscard]] AnnData to_memory(Context& ctx, bool copy = false,
                                  Residence residence = Residence::every_rank) const;
  // adata.T: obs and var swapped, X and layers transposed, obsm/varm and obsp/varp swapped.
  [[nodiscard]] AnnData transpose() const;

  // The reference's repr: "AnnData object with n_obs × n_vars = 3 × 2\n    obs: 'batch'…",
  // prefixed "View of " for views.
  [[nodiscard]] std::string repr() const;

 private:
  void reset_slots();
  // `compute` turns the lazy arrays into materialized ones (in memory, or persisted); arrays
  // already materialized are kept (copy=false) or deep-copied (copy=true).
  AnnData materialize(const std::function<std::vector<Array>(const std::vector<Array>&)>& compute,
                      bool copy, const std::function<bool(const Array&)>& materialized) const;

  std::optional<Array> X_;
  DataFrame obs_{"obs"};
  DataFrame var_{"var"};
  AlignedArrays obsm_{"obsm", 0, -1};
  AlignedArrays varm_{"varm", 0, -1};
  AlignedArrays layers_{"layers", 0, 0};
  AlignedArrays obsp_{"obsp", 0, 0};
  AlignedArrays varp_{"varp", 0, 0};
  Uns uns_{"uns"};
  std::optional<Raw> raw_;
  bool is_view_ = false;
};

// Python's repr of a string: 'text', or "text" when it holds a ' and no ".
std::string python_repr(std::string_view text);

}  // namespace tessera
