// Array: an immutable handle to a node of the lazy expression graph, with numpy/dask.array's
// operations. Building an expression computes nothing; compute() runs the chunk tasks.
//
// Arrays are 2-D. Reductions keep the reduced axis with length 1 (numpy's keepdims=True):
// sum(axis 0) of (R, C) has shape (1, C), sum(axis 1) has (R, 1), a full sum has (1, 1).
//
// Sparse (CSR) arrays: reductions, selections, concatenation, transpose, rechunk, astype and
// element-wise functions with f(0) == 0 (multiply/divide by a scalar, log1p, expm1, sqrt, abs,
// negative, sin, …) stay sparse. Operations with f(0) != 0 (adding a non-zero scalar, exp, cos,
// comparisons true at 0) and binary operations other than +, -, *, minimum, maximum between two
// sparse arrays DENSIFY their result, as scipy would; so does mixing a dense and a sparse operand.
#pragma once

#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

#include "tessera/core/chunk.hpp"
#include "tessera/core/chunk_grid.hpp"
#include "tessera/core/graph.hpp"
#include "tessera/core/selector.hpp"

namespace tessera {

class LocalExecutor;

// A scalar operand, remembering whether it was written as an integer: as in numpy, `x * 2` keeps
// an integer array's dtype while `x * 2.0` (a float, like Python's) promotes it to float64.
// Integers beyond 2^53 lose precision (the value is held as a double).
struct Scalar {
  template <typename T>
  requires std::is_arithmetic_v<T> Scalar(
      T v)  // NOLINT(google-explicit-constructor): scalars convert implicitly, as in numpy
      : value(static_cast<double>(v)), integral(std::is_integral_v<T>) {}
  double value;
  bool integral;
};

enum class UnaryOp : std::uint8_t {
  negative,
  absolute,
  sqrt,
  square,
  exp,
  expm1,
  log,
  log1p,
  sin,
  cos,
  tanh,
  sign,
  logical_not,
};
enum class BinaryOp : std::uint8_t {
  add,
  subtract,
  multiply,
  divide,
  power,
  minimum,
  maximum,
  equal,
  not_equal,
  less,
  less_equal,
  greater,
  greater_equal,
  logical_and,
  logical_or,
};
enum class ReduceOp : std::uint8_t { sum, mean, min, max, count_nonzero };

std::string_view name(UnaryOp op);
std::string_view name(BinaryOp op);
std::string_view name(ReduceOp op);

class Array {
 public:
  explicit Array(NodePtr node);

  [[nodiscard]] Shape shape() const { return node_->shape(); }
  [[nodiscard]] DType dtype() const { return node_->dtype(); }
  [[nodiscard]] Layout layout() const { return node_->layout(); }
  [[nodiscard]] bool is_sparse() const { return layout() == Layout::csr; }
  [[nodiscard]] const ChunkGrid& chunks() const { return node_->grid(); }
  // Logical (dense) size in bytes, as dask's nbytes.
  [[nodiscard]] index_t nbytes() const;
  [[nodiscard]] std::string name() const { return node_->name(); }
  [[nodiscard]] const NodePtr& node() const { return node_; }
  [[nodiscard]] GraphStats graph_stats() const;
  // The data, when this array is an in-memory source (from_chunk): nothing to compute.
  [[nodiscard]] const Chunk* in_memory() const { return node_->in_memory(); }

  // Selection: x(rows, cols), or along one axis.
  [[nodiscard]] Array operator()(const Selector& rows,
                                 const Selector& cols = Selector::all()) const;
  [[nodiscard]] Array select(int axis, const Selector& selector) const;

  // Reductions; axis 0, 1, or none for all elements.
  [[nodiscard]] Array reduce(ReduceOp op, std::optional<int> axis = std::nullopt) const;
  [[nodiscard]] Array sum(std::optional<int> axis = std::nullopt) const {
    return reduce(ReduceOp::sum, axis);
  }
  [[nodiscard]] Array mean(std::optional<int> axis = std::nullopt) const {
    return reduce(ReduceOp::mean, axis);
  }
  [[nodiscard]] Array min(std::optional<int> axis = std::nullopt) const {
    return reduce(ReduceOp::min, axis);
  }
  [[nodiscard]] Array max(std::optional<int> axis = std::nullopt) const {
    return reduce(ReduceOp::max, axis);
  }
  [[nodiscard]] Array count_nonzero(std::optional<int> axis = std::nullopt) const {
    return reduce(ReduceOp::count_nonzero, axis);
  }

  [[nodiscard]] Array rechunk(const ChunkSpec& chunks) const;
  [[nodiscard]] Array transpose() const;
  [[nodiscard]] Array astype(DType dtype) const;
  [[nodiscard]] Array todense() const;  // CSR → dense (no-op on dense)
  [[nodiscard]] Array tocsr() const;    // dense → CSR (no-op on CSR)

