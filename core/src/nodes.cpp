#include "detail/nodes.hpp"

#include <Random123/philox.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <string>

#include "detail/convert.hpp"
#include "detail/kernels.hpp"
#include "tessera/core/chunk_source.hpp"
#include "tessera/core/error.hpp"

namespace tessera::detail {
namespace {

// Splits over how many partials a reduction combines at once (dask's split_every).
constexpr std::size_t kSplitEvery = 8;

Shape chunk_extent(const ChunkGrid& g, index_t i, index_t j) {
  return g.chunk_shape(i, j);
}

r123::Philox4x32::ctr_type::value_type lo32(std::uint64_t v) {
  return static_cast<std::uint32_t>(v);
}
r123::Philox4x32::ctr_type::value_type hi32(std::uint64_t v) {
  return static_cast<std::uint32_t>(v >> 32);
}

double u01_from(std::uint32_t lo, std::uint32_t hi) {
  const std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 32) | lo;
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

r123::Philox4x32::ctr_type philox(std::uint64_t seed, std::uint64_t counter, std::uint32_t stream) {
  const r123::Philox4x32::ctr_type ctr = {{lo32(counter), hi32(counter), stream, 0}};
  const r123::Philox4x32::key_type key = {{lo32(seed), hi32(seed)}};
  return r123::Philox4x32()(ctr, key);
}

// Philox4x32-10 of kLanes consecutive counters at once (stream 0): Random123's values bit for
// bit, several counters per instruction (Random123's own code is scalar, one 32 x 32 -> 64
// multiply pair at a time: 60% of generating X in the seed workflow). out[w][l] is word w of
// counter first + l. SSE2 (every x86-64) multiplies two lanes per instruction; other machines
// run the same rounds lane by lane.
constexpr int kLanes = 8;
constexpr std::uint32_t kM0 = 0xD2511F53U, kM1 = 0xCD9E8D57U;  // Philox4x32 multipliers
constexpr std::uint32_t kW0 = 0x9E3779B9U, kW1 = 0xBB67AE85U;  // its Weyl key increments

#if defined(__SSE2__)
// hi and lo 32-bit halves of a[l] * m for the four lanes of a.
inline void mulhilo4(__m128i a, __m128i m, __m128i& hi, __m128i& lo) {
  const __m128i even = _mm_mul_epu32(a, m);                     // lanes 0, 2 as 64-bit products
  const __m128i odd = _mm_mul_epu32(_mm_srli_epi64(a, 32), m);  // lanes 1, 3
  const __m128i low_half = _mm_set1_epi64x(0xFFFFFFFF);
  lo = _mm_or_si128(_mm_and_si128(even, low_half), _mm_slli_epi64(odd, 32));
  hi = _mm_or_si128(_mm_srli_epi64(even, 32), _mm_andnot_si128(low_half, odd));
}

void philox_lanes(std::uint64_t seed, std::uint64_t first, std::uint32_t (&out)[4][kLanes]) {
  const __m128i m0 = _mm_set1_epi32(static_cast<int>(kM0));
  const __m128i m1 = _mm_set1_epi32(static_cast<int>(kM1));
  for (int v = 0; v < kLanes / 4; ++v) {
    alignas(16) std::uint32_t lo[4], hi[4];
    for (int l = 0; l < 4; ++l) {
      const std::uint64_t counter = first + static_cast<std::uint64_t>(4 * v + l);
      lo[l] = lo32(counter);
      hi[l] = hi32(counter);
    }
    __m128i c0 = _mm_load_si128(reinterpret_cast<const __m128i*>(lo));
    __m128i c1 = _mm_load_si128(reinterpret_cast<const __m128i*>(hi));
    __m128i c2 = _mm_setzero_si128(), c3 = _mm_setzero_si128();
    std::uint32_t k0 = lo32(seed), k1 = hi32(seed);
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        k0 += kW0;
        k1 += kW1;
      }
      __m128i hi0, lo0, hi1, lo1;
      mulhilo4(c0, m0, hi0, lo0);
      mulhilo4(c2, m1, hi1, lo1);
      c0 = _mm_xor_si128(_mm_xor_si128(hi1, c1), _mm_set1_epi32(static_cast<int>(k0)));
      c1 = lo1;
      c2 = _mm_xor_si128(_mm_xor_si128(hi0, c3), _mm_set1_epi32(static_cast<int>(k1)));
      c3 = lo0;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[0] + 4 * v), c0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[1] + 4 * v), c1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[2] + 4 * v), c2);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[3] + 4 * v), c3);
  }
}
#else
void philox_lanes(std::uint64_t seed, std::uint64_t first, std::uint32_t (&out)[4][kLanes]) {
  for (int l = 0; l < kLanes; ++l) {
    const auto block = philox(seed, first + static_cast<std::uint64_t>(l), 0);
    for (int w = 0; w < 4; ++w)
      out[w][l] = block[w];
  }
}
#endif

