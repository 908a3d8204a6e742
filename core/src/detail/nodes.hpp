// Factories for every kind of graph node. Internal to core: users build graphs through Array.
#pragma once

#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/chunk_source.hpp"

namespace tessera::detail {

NodePtr make_random(const ChunkGrid& grid, std::uint64_t seed, DType dtype);
NodePtr make_random_sparse(const ChunkGrid& grid, double density, std::uint64_t seed, DType dtype);
NodePtr make_source(std::shared_ptr<const ChunkSource> source, const ChunkGrid& grid, DType dtype,
                    Layout layout, std::string kind);
NodePtr make_full(const ChunkGrid& grid, double value, DType dtype);
NodePtr make_arange(const ChunkGrid& grid, DType dtype);
NodePtr make_from_chunk(Chunk data, const ChunkGrid& grid);

NodePtr make_unary(UnaryOp op, const NodePtr& x);
NodePtr make_binary(BinaryOp op, const NodePtr& a, const NodePtr& b);
NodePtr make_scalar(BinaryOp op, const NodePtr& x, Scalar scalar, bool scalar_left);
NodePtr make_reduce(ReduceOp op, const NodePtr& x, int axis);  // axis -1: all
NodePtr make_select(const NodePtr& x, int axis, std::vector<index_t> positions);
NodePtr make_concat(const std::vector<NodePtr>& inputs, int axis);
NodePtr make_rechunk(const NodePtr& x, const ChunkGrid& grid);
NodePtr make_transpose(const NodePtr& x);
NodePtr make_astype(const NodePtr& x, DType dtype);
NodePtr make_layout(const NodePtr& x, Layout layout);

// Philox4x32-10 uniform in [0, 1) for element n (row-major linear index) of a random source.
double philox_uniform(std::uint64_t seed, index_t n);

}  // namespace tessera::detail
