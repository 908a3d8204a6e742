// The nodes behind top_n_sums and divide_rows. Each computes its tasks from the task key, so
// every rank rebuilds the same task graph (the SPMD contract); parameters are hashed into the
// fingerprint.
#include "tessera/analysis/row_ops.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "tessera/core/error.hpp"

namespace tessera::analysis {
namespace {

// Output chunk (i, 0): the top-N sums of chunk-row i, from all of its column chunks.
class TopNSumsNode final : public Node {
 public:
  TopNSumsNode(const NodePtr& x, std::vector<index_t> ns)
      : Node("top-n-sums", DType::float64, Layout::dense,
             ChunkGrid(x->grid().sizes(0), {static_cast<index_t>(ns.size())}), {x}),
        ns_(std::move(ns)) {
    finish_fingerprint(Hasher().add(ns_));
  }

  void lower(Lowering& lw) const override {
    const ChunkGrid& in = inputs()[0]->grid();
    std::vector<TaskId> deps;
    for (index_t i = 0; i < in.num_chunks(0); ++i) {
      deps.clear();
      for (index_t j = 0; j < in.num_chunks(1); ++j)
        deps.push_back(lw.input_chunk(0, i, j));
      lw.add_chunk_task(i, 0, deps, Placement::with_first_dep);
    }
  }

  Chunk compute(const TaskKey&, std::span<const Chunk> deps) const override {
    const index_t rows = deps.empty() ? 0 : deps[0].rows();
    const auto k = static_cast<index_t>(ns_.size());
    const index_t largest = ns_.back();
    Chunk out = Chunk::dense(DType::float64, {rows, k});
    std::vector<double> values;
    for (index_t r = 0; r < rows; ++r) {
      values.clear();
      index_t implicit_zeros = 0;
      for (const Chunk& c : deps) {
        dispatch(c.dtype(), [&](auto tag) {
          using T = typename decltype(tag)::type;
          if (c.is_sparse()) {
            const auto p = c.indptr();
            const T* v = c.data<T>();
            for (index_t q = p[r]; q < p[r + 1]; ++q)
              values.push_back(static_cast<double>(v[q]));
            implicit_zeros += c.cols() - (p[r + 1] - p[r]);
          } else {
            const T* v = c.row<T>(r);
            for (index_t col = 0; col < c.cols(); ++col)
              values.push_back(static_cast<double>(v[col]));
          }
        });
      }
      // The implicit zeros of sparse rows are values too (they matter when stored values are
      // negative); a few stand for all of them, since only `largest` values can be taken.
      values.insert(values.end(), static_cast<std::size_t>(std::min(implicit_zeros, largest)), 0.0);
      const auto take = static_cast<std::ptrdiff_t>(
          std::min<index_t>(largest, static_cast<index_t>(values.size())));
      std::partial_sort(values.begin(), values.begin() + take, values.end(), std::greater<>());
      double* dst = out.mutable_row<double>(r);
      double acc = 0.0;
      std::ptrdiff_t at = 0;
      for (index_t n = 0; n < k; ++n) {
        const auto upto = static_cast<std::ptrdiff_t>(ns_[static_cast<std::size_t>(n)]);
        for (; at < upto && at < take; ++at)
          acc += values[static_cast<std::size_t>(at)];
        dst[n] = acc;
      }
    }
    return out;
  }

 private:
  std::vector<index_t> ns_;
};

// Output chunk (i, j): chunk (i, j) of x in `dtype`, each row divided by its divisor.
class DivideRowsNode final : public Node {
 public:
  DivideRowsNode(const NodePtr& x, Chunk divisors, DType dtype)
      : Node("divide-rows", dtype, x->layout(), x->grid(), {x}), divisors_(std::move(divisors)) {
    Hasher h;
    h.add(dtype);
    for (index_t r = 0; r < divisors_.rows(); ++r)
      h.bytes(divisors_.raw_row(r), itemsize(dtype));
    finish_fingerprint(h);
  }

  void lower(Lowering& lw) const override {
    const ChunkGrid& g = grid();
    for (index_t i = 0; i < g.num_chunks(0); ++i) {
      for (index_t j = 0; j < g.num_chunks(1); ++j) {
        const TaskId dep = lw.input_chunk(0, i, j);
        lw.add_chunk_task(i, j, {&dep, 1}, Placement::with_first_dep);
      }
    }
  }

  Chunk compute(const TaskKey& key, std::span<const Chunk> deps) const override {
    const index_t first_row = grid().chunk_offset(0, key.i);
    const Chunk x = deps[0].astype(dtype());
    return dispatch(dtype(), [&](auto tag) -> Chunk {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_floating_point_v<T>) {
        if (x.is_sparse()) {
          const auto p = x.indptr();
          auto buffer =
              Buffer::allocate(static_cast<std::size_t>(p.back() - p.front()) * sizeof(T));
          T* dst = reinterpret_cast<T*>(buffer->data());
          const T* src = x.data<T>();
          for (index_t r = 0; r < x.rows(); ++r) {
            const T d = *divisors_.row<T>(first_row + r);
            for (index_t q = p[r]; q < p[r + 1]; ++q)
              dst[q - p.front()] = src[q] / d;
          }
          return x.with_values(dtype(), std::move(buffer));
        }
        Chunk out = Chunk::dense(dtype(), x.shape());
        for (index_t r = 0; r < x.rows(); ++r) {
          const T d = *divisors_.row<T>(first_row + r);
          const T* src = x.row<T>(r);
          T* dst = out.mutable_row<T>(r);
          for (index_t c = 0; c < x.cols(); ++c)
            dst[c] = src[c] / d;
        }
        return out;
      } else {
        throw InternalError("divide_rows: dtype must be float32 or float64");
      }
    });
  }

 private:
  Chunk divisors_;
};

}  // namespace

Array top_n_sums(const Array& x, std::vector<index_t> ns) {
  if (ns.empty()) throw ValueError("top_n_sums: no positions given");
  if (!std::is_sorted(ns.begin(), ns.end()))
    throw ValueError("top_n_sums: positions must be sorted");
  if (ns.front() < 1 || ns.back() > x.shape().cols) {
    throw ValueError("top_n_sums: positions outside range of features (1 to " +
                     std::to_string(x.shape().cols) + "), got " + std::to_string(ns.front()) +
                     " to " + std::to_string(ns.back()));
  }
  return Array(std::make_shared<TopNSumsNode>(x.node(), std::move(ns)));
}

Array divide_rows(const Array& x, const Chunk& divisors, DType dtype) {
  if (dtype != DType::float32 && dtype != DType::float64)
    throw ValueError("divide_rows: the result's dtype must be float32 or float64, got " +
                     std::string(name(dtype)));
  if (divisors.rows() != x.shape().rows || divisors.cols() != 1) {
    throw ShapeError("divide_rows: " + std::to_string(x.shape().rows) +
                     " rows but divisors of shape (" + std::to_string(divisors.rows()) + ", " +
                     std::to_string(divisors.cols()) + ")");
  }
  Chunk d = divisors.to_dense().astype(dtype);
  if (!d.is_contiguous()) d = d.deep_copy();
  return Array(std::make_shared<DivideRowsNode>(x.node(), std::move(d), dtype));
}

}  // namespace tessera::analysis