// ---- sources ---------------------------------------------------------------------------------

class RandomNode final : public Node {
 public:
  RandomNode(const ChunkGrid& grid, std::uint64_t seed, DType dtype)
      : Node("random_sample", dtype, Layout::dense, grid, {}), seed_(seed) {
    finish_fingerprint(Hasher().add(seed_));
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk>) const override {
    const ChunkGrid& g = grid();
    const index_t r0 = g.chunk_offset(0, key.i), c0 = g.chunk_offset(1, key.j);
    const Shape s = chunk_extent(g, key.i, key.j);
    const index_t ncols = shape().cols;
    return dispatch(dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      Chunk out = Chunk::dense(dtype(), s);
      for (index_t r = 0; r < s.rows; ++r) {
        T* dst = out.mutable_row<T>(r);
        // Two doubles per Philox block: elements 2m and 2m+1 share counter m.
        index_t n = (r0 + r) * ncols + c0;
        index_t c = 0;
        if ((n & 1) == 1 && c < s.cols) {  // odd start: the second half of a block
          dst[c++] = static_cast<T>(philox_uniform(seed_, n++));
        }
        std::uint32_t words[4][kLanes];
        for (; c + 2 * kLanes <= s.cols; c += 2 * kLanes, n += 2 * kLanes) {
          philox_lanes(seed_, static_cast<std::uint64_t>(n >> 1), words);
          for (int l = 0; l < kLanes; ++l) {
            dst[c + 2 * l] = static_cast<T>(u01_from(words[0][l], words[1][l]));
            dst[c + 2 * l + 1] = static_cast<T>(u01_from(words[2][l], words[3][l]));
          }
        }
        for (; c + 2 <= s.cols; c += 2, n += 2) {
          const auto block = philox(seed_, static_cast<std::uint64_t>(n >> 1), 0);
          dst[c] = static_cast<T>(u01_from(block[0], block[1]));
          dst[c + 1] = static_cast<T>(u01_from(block[2], block[3]));
        }
        if (c < s.cols) dst[c] = static_cast<T>(philox_uniform(seed_, n));
      }
      return out;
    });
  }

 private:
  std::uint64_t seed_;
};

class RandomSparseNode final : public Node {
 public:
  RandomSparseNode(const ChunkGrid& grid, double density, std::uint64_t seed, DType dtype)
      : Node("random_sparse", dtype, Layout::csr, grid, {}), density_(density), seed_(seed) {
    finish_fingerprint(Hasher().add(seed_).add(density_));
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk>) const override {
    const ChunkGrid& g = grid();
    const index_t r0 = g.chunk_offset(0, key.i), c0 = g.chunk_offset(1, key.j);
    const Shape s = chunk_extent(g, key.i, key.j);
    return dispatch(dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      std::vector<index_t> indptr(1, 0), indices;
      std::vector<store_t<T>> values;
      for (index_t r = 0; r < s.rows; ++r) {
        for (index_t c = 0; c < s.cols; ++c) {
          const auto n = static_cast<std::uint64_t>((r0 + r) * shape().cols + c0 + c);
          const auto w = philox(seed_, n, 1);
          if (u01_from(w[0], w[1]) < density_) {
            indices.push_back(c);
            values.push_back(static_cast<store_t<T>>(1.0 - u01_from(w[2], w[3])));
          }
        }
        indptr.push_back(static_cast<index_t>(indices.size()));
      }
      return Chunk::csr(dtype(), s, std::move(indptr), std::move(indices),
                        Buffer::adopt(std::move(values)));
    });
  }

 private:
  double density_;
  std::uint64_t seed_;
};

class FullNode final : public Node {
 public:
  FullNode(const ChunkGrid& grid, double value, DType dtype)
      : Node("full", dtype, Layout::dense, grid, {}), value_(value) {
    finish_fingerprint(Hasher().add(value_));
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk>) const override {
    return Chunk::dense_filled(dtype(), chunk_extent(grid(), key.i, key.j), value_);
  }

 private:
  double value_;
};