  // Runs the graph on a LocalExecutor (default: TESSERA_THREADS or all cores) and returns the
  // whole array as one in-memory chunk of this array's layout.
  [[nodiscard]] Chunk compute() const;
  [[nodiscard]] Chunk compute(LocalExecutor& executor) const;

 private:
  NodePtr node_;
};

// Element-wise operations (numpy's broadcasting is limited to equal shapes and scalars).
Array apply(UnaryOp op, const Array& x);
Array apply(BinaryOp op, const Array& a, const Array& b);
Array apply(BinaryOp op, const Array& a, Scalar scalar);
Array apply(BinaryOp op, Scalar scalar, const Array& a);

inline Array operator-(const Array& x) {
  return apply(UnaryOp::negative, x);
}
inline Array abs(const Array& x) {
  return apply(UnaryOp::absolute, x);
}
inline Array sqrt(const Array& x) {
  return apply(UnaryOp::sqrt, x);
}
inline Array exp(const Array& x) {
  return apply(UnaryOp::exp, x);
}
inline Array expm1(const Array& x) {
  return apply(UnaryOp::expm1, x);
}
inline Array log(const Array& x) {
  return apply(UnaryOp::log, x);
}
inline Array log1p(const Array& x) {
  return apply(UnaryOp::log1p, x);
}
inline Array maximum(const Array& a, const Array& b) {
  return apply(BinaryOp::maximum, a, b);
}
inline Array minimum(const Array& a, const Array& b) {
  return apply(BinaryOp::minimum, a, b);
}

#define TESSERA_ARRAY_BINARY_OPERATOR(symbol, op)                \
  inline Array operator symbol(const Array& a, const Array& b) { \
    return apply(op, a, b);                                      \
  }                                                              \
  inline Array operator symbol(const Array& a, Scalar s) {       \
    return apply(op, a, s);                                      \
  }                                                              \
  inline Array operator symbol(Scalar s, const Array& a) {       \
    return apply(op, s, a);                                      \
  }
TESSERA_ARRAY_BINARY_OPERATOR(+, BinaryOp::add)
TESSERA_ARRAY_BINARY_OPERATOR(-, BinaryOp::subtract)
TESSERA_ARRAY_BINARY_OPERATOR(*, BinaryOp::multiply)
TESSERA_ARRAY_BINARY_OPERATOR(/, BinaryOp::divide)
TESSERA_ARRAY_BINARY_OPERATOR(==, BinaryOp::equal)
TESSERA_ARRAY_BINARY_OPERATOR(!=, BinaryOp::not_equal)
TESSERA_ARRAY_BINARY_OPERATOR(<, BinaryOp::less)
TESSERA_ARRAY_BINARY_OPERATOR(<=, BinaryOp::less_equal)
TESSERA_ARRAY_BINARY_OPERATOR(>, BinaryOp::greater)
TESSERA_ARRAY_BINARY_OPERATOR(>=, BinaryOp::greater_equal)
#undef TESSERA_ARRAY_BINARY_OPERATOR

// Joins arrays along an axis. Chunks that line up on the other axis are reused as they are (no
// tasks added); otherwise inputs are rechunked to the common refinement first (dask's
// unify_chunks). Dtypes promote; any sparse input makes the result sparse. ShapeError when the
// other axis differs.
Array concatenate(const std::vector<Array>& arrays, int axis);

// Sources. Random values are Philox4x32-10 keyed by `seed` and each element's global position,
// so they are identical for every chunking, thread count and rank count.
Array random(Shape shape, const ChunkSpec& chunks, std::uint64_t seed,
             DType dtype = DType::float64);
// Sparse random: element kept with probability `density`, value uniform in (0, 1].
Array random_sparse(Shape shape, const ChunkSpec& chunks, double density, std::uint64_t seed,
                    DType dtype = DType::float64);
Array full(Shape shape, double value, const ChunkSpec& chunks, DType dtype = DType::float64);
inline Array zeros(Shape s, const ChunkSpec& c, DType d = DType::float64) {
  return full(s, 0.0, c, d);
}
inline Array ones(Shape s, const ChunkSpec& c, DType d = DType::float64) {
  return full(s, 1.0, c, d);
}
// Element (r, c) = r * cols + c, numpy's arange(rows * cols).reshape(rows, cols).
Array arange(Shape shape, const ChunkSpec& chunks, DType dtype = DType::int64);
// An in-memory array (dense or CSR) cut into chunks; chunks are zero-copy views of `data`.
Array from_chunk(Chunk data, const ChunkSpec& chunks);
template <typename T>
Array from_csr(Shape shape, std::vector<index_t> indptr, std::vector<index_t> indices,
               std::vector<T> data, const ChunkSpec& chunks) {
  return from_chunk(
      Chunk::from_csr<T>(shape, std::move(indptr), std::move(indices), std::move(data)), chunks);
}

// Element (r, c) of `random(shape, …, seed)`, computed alone (tests and references).
double random_value(std::uint64_t seed, Shape shape, index_t r, index_t c);

}  // namespace tessera
