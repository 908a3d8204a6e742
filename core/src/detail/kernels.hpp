// Chunk kernels: the computations behind every node, on dense and CSR chunks. Internal to core.
#pragma once

#include <span>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/chunk.hpp"

namespace tessera::detail {

// Output dtype of a unary op on `in` (numpy's rules); ValueError when numpy would refuse.
DType unary_result(UnaryOp op, DType in);
// True when f(0) == 0, so a CSR input stays CSR.
bool unary_keeps_sparse(UnaryOp op);
Chunk unary(UnaryOp op, const Chunk& x, DType out);

// The type numpy computes in (`compute`) and returns (`out`) for a binary op.
struct BinaryTypes {
  DType compute;
  DType out;
};
BinaryTypes binary_types(BinaryOp op, DType a, DType b);
BinaryTypes binary_scalar_types(BinaryOp op, DType a, Scalar scalar);
bool binary_keeps_sparse(BinaryOp op);  // between two CSR operands
// f(0, s) == 0 (scalar_left: f(s, 0) == 0) in the compute type, so a CSR operand stays CSR.
bool scalar_keeps_sparse(BinaryOp op, double scalar, bool scalar_left, BinaryTypes types);
Chunk binary(BinaryOp op, const Chunk& a, const Chunk& b, BinaryTypes types);
Chunk binary_scalar(BinaryOp op, const Chunk& a, double scalar, bool scalar_left,
                    BinaryTypes types);

// Reductions keep dims. `axis` is 0, 1 or -1 (all). A partial reduces one chunk in the
// accumulator type; combine folds partials in the given order; finish turns the combined
// accumulator into the result (mean divides by `count`).
DType reduce_accumulator(ReduceOp op, DType in);
DType reduce_result(ReduceOp op, DType in);
Chunk reduce_partial(ReduceOp op, const Chunk& x, int axis, DType acc);
Chunk reduce_combine(ReduceOp op, std::span<const Chunk> partials);
Chunk reduce_finish(ReduceOp op, const Chunk& combined, index_t count, DType out);

// Positions are local to the chunk; any order, repeats allowed.
Chunk take(const Chunk& x, int axis, std::span<const index_t> positions);
// Joins chunks of one layout and dtype along an axis.
Chunk stack(std::span<const Chunk> parts, int axis);
// Joins a row-major grid of blocks (rows × cols of them) into one chunk.
Chunk assemble(std::span<const Chunk> blocks, index_t block_rows, index_t block_cols);
Chunk transpose(const Chunk& x);

}  // namespace tessera::detail