class ArangeNode final : public Node {
 public:
  ArangeNode(const ChunkGrid& grid, DType dtype) : Node("arange", dtype, Layout::dense, grid, {}) {
    finish_fingerprint(Hasher());
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk>) const override {
    const ChunkGrid& g = grid();
    const index_t r0 = g.chunk_offset(0, key.i), c0 = g.chunk_offset(1, key.j);
    const Shape s = chunk_extent(g, key.i, key.j);
    return dispatch(dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      Chunk out = Chunk::dense(dtype(), s);
      for (index_t r = 0; r < s.rows; ++r) {
        T* dst = out.mutable_row<T>(r);
        for (index_t c = 0; c < s.cols; ++c)
          dst[c] = convert<T>((r0 + r) * shape().cols + c0 + c);
      }
      return out;
    });
  }
};

class FromChunkNode final : public Node {
 public:
  FromChunkNode(Chunk data, const ChunkGrid& grid)
      : Node("array", data.dtype(), data.layout(), grid, {}), data_(std::move(data)) {
    // A sample of the values on a fixed 8 x 8 lattice: cheap for any size, and enough to catch
    // ranks that were handed different data (the SPMD contract wants the same everywhere).
    Hasher h;
    h.add(data_.nnz());
    for (index_t a = 0; a < 8 && data_.rows() > 0; ++a) {
      for (index_t b = 0; b < 8 && data_.cols() > 0; ++b) {
        h.add(data_.value_at(a * (data_.rows() - 1) / 7, b * (data_.cols() - 1) / 7));
      }
    }
    finish_fingerprint(h);
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk>) const override {
    const ChunkGrid& g = grid();
    const index_t r0 = g.chunk_offset(0, key.i), c0 = g.chunk_offset(1, key.j);
    const Shape s = chunk_extent(g, key.i, key.j);
    return data_.block(r0, r0 + s.rows, c0, c0 + s.cols);
  }
  [[nodiscard]] const Chunk* in_memory() const override { return &data_; }

 private:
  Chunk data_;
};

class SourceNode final : public Node {
 public:
  SourceNode(std::shared_ptr<const ChunkSource> source, const ChunkGrid& grid, DType dtype,
             Layout layout, std::string kind)
      : Node(std::move(kind), dtype, layout, grid, {}), source_(std::move(source)) {
    finish_fingerprint(Hasher().add(source_->identity()));
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk>) const override {
    Chunk c = source_->read(key.i, key.j, grid());
    const Shape want = grid().chunk_shape(key.i, key.j);
    if (c.shape() != want || c.dtype() != dtype() || c.layout() != layout()) {
      throw InternalError("a chunk source returned " + to_string(c.shape()) + " " +
                          std::string(tessera::name(c.dtype())) + " for chunk (" +
                          std::to_string(key.i) + ", " + std::to_string(key.j) + ") of shape " +
                          to_string(want) + " " + std::string(tessera::name(dtype())));
    }
    return c;
  }

 private:
  std::shared_ptr<const ChunkSource> source_;
};

// ---- element-wise ----------------------------------------------------------------------------

class UnaryNode final : public Node {
 public:
  UnaryNode(UnaryOp op, const NodePtr& x)
      : Node(std::string(tessera::name(op)), unary_result(op, x->dtype()),
             x->layout() == Layout::csr && unary_keeps_sparse(op) ? Layout::csr : Layout::dense,
             x->grid(), {x}),
        op_(op) {
    finish_fingerprint(Hasher().add(op_));
  }
  Chunk compute(const TaskKey&, std::span<const Chunk> deps) const override {
    return unary(op_, deps[0], dtype());
  }

 private:
  UnaryOp op_;
};

class BinaryNode final : public Node {
 public:
  BinaryNode(BinaryOp op, const NodePtr& a, const NodePtr& b, BinaryTypes types)
      : Node(std::string(tessera::name(op)), types.out,
             a->layout() == Layout::csr && b->layout() == Layout::csr && binary_keeps_sparse(op)
                 ? Layout::csr
                 : Layout::dense,
             a->grid(), {a, b}),
        op_(op),
        types_(types) {
    finish_fingerprint(Hasher().add(op_).add(types_.compute));
  }
  Chunk compute(const TaskKey&, std::span<const Chunk> deps) const override {
    return binary(op_, deps[0], deps[1], types_);
  }

 private:
  BinaryOp op_;
  BinaryTypes types_;
};

class ScalarNode final : public Node {
 public:
  ScalarNode(BinaryOp op, const NodePtr& x, Scalar scalar, bool left, BinaryTypes types,
             bool sparse)
      : Node(std::string(tessera::name(op)), types.out, sparse ? Layout::csr : Layout::dense,
             x->grid(), {x}),
        op_(op),
        scalar_(scalar.value),
        left_(left),
        types_(types) {
    finish_fingerprint(
        Hasher().add(op_).add(scalar_).add(left_).add(types_.compute).add(types_.out));
  }
  Chunk compute(const TaskKey&, std::span<const Chunk> deps) const override {
    const Chunk x = layout() == Layout::dense ? deps[0].to_dense() : deps[0];
    return binary_scalar(op_, x, scalar_, left_, types_);
  }

