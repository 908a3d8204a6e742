#include "tessera/core/array.hpp"

#include <array>
#include <string>

#include "detail/kernels.hpp"
#include "detail/nodes.hpp"
#include "tessera/core/chunk_source.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/local_executor.hpp"

namespace tessera {
namespace {

int check_axis(int axis, const char* what) {
  if (axis != 0 && axis != 1) {
    throw ValueError(std::string(what) + ": axis must be 0 or 1, got " + std::to_string(axis));
  }
  return axis;
}

}  // namespace

std::string_view name(UnaryOp op) {
  static constexpr std::array<std::string_view, 13> kNames = {
      "negative", "absolute", "sqrt", "square", "exp",  "expm1",      "log",
      "log1p",    "sin",      "cos",  "tanh",   "sign", "logical_not"};
  return kNames.at(static_cast<std::size_t>(op));
}

std::string_view name(BinaryOp op) {
  static constexpr std::array<std::string_view, 15> kNames = {
      "add",        "subtract", "multiply",      "divide",      "power",
      "minimum",    "maximum",  "equal",         "not_equal",   "less",
      "less_equal", "greater",  "greater_equal", "logical_and", "logical_or"};
  return kNames.at(static_cast<std::size_t>(op));
}

std::string_view name(ReduceOp op) {
  static constexpr std::array<std::string_view, 5> kNames = {"sum", "mean", "min", "max",
                                                             "count_nonzero"};
  return kNames.at(static_cast<std::size_t>(op));
}

Array::Array(NodePtr node) : node_(std::move(node)) {
  TESSERA_ASSERT(node_ != nullptr, "Array of a null node");
}

index_t Array::nbytes() const {
  return shape().size() * static_cast<index_t>(itemsize(dtype()));
}

GraphStats Array::graph_stats() const {
  const TaskGraph g = TaskGraph::lower({&node_, 1});
  return {chunks().num_chunks(), static_cast<index_t>(g.nodes().size()), g.num_tasks()};
}

Array Array::operator()(const Selector& rows, const Selector& cols) const {
  return select(0, rows).select(1, cols);
}

Array Array::select(int axis, const Selector& selector) const {
  check_axis(axis, "select");
  const index_t length = shape()[axis];
  if (selector.is_identity(length)) return *this;
  return Array(detail::make_select(node_, axis, selector.resolve(length)));
}

Array Array::reduce(ReduceOp op, std::optional<int> axis) const {
  if (axis) check_axis(*axis, tessera::name(op).data());
  return Array(detail::make_reduce(op, node_, axis.value_or(-1)));
}

Array Array::rechunk(const ChunkSpec& chunks) const {
  return Array(detail::make_rechunk(node_, chunks.resolve(shape(), dtype())));
}

Array Array::transpose() const {
  return Array(detail::make_transpose(node_));
}
Array Array::astype(DType dtype) const {
  return Array(detail::make_astype(node_, dtype));
}
Array Array::todense() const {
  return Array(detail::make_layout(node_, Layout::dense));
}
Array Array::tocsr() const {
  return Array(detail::make_layout(node_, Layout::csr));
}

Chunk Array::compute() const {
  LocalExecutor executor;
  return compute(executor);
}

Chunk Array::compute(LocalExecutor& executor) const {
  const TaskGraph g = TaskGraph::lower({&node_, 1});
  const std::vector<TaskId> targets = g.chunk_tasks(g.node_id(*node_));
  const std::vector<Chunk> chunks = executor.run(g, targets);
  return detail::assemble(chunks, this->chunks().num_chunks(0), this->chunks().num_chunks(1));
}

Array apply(UnaryOp op, const Array& x) {
  return Array(detail::make_unary(op, x.node()));
}
Array apply(BinaryOp op, const Array& a, const Array& b) {
  return Array(detail::make_binary(op, a.node(), b.node()));
}
Array apply(BinaryOp op, const Array& a, Scalar scalar) {
  return Array(detail::make_scalar(op, a.node(), scalar, false));
}
Array apply(BinaryOp op, Scalar scalar, const Array& a) {
  return Array(detail::make_scalar(op, a.node(), scalar, true));
}

Array concatenate(const std::vector<Array>& arrays, int axis) {
  std::vector<NodePtr> nodes;
  nodes.reserve(arrays.size());
  for (const auto& a : arrays)
    nodes.push_back(a.node());
  return Array(detail::make_concat(nodes, axis));
}

Array random(Shape shape, const ChunkSpec& chunks, std::uint64_t seed, DType dtype) {
  return Array(detail::make_random(chunks.resolve(shape, dtype), seed, dtype));
}

Array random_sparse(Shape shape, const ChunkSpec& chunks, double density, std::uint64_t seed,
                    DType dtype) {
  return Array(detail::make_random_sparse(chunks.resolve(shape, dtype), density, seed, dtype));
}

Array from_source(std::shared_ptr<const ChunkSource> source, const ChunkGrid& grid, DType dtype,
                  Layout layout, std::string kind) {
  return Array(detail::make_source(std::move(source), grid, dtype, layout, std::move(kind)));
}

Array full(Shape shape, double value, const ChunkSpec& chunks, DType dtype) {
  return Array(detail::make_full(chunks.resolve(shape, dtype), value, dtype));
}

Array arange(Shape shape, const ChunkSpec& chunks, DType dtype) {
  return Array(detail::make_arange(chunks.resolve(shape, dtype), dtype));
}

Array from_chunk(Chunk data, const ChunkSpec& chunks) {
  const ChunkGrid grid = chunks.resolve(data.shape(), data.dtype());
  return Array(detail::make_from_chunk(std::move(data), grid));
}

double random_value(std::uint64_t seed, Shape shape, index_t r, index_t c) {
  if (r < 0 || r >= shape.rows || c < 0 || c >= shape.cols) {
    throw IndexError("random_value: element (" + std::to_string(r) + ", " + std::to_string(c) +
                     ") is outside shape " + to_string(shape));
  }
  return detail::philox_uniform(seed, r * shape.cols + c);
}

}  // namespace tessera