 private:
  BinaryOp op_;
  double scalar_;
  bool left_;
  BinaryTypes types_;
};

class AstypeNode final : public Node {
 public:
  AstypeNode(const NodePtr& x, DType dtype) : Node("astype", dtype, x->layout(), x->grid(), {x}) {
    finish_fingerprint(Hasher());
  }
  Chunk compute(const TaskKey&, std::span<const Chunk> deps) const override {
    return deps[0].astype(dtype());
  }
};

class LayoutNode final : public Node {
 public:
  LayoutNode(const NodePtr& x, Layout layout)
      : Node(layout == Layout::dense ? "todense" : "tocsr", x->dtype(), layout, x->grid(), {x}) {
    finish_fingerprint(Hasher());
  }
  Chunk compute(const TaskKey&, std::span<const Chunk> deps) const override {
    return deps[0].to_layout(layout());
  }
};

// ---- structure -------------------------------------------------------------------------------

class TransposeNode final : public Node {
 public:
  explicit TransposeNode(const NodePtr& x)
      : Node("transpose", x->dtype(), x->layout(),
             ChunkGrid(x->grid().sizes(1), x->grid().sizes(0)), {x}) {
    finish_fingerprint(Hasher());
  }
  void lower(Lowering& lw) const override {
    for (index_t i = 0; i < grid().num_chunks(0); ++i) {
      for (index_t j = 0; j < grid().num_chunks(1); ++j) {
        const TaskId dep = lw.input_chunk(0, j, i);
        lw.add_chunk_task(i, j, {&dep, 1}, Placement::with_first_dep);
      }
    }
  }
  Chunk compute(const TaskKey&, std::span<const Chunk> deps) const override {
    return transpose(deps[0]);
  }
};

class ConcatNode final : public Node {
 public:
  ConcatNode(const std::vector<NodePtr>& inputs, int axis, ChunkGrid grid)
      : Node("concatenate", inputs[0]->dtype(), inputs[0]->layout(), std::move(grid), inputs),
        axis_(axis) {
    finish_fingerprint(Hasher().add(axis_));
  }
  void lower(Lowering& lw) const override {
    // Every output chunk is an input's chunk: no tasks, only aliases.
    index_t at = 0;
    for (std::size_t n = 0; n < inputs().size(); ++n) {
      const ChunkGrid& g = inputs()[n]->grid();
      if (g.shape()[axis_] == 0) continue;
      for (index_t i = 0; i < g.num_chunks(0); ++i) {
        for (index_t j = 0; j < g.num_chunks(1); ++j) {
          lw.alias_chunk(axis_ == 0 ? at + i : i, axis_ == 0 ? j : at + j, lw.input_chunk(n, i, j));
        }
      }
      at += g.num_chunks(axis_);
    }
    if (at == 0) {  // every input empty along the axis: the first one's (empty) chunks
      for (index_t i = 0; i < grid().num_chunks(0); ++i) {
        for (index_t j = 0; j < grid().num_chunks(1); ++j)
          lw.alias_chunk(i, j, lw.input_chunk(0, i, j));
      }
    }
  }
  Chunk compute(const TaskKey&, std::span<const Chunk>) const override {
    throw InternalError("concatenate has no tasks of its own");
  }

 private:
  int axis_;
};

// Output chunk ranges over the input grid for rechunking.
struct Overlap {
  index_t first = 0;
  index_t count = 0;
};

Overlap overlap(const ChunkGrid& in, int axis, index_t start, index_t stop) {
  const index_t a = in.chunk_of(axis, start);
  const index_t b = stop > start ? in.chunk_of(axis, stop - 1) : a;
  return {a, b - a + 1};
}

class RechunkNode final : public Node {
 public:
  RechunkNode(const NodePtr& x, const ChunkGrid& grid)
      : Node("rechunk", x->dtype(), x->layout(), grid, {x}) {
    finish_fingerprint(Hasher());
  }
  void lower(Lowering& lw) const override {
    const ChunkGrid& in = inputs()[0]->grid();
    std::vector<TaskId> pieces;
    for (index_t i = 0; i < grid().num_chunks(0); ++i) {
      for (index_t j = 0; j < grid().num_chunks(1); ++j) {
        const auto [ra, rn] = rows_of(i);
        const auto [ca, cn] = cols_of(j);
        const bool same_chunk =
            rn == 1 && cn == 1 && in.chunk_shape(ra, ca) == grid().chunk_shape(i, j);
        if (same_chunk) {
          lw.alias_chunk(i, j, lw.input_chunk(0, ra, ca));
          continue;
        }
        pieces.clear();
        for (index_t k = 0; k < rn * cn; ++k) {
          const TaskId dep = lw.input_chunk(0, ra + k / cn, ca + k % cn);
          pieces.push_back(lw.add_task({0, 1, i, j, k}, {&dep, 1}, Placement::with_first_dep));
        }
        lw.add_chunk_task(i, j, pieces,
                          rn * cn == 1 ? Placement::with_first_dep : Placement::chunk_owner);
      }
    }
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk> deps) const override {
    const ChunkGrid& in = inputs()[0]->grid();
    const auto [ra, rn] = rows_of(key.i);
    const auto [ca, cn] = cols_of(key.j);
    if (key.part == 0) return assemble(deps, rn, cn);
    const index_t a = ra + key.k / cn, b = ca + key.k % cn;
    const index_t r0 = std::max(grid().chunk_offset(0, key.i), in.chunk_offset(0, a));
    const index_t r1 = std::min(grid().chunk_offset(0, key.i + 1), in.chunk_offset(0, a + 1));
    const index_t c0 = std::max(grid().chunk_offset(1, key.j), in.chunk_offset(1, b));
    const index_t c1 = std::min(grid().chunk_offset(1, key.j + 1), in.chunk_offset(1, b + 1));
    const index_t br = in.chunk_offset(0, a), bc = in.chunk_offset(1, b);
    return deps[0].block(r0 - br, r1 - br, c0 - bc, c1 - bc);
  }

 private:
  Overlap rows_of(index_t i) const {
    return overlap(inputs()[0]->grid(), 0, grid().chunk_offset(0, i),
                   grid().chunk_offset(0, i + 1));
  }
  Overlap cols_of(index_t j) const {
    return overlap(inputs()[0]->grid(), 1, grid().chunk_offset(1, j),
                   grid().chunk_offset(1, j + 1));
  }
};

// Selection along one axis. The output is cut into chunks made of pieces; a piece is a run of
// positions inside one source chunk, extracted next to that chunk (Placement::with_first_dep)
// so that only selected data moves. Monotone selections (slices, masks, sorted lists) get one
// output chunk per source chunk they touch, keeping alignment; others are packed into chunks of
// the source's chunk size.
class SelectNode final : public Node {
 public:
  struct Piece {
    index_t source_chunk;
    index_t begin;  // into local_
    index_t end;
  };

  static NodePtr make(const NodePtr& x, int axis, const std::vector<index_t>& positions) {
    const ChunkGrid& in = x->grid();
    const index_t limit = std::max<index_t>(1, in.max_chunk_shape()[axis]);
    bool increasing = true, decreasing = true;
    for (std::size_t n = 1; n < positions.size(); ++n) {
      increasing = increasing && positions[n] >= positions[n - 1];
      decreasing = decreasing && positions[n] <= positions[n - 1];
    }
    const bool monotone = increasing || decreasing;
    std::vector<Piece> pieces;
    std::vector<index_t> local;
    std::vector<index_t> chunk_first_piece{0};
    std::vector<index_t> out_sizes;
    index_t current = 0;  // size of the output chunk being filled
    for (std::size_t n = 0; n < positions.size(); ++n) {
      const index_t src = in.chunk_of(axis, positions[n]);
      const bool new_piece =
          pieces.empty() || pieces.back().source_chunk != src || current == limit;
      if (new_piece) {
        const bool new_chunk = out_sizes.empty() || current == limit || monotone;
        if (new_chunk) {
          if (!out_sizes.empty()) {
            out_sizes.back() = current;
            chunk_first_piece.push_back(static_cast<index_t>(pieces.size()));
          }
          out_sizes.push_back(0);
          current = 0;
        }
        pieces.push_back(
            {src, static_cast<index_t>(local.size()), static_cast<index_t>(local.size())});
      }
      local.push_back(positions[n] - in.chunk_offset(axis, src));
      ++pieces.back().end;
      ++current;
    }
    if (out_sizes.empty()) {  // nothing selected: one empty piece of the first source chunk
      pieces.push_back({0, 0, 0});
      out_sizes.push_back(0);
    } else {
      out_sizes.back() = current;
    }
    chunk_first_piece.push_back(static_cast<index_t>(pieces.size()));
    ChunkGrid grid =
        axis == 0 ? ChunkGrid(out_sizes, in.sizes(1)) : ChunkGrid(in.sizes(0), out_sizes);
    return std::make_shared<SelectNode>(x, axis, std::move(grid), std::move(pieces),
                                        std::move(local), std::move(chunk_first_piece), positions);
  }

  SelectNode(const NodePtr& x, int axis, ChunkGrid grid, std::vector<Piece> pieces,
             std::vector<index_t> local, std::vector<index_t> chunk_first_piece,
             const std::vector<index_t>& positions)
      : Node("getitem", x->dtype(), x->layout(), std::move(grid), {x}),
        axis_(axis),
        pieces_(std::move(pieces)),
        local_(std::move(local)),
        chunk_first_piece_(std::move(chunk_first_piece)) {
    finish_fingerprint(Hasher().add(axis_).add(positions));
  }

  void lower(Lowering& lw) const override {
    const ChunkGrid& in = inputs()[0]->grid();
    const index_t n_out = grid().num_chunks(axis_);
    const index_t n_other = grid().num_chunks(1 - axis_);
    std::vector<TaskId> deps;
    for (index_t k = 0; k < n_out; ++k) {
      for (index_t o = 0; o < n_other; ++o) {
        const index_t i = axis_ == 0 ? k : o, j = axis_ == 0 ? o : k;
        const index_t p0 = chunk_first_piece_[k], p1 = chunk_first_piece_[k + 1];
        const auto source = [&](const Piece& p) {
          return axis_ == 0 ? lw.input_chunk(0, p.source_chunk, o)
                            : lw.input_chunk(0, o, p.source_chunk);
        };
        const Piece& first = pieces_[p0];
        const bool whole = p1 - p0 == 1 &&
                           first.end - first.begin == in.chunk_size(axis_, first.source_chunk) &&
                           is_iota(first);
        if (whole) {  // the output chunk is a source chunk: reuse it
          lw.alias_chunk(i, j, source(first));
          continue;
        }
        deps.clear();
        for (index_t p = p0; p < p1; ++p) {
          const TaskId src = source(pieces_[p]);
          deps.push_back(lw.add_task({0, 1, i, j, p}, {&src, 1}, Placement::with_first_dep));
        }
        // One piece: assemble where the piece is (nothing moves); several: at the chunk's owner.
        lw.add_chunk_task(i, j, deps,
                          p1 - p0 == 1 ? Placement::with_first_dep : Placement::chunk_owner);
      }
    }
  }

  Chunk compute(const TaskKey& key, std::span<const Chunk> deps) const override {
    if (key.part == 0) return stack(deps, axis_);
    const Piece& p = pieces_[key.k];
    return take(deps[0], axis_,
                {local_.data() + p.begin, static_cast<std::size_t>(p.end - p.begin)});
  }

 private:
  bool is_iota(const Piece& p) const {
    for (index_t n = p.begin; n < p.end; ++n) {
      if (local_[n] != n - p.begin) return false;
    }
    return true;
  }

  int axis_;
  std::vector<Piece> pieces_;
  std::vector<index_t> local_;
  std::vector<index_t> chunk_first_piece_;
};

// Reduction along an axis (or all): a partial per input chunk next to it, a fixed tree of
// combines over the partials in chunk order (kSplitEvery at a time), and a final task that
// finishes (mean divides by the count). The tree depends only on the chunk grid.
class ReduceNode final : public Node {
 public:
  ReduceNode(ReduceOp op, const NodePtr& x, int axis, ChunkGrid grid)
      : Node(std::string(tessera::name(op)), reduce_result(op, x->dtype()), Layout::dense,
             std::move(grid), {x}),
        op_(op),
        axis_(axis),
        acc_(reduce_accumulator(op, x->dtype())) {
    const ChunkGrid& in = x->grid();
    reduced_chunks_ = axis == 0 ? in.num_chunks(0) : axis == 1 ? in.num_chunks(1) : in.num_chunks();
    count_ = axis == 0 ? in.shape().rows : axis == 1 ? in.shape().cols : in.shape().size();
    finish_fingerprint(Hasher().add(op_).add(axis_));
  }

  void lower(Lowering& lw) const override {
    const ChunkGrid& in = inputs()[0]->grid();
    std::vector<TaskId> level, next;
    for (index_t i = 0; i < grid().num_chunks(0); ++i) {
      for (index_t j = 0; j < grid().num_chunks(1); ++j) {
        // The input chunks this output chunk reduces, in chunk order.
        level.clear();
        if (axis_ == 1) {
          for (index_t b = 0; b < in.num_chunks(1); ++b)
            level.push_back(lw.input_chunk(0, i, b));
        } else if (axis_ == 0) {
          for (index_t a = 0; a < in.num_chunks(0); ++a)
            level.push_back(lw.input_chunk(0, a, j));
        } else {
          for (index_t a = 0; a < in.num_chunks(0); ++a) {
            for (index_t b = 0; b < in.num_chunks(1); ++b)
              level.push_back(lw.input_chunk(0, a, b));
          }
        }
        if (level.size() == 1) {
          lw.add_chunk_task(i, j, level, Placement::with_first_dep);
          continue;
        }
        for (std::size_t n = 0; n < level.size(); ++n) {
          level[n] = lw.add_task({0, 1, i, j, static_cast<index_t>(n)}, {&level[n], 1},
                                 Placement::with_first_dep);
        }
        for (std::int32_t depth = 2; level.size() > kSplitEvery; ++depth) {
          next.clear();
          for (std::size_t g = 0; g < level.size(); g += kSplitEvery) {
            const std::size_t len = std::min(kSplitEvery, level.size() - g);
            next.push_back(lw.add_task({0, depth, i, j, static_cast<index_t>(g / kSplitEvery)},
                                       {level.data() + g, len}, Placement::with_first_dep));
          }
          level.swap(next);
        }
        lw.add_chunk_task(i, j, level, Placement::with_first_dep);
      }
    }
  }

  Chunk compute(const TaskKey& key, std::span<const Chunk> deps) const override {
    if (key.part == 1) return reduce_partial(op_, deps[0], axis_, acc_);
    if (key.part >= 2) return reduce_combine(op_, deps);
    const Chunk combined = reduced_chunks_ == 1 ? reduce_partial(op_, deps[0], axis_, acc_)
                                                : reduce_combine(op_, deps);
    return reduce_finish(op_, combined, count_, dtype());
  }

 private:
  ReduceOp op_;
  int axis_;
  DType acc_;
  index_t reduced_chunks_ = 0;
  index_t count_ = 0;
};

// The common refinement of several chunkings of one axis (dask's unify_chunks).
std::vector<index_t> refine(const std::vector<const std::vector<index_t>*>& offsets) {
  std::vector<index_t> cuts;
  for (const auto* o : offsets)
    cuts.insert(cuts.end(), o->begin(), o->end());
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<index_t> sizes;
  for (std::size_t n = 1; n < cuts.size(); ++n)
    sizes.push_back(cuts[n] - cuts[n - 1]);
  if (sizes.empty()) sizes.push_back(0);
  return sizes;
}

}  // namespace

double philox_uniform(std::uint64_t seed, index_t n) {
  const auto block = philox(seed, static_cast<std::uint64_t>(n >> 1), 0);
  return (n & 1) == 0 ? u01_from(block[0], block[1]) : u01_from(block[2], block[3]);
}

NodePtr make_random(const ChunkGrid& grid, std::uint64_t seed, DType dtype) {
  if (!is_float(dtype))
    throw ValueError("random: dtype must be float32 or float64, got " + std::string(name(dtype)));
  return std::make_shared<RandomNode>(grid, seed, dtype);
}

NodePtr make_random_sparse(const ChunkGrid& grid, double density, std::uint64_t seed, DType dtype) {
  if (!(density >= 0.0 && density <= 1.0)) {
    throw ValueError("random_sparse: density must be in [0, 1], got " + std::to_string(density));
  }
  if (!is_float(dtype)) {
    throw ValueError("random_sparse: dtype must be float32 or float64, got " +
                     std::string(name(dtype)));
  }
  return std::make_shared<RandomSparseNode>(grid, density, seed, dtype);
}

NodePtr make_source(std::shared_ptr<const ChunkSource> source, const ChunkGrid& grid, DType dtype,
                    Layout layout, std::string kind) {
  return std::make_shared<SourceNode>(std::move(source), grid, dtype, layout, std::move(kind));
}

NodePtr make_full(const ChunkGrid& grid, double value, DType dtype) {
  return std::make_shared<FullNode>(grid, value, dtype);
}

NodePtr make_arange(const ChunkGrid& grid, DType dtype) {
  return std::make_shared<ArangeNode>(grid, dtype);
}

NodePtr make_from_chunk(Chunk data, const ChunkGrid& grid) {
  return std::make_shared<FromChunkNode>(std::move(data), grid);
}

NodePtr make_unary(UnaryOp op, const NodePtr& x) {
  return std::make_shared<UnaryNode>(op, x);
}

NodePtr make_binary(BinaryOp op, const NodePtr& a, const NodePtr& b) {
  if (a->shape() != b->shape()) {
    throw ShapeError("element-wise " + std::string(name(op)) + ": shapes " + to_string(a->shape()) +
                     " and " + to_string(b->shape()) + " differ");
  }
  const BinaryTypes types = binary_types(op, a->dtype(), b->dtype());
  const NodePtr bb = b->grid() == a->grid() ? b : make_rechunk(b, a->grid());
  return std::make_shared<BinaryNode>(op, a, bb, types);
}

NodePtr make_scalar(BinaryOp op, const NodePtr& x, Scalar scalar, bool scalar_left) {
  const BinaryTypes types = binary_scalar_types(op, x->dtype(), scalar);
  const bool sparse =
      x->layout() == Layout::csr && scalar_keeps_sparse(op, scalar.value, scalar_left, types);
  return std::make_shared<ScalarNode>(op, x, scalar, scalar_left, types, sparse);
}

NodePtr make_reduce(ReduceOp op, const NodePtr& x, int axis) {
  if (axis < -1 || axis > 1)
    throw ValueError("reduction axis must be 0, 1 or none, got " + std::to_string(axis));
  const Shape s = x->shape();
  const index_t reduced = axis == 0 ? s.rows : axis == 1 ? s.cols : s.size();
  if ((op == ReduceOp::min || op == ReduceOp::max) && reduced == 0) {
    throw ValueError("zero-size array to reduction operation " + std::string(name(op)) +
                     " which has no identity (shape " + to_string(s) + ")");
  }
  const ChunkGrid& in = x->grid();
  ChunkGrid grid = axis == 0   ? ChunkGrid({1}, in.sizes(1))
                   : axis == 1 ? ChunkGrid(in.sizes(0), {1})
                               : ChunkGrid({1}, {1});
  return std::make_shared<ReduceNode>(op, x, axis, std::move(grid));
}

NodePtr make_select(const NodePtr& x, int axis, std::vector<index_t> positions) {
  return SelectNode::make(x, axis, positions);
}

NodePtr make_concat(const std::vector<NodePtr>& inputs, int axis) {
  if (inputs.empty()) throw ValueError("concatenate needs at least one array");
  if (axis != 0 && axis != 1)
    throw ValueError("concatenate axis must be 0 or 1, got " + std::to_string(axis));
  const int other = 1 - axis;
  DType dtype = inputs[0]->dtype();
  bool sparse = false;
  std::vector<const std::vector<index_t>*> other_offsets;
  for (std::size_t n = 0; n < inputs.size(); ++n) {
    const auto& x = inputs[n];
    if (x->shape()[other] != inputs[0]->shape()[other]) {
      throw ShapeError("concatenate along axis " + std::to_string(axis) + ": array " +
                       std::to_string(n) + " has shape " + to_string(x->shape()) +
                       " but array 0 has " + to_string(inputs[0]->shape()) + "; the " +
                       (other == 0 ? "rows" : "columns") + " must match");
    }
    dtype = promote(dtype, x->dtype());
    sparse = sparse || x->layout() == Layout::csr;
    other_offsets.push_back(&x->grid().offsets(other));
  }
  const std::vector<index_t> common = refine(other_offsets);
  std::vector<NodePtr> unified;
  std::vector<index_t> along;
  for (const auto& x : inputs) {
    NodePtr y = x;
    if (y->dtype() != dtype) y = make_astype(y, dtype);
    if (sparse && y->layout() != Layout::csr) y = make_layout(y, Layout::csr);
    if (y->grid().sizes(other) != common) {
      y = make_rechunk(y, axis == 0 ? ChunkGrid(y->grid().sizes(0), common)
                                    : ChunkGrid(common, y->grid().sizes(1)));
    }
    if (y->shape()[axis] > 0)
      along.insert(along.end(), y->grid().sizes(axis).begin(), y->grid().sizes(axis).end());
    unified.push_back(std::move(y));
  }
  if (along.empty()) along.push_back(0);
  ChunkGrid grid = axis == 0 ? ChunkGrid(along, common) : ChunkGrid(common, along);
  return std::make_shared<ConcatNode>(unified, axis, std::move(grid));
}

NodePtr make_rechunk(const NodePtr& x, const ChunkGrid& grid) {
  if (grid.shape() != x->shape()) {
    throw ShapeError("rechunk: chunks for shape " + to_string(grid.shape()) +
                     " do not fit an array of shape " + to_string(x->shape()));
  }
  if (grid == x->grid()) return x;
  return std::make_shared<RechunkNode>(x, grid);
}

NodePtr make_transpose(const NodePtr& x) {
  return std::make_shared<TransposeNode>(x);
}

NodePtr make_astype(const NodePtr& x, DType dtype) {
  if (dtype == x->dtype()) return x;
  return std::make_shared<AstypeNode>(x, dtype);
}

NodePtr make_layout(const NodePtr& x, Layout layout) {
  if (layout == x->layout()) return x;
  return std::make_shared<LayoutNode>(x, layout);
}

}  // namespace tessera::detail
