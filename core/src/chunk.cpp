#include "tessera/core/chunk.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>

#include "detail/convert.hpp"
#include "tessera/core/buffer_pool.hpp"
#include "tessera/core/error.hpp"

namespace tessera {

std::shared_ptr<Buffer> Buffer::allocate(std::size_t bytes) {
  if (bytes >= BufferPool::kMinBytes) {
    // Recycled (buffer_pool.hpp): a new 128 MiB mapping page-faults at first touch.
    std::shared_ptr<std::byte> storage = BufferPool::instance().take(bytes);
    std::byte* data = storage.get();
    return std::make_shared<Buffer>(Key{}, std::move(storage), data, bytes);
  }
  // for_overwrite: no zero-filling, writers fill every byte they publish.
  std::shared_ptr<std::byte[]> storage =
      std::make_shared_for_overwrite<std::byte[]>(std::max<std::size_t>(bytes, 1));
  std::byte* data = storage.get();
  return std::make_shared<Buffer>(Key{}, std::move(storage), data, bytes);
}

Chunk::Chunk() = default;  // no storage: a 0×0 chunk never touches its buffer

Chunk::Chunk(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer, index_t offset, index_t ld)
    : dtype_(dtype), shape_(shape), buffer_(std::move(buffer)), offset_(offset), ld_(ld) {}

void Chunk::check_dense_size(Shape shape, index_t n) {
  if (shape.rows < 0 || shape.cols < 0) {
    throw ShapeError("chunk shape must not be negative, got " + to_string(shape));
  }
  if (shape.size() != n) {
    throw ShapeError("dense values: " + std::to_string(n) + " values do not fill shape " +
                     to_string(shape));
  }
}

Chunk Chunk::dense(DType dtype, Shape shape) {
  check_dense_size(shape, shape.size());
  auto buffer = Buffer::allocate(static_cast<std::size_t>(shape.size()) * itemsize(dtype));
  return {dtype, shape, std::move(buffer), 0, shape.cols};
}

Chunk Chunk::dense_filled(DType dtype, Shape shape, double value) {
  Chunk c = dense(dtype, shape);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = detail::convert<T>(value);
    std::fill_n(c.mutable_row<T>(0), shape.size(), v);
  });
  return c;
}

Chunk Chunk::from_values(Shape shape, const std::vector<bool>& values) {
  check_dense_size(shape, static_cast<index_t>(values.size()));
  Chunk c = dense(DType::boolean, shape);
  bool* out = c.mutable_row<bool>(0);
  for (std::size_t i = 0; i < values.size(); ++i)
    out[i] = values[i];
  return c;
}

Chunk Chunk::dense_view(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer, index_t offset,
                        index_t ld) {
  const index_t needed =
      shape.rows == 0 || shape.cols == 0 ? 0 : offset + (shape.rows - 1) * ld + shape.cols;
  if (offset < 0 || ld < shape.cols ||
      static_cast<std::size_t>(needed) * itemsize(dtype) > buffer->size()) {
    throw ShapeError("dense view of shape " + to_string(shape) + " at offset " +
                     std::to_string(offset) + " with row stride " + std::to_string(ld) +
                     " does not fit a buffer of " + std::to_string(buffer->size()) + " bytes");
  }
  return {dtype, shape, std::move(buffer), offset, ld};
}

Chunk Chunk::csr(DType dtype, Shape shape, std::vector<index_t> indptr,
                 std::vector<index_t> indices, std::shared_ptr<Buffer> data) {
  const auto what = [&] { return "CSR matrix of shape " + to_string(shape) + ": "; };
  if (shape.rows < 0 || shape.cols < 0) throw ShapeError(what() + "negative shape");
  if (static_cast<index_t>(indptr.size()) != shape.rows + 1) {
    throw ShapeError(what() + "indptr has " + std::to_string(indptr.size()) +
                     " entries, expected " + std::to_string(shape.rows + 1));
  }
  const auto nnz = static_cast<index_t>(indices.size());
  if (indptr.front() != 0)
    throw IndexError(what() + "indptr[0] is " + std::to_string(indptr.front()) + ", not 0");
  for (index_t r = 0; r < shape.rows; ++r) {
    if (indptr[r + 1] < indptr[r]) {
      throw IndexError(what() + "indptr decreases at row " + std::to_string(r) + " (" +
                       std::to_string(indptr[r]) + " > " + std::to_string(indptr[r + 1]) + ")");
    }
  }
  if (indptr.back() != nnz) {
    throw IndexError(what() + "indptr ends at " + std::to_string(indptr.back()) +
                     " but there are " + std::to_string(nnz) + " indices");
  }
  if (data->size() != static_cast<std::size_t>(nnz) * itemsize(dtype)) {
    throw ShapeError(what() + "data holds " + std::to_string(data->size() / itemsize(dtype)) +
                     " values but there are " + std::to_string(nnz) +
                     " indices (they must be the same size)");
  }
  bool canonical = true;
  for (index_t r = 0; r < shape.rows; ++r) {
    for (index_t p = indptr[r]; p < indptr[r + 1]; ++p) {
      if (indices[p] < 0 || indices[p] >= shape.cols) {
        throw IndexError(what() + "column index " + std::to_string(indices[p]) + " in row " +
                         std::to_string(r) + " is outside [0, " + std::to_string(shape.cols) + ")");
      }
      if (p > indptr[r] && indices[p] <= indices[p - 1]) canonical = false;
    }
  }
  if (!canonical) {
    // scipy's sort_indices + sum_duplicates, row by row.
    dispatch(dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* values = reinterpret_cast<const T*>(data->data());
      std::vector<index_t> new_indptr(1, 0), new_indices;
      std::vector<T> new_values;
      new_indices.reserve(indices.size());
      new_values.reserve(indices.size());
      std::vector<index_t> order;
      for (index_t r = 0; r < shape.rows; ++r) {
        order.resize(static_cast<std::size_t>(indptr[r + 1] - indptr[r]));
        std::iota(order.begin(), order.end(), indptr[r]);
        std::stable_sort(order.begin(), order.end(),
                         [&](index_t a, index_t b) { return indices[a] < indices[b]; });
        for (std::size_t n = 0; n < order.size(); ++n) {
          const index_t p = order[n];
          if (n > 0 && indices[p] == new_indices.back()) {
            new_values.back() = static_cast<T>(new_values.back() + values[p]);
          } else {
            new_indices.push_back(indices[p]);
            new_values.push_back(values[p]);
          }
        }
        new_indptr.push_back(static_cast<index_t>(new_indices.size()));
      }
      indptr = std::move(new_indptr);
      indices = std::move(new_indices);
      auto buf = Buffer::allocate(new_values.size() * sizeof(T));
      std::copy(new_values.begin(), new_values.end(), reinterpret_cast<T*>(buf->data()));
      data = std::move(buf);
    });
  }
  return csr_unchecked(
      dtype, shape, std::make_shared<const std::vector<index_t>>(std::move(indptr)), 0,
      std::make_shared<const std::vector<index_t>>(std::move(indices)), std::move(data));
}

Chunk Chunk::csr_unchecked(DType dtype, Shape shape,
                           std::shared_ptr<const std::vector<index_t>> indptr,
                           index_t indptr_offset,
                           std::shared_ptr<const std::vector<index_t>> indices,
                           std::shared_ptr<Buffer> data) {
  TESSERA_ASSERT(static_cast<index_t>(indptr->size()) >= indptr_offset + shape.rows + 1,
                 "CSR indptr shorter than its rows");
  Chunk c(dtype, shape, std::move(data), 0, 0);
  c.layout_ = Layout::csr;
  c.indptr_ = std::move(indptr);
  c.indptr_offset_ = indptr_offset;
  c.indices_ = std::move(indices);
  return c;
}

index_t Chunk::nnz() const {
  if (layout_ == Layout::dense) return shape_.size();
  const auto p = indptr();
  return p.back() - p.front();
}

std::size_t Chunk::nbytes() const {
  const auto n = static_cast<std::size_t>(nnz());
  if (layout_ == Layout::dense) return n * itemsize(dtype_);
  return n * (itemsize(dtype_) + sizeof(index_t)) +
         static_cast<std::size_t>(shape_.rows + 1) * sizeof(index_t);
}

double Chunk::value_at(index_t r, index_t c) const {
  if (r < 0 || r >= shape_.rows || c < 0 || c >= shape_.cols) {
    throw IndexError("element (" + std::to_string(r) + ", " + std::to_string(c) +
                     ") is outside a chunk of shape " + to_string(shape_));
  }
  return dispatch(dtype_, [&](auto tag) -> double {
    using T = typename decltype(tag)::type;
    if (layout_ == Layout::dense) return static_cast<double>(row<T>(r)[c]);
    const auto p = indptr();
    const index_t* begin = indices() + p[r];
    const index_t* end = indices() + p[r + 1];
    const index_t* it = std::lower_bound(begin, end, c);
    if (it == end || *it != c) return 0.0;
    return static_cast<double>(data<T>()[it - indices()]);
  });
}

Chunk Chunk::block(index_t r0, index_t r1, index_t c0, index_t c1) const {
  if (r0 < 0 || r1 < r0 || r1 > shape_.rows || c0 < 0 || c1 < c0 || c1 > shape_.cols) {
    throw IndexError("block [" + std::to_string(r0) + ":" + std::to_string(r1) + ", " +
                     std::to_string(c0) + ":" + std::to_string(c1) +
                     "] is outside a chunk of shape " + to_string(shape_));
  }
  const Shape out{r1 - r0, c1 - c0};
  if (layout_ == Layout::dense) return {dtype_, out, buffer_, offset_ + r0 * ld_ + c0, ld_};
  if (c0 == 0 && c1 == shape_.cols) {
    return csr_unchecked(dtype_, out, indptr_, indptr_offset_ + r0, indices_, buffer_);
  }
  return dispatch(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto p = indptr();
    std::vector<index_t> new_indptr(1, 0), new_indices;
    std::vector<index_t> src;  // positions kept
    for (index_t r = r0; r < r1; ++r) {
      const index_t* begin = indices() + p[r];
      const index_t* end = indices() + p[r + 1];
      const index_t* lo = std::lower_bound(begin, end, c0);
      const index_t* hi = std::lower_bound(lo, end, c1);
      for (const index_t* it = lo; it != hi; ++it) {
        new_indices.push_back(*it - c0);
        src.push_back(it - indices());
      }
      new_indptr.push_back(static_cast<index_t>(new_indices.size()));
    }
    auto buf = Buffer::allocate(src.size() * sizeof(T));
    T* values = reinterpret_cast<T*>(buf->data());
    for (std::size_t n = 0; n < src.size(); ++n)
      values[n] = data<T>()[src[n]];
    return csr_unchecked(
        dtype_, out, std::make_shared<const std::vector<index_t>>(std::move(new_indptr)), 0,
        std::make_shared<const std::vector<index_t>>(std::move(new_indices)), std::move(buf));
  });
}

Chunk Chunk::to_dense() const {
  if (layout_ == Layout::dense) return *this;
  Chunk out = dense_filled(dtype_, shape_, 0.0);
  dispatch(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto p = indptr();
    for (index_t r = 0; r < shape_.rows; ++r) {
      T* dst = out.mutable_row<T>(r);
      for (index_t q = p[r]; q < p[r + 1]; ++q)
        dst[indices()[q]] = data<T>()[q];
    }
  });
  return out;
}

Chunk Chunk::to_csr() const {
  if (layout_ == Layout::csr) return *this;
  return dispatch(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<index_t> new_indptr(1, 0), new_indices;
    std::vector<T> values;
    for (index_t r = 0; r < shape_.rows; ++r) {
      const T* src = row<T>(r);
      for (index_t c = 0; c < shape_.cols; ++c) {
        if (src[c] != T{} || detail::is_nan(src[c])) {
          new_indices.push_back(c);
          values.push_back(src[c]);
        }
      }
      new_indptr.push_back(static_cast<index_t>(new_indices.size()));
    }
    auto buf = Buffer::allocate(values.size() * sizeof(T));
    std::copy(values.begin(), values.end(), reinterpret_cast<T*>(buf->data()));
    return csr_unchecked(
        dtype_, shape_, std::make_shared<const std::vector<index_t>>(std::move(new_indptr)), 0,
        std::make_shared<const std::vector<index_t>>(std::move(new_indices)), std::move(buf));
  });
}

Chunk Chunk::to_layout(Layout layout) const {
  return layout == Layout::dense ? to_dense() : to_csr();
}

Chunk Chunk::astype(DType dtype) const {
  if (dtype == dtype_) return *this;
  return dispatch(dtype_, [&](auto from_tag) {
    using From = typename decltype(from_tag)::type;
    return dispatch(dtype, [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      if (layout_ == Layout::dense) {
        Chunk out = dense(dtype, shape_);
        for (index_t r = 0; r < shape_.rows; ++r) {
          const From* src = row<From>(r);
          To* dst = out.mutable_row<To>(r);
          for (index_t c = 0; c < shape_.cols; ++c)
            dst[c] = detail::convert<To>(src[c]);
        }
        return out;
      }
      const auto p = indptr();
      auto buf = Buffer::allocate(static_cast<std::size_t>(p.back() - p.front()) * sizeof(To));
      To* dst = reinterpret_cast<To*>(buf->data());
      for (index_t q = p.front(); q < p.back(); ++q)
        dst[q - p.front()] = detail::convert<To>(data<From>()[q]);
      return with_values(dtype, std::move(buf));
    });
  });
}

Chunk Chunk::with_values(DType dtype, std::shared_ptr<Buffer> values) const {
  TESSERA_ASSERT(layout_ == Layout::csr, "with_values on a dense chunk");
  const auto p = indptr();
  const index_t base = p.front();
  TESSERA_ASSERT(values->size() >= static_cast<std::size_t>(p.back() - base) * itemsize(dtype),
                 "with_values: too few values for the structure");
  if (base == 0)
    return csr_unchecked(dtype, shape_, indptr_, indptr_offset_, indices_, std::move(values));
  std::vector<index_t> new_indptr(p.begin(), p.end());
  for (auto& v : new_indptr)
    v -= base;
  return csr_unchecked(
      dtype, shape_, std::make_shared<const std::vector<index_t>>(std::move(new_indptr)), 0,
      std::make_shared<const std::vector<index_t>>(indices() + base, indices() + p.back()),
      std::move(values));
}

Chunk Chunk::deep_copy() const {
  const std::size_t item = itemsize(dtype_);
  if (layout_ == Layout::dense) {
    Chunk out = dense(dtype_, shape_);
    for (index_t r = 0; r < shape_.rows; ++r) {
      std::memcpy(out.buffer_->data() + static_cast<std::size_t>(r * shape_.cols) * item,
                  raw_row(r), static_cast<std::size_t>(shape_.cols) * item);
    }
    return out;
  }
  const auto p = indptr();
  const index_t base = p.front();
  std::vector<index_t> new_indptr(p.begin(), p.end());
  for (auto& v : new_indptr)
    v -= base;
  std::vector<index_t> new_indices(indices() + base, indices() + p.back());
  auto buf = Buffer::allocate(new_indices.size() * item);
  if (!new_indices.empty())
    std::memcpy(buf->data(), buffer_->data() + base * static_cast<index_t>(item),
                new_indices.size() * item);
  return csr_unchecked(
      dtype_, shape_, std::make_shared<const std::vector<index_t>>(std::move(new_indptr)), 0,
      std::make_shared<const std::vector<index_t>>(std::move(new_indices)), std::move(buf));
}

namespace {

// Both chunks as dense float64 rows, for the comparisons below.
Chunk as_dense_double(const Chunk& c) {
  return c.to_dense().astype(DType::float64);
}

}  // namespace

bool array_equal(const Chunk& a, const Chunk& b) {
  if (a.shape() != b.shape()) return false;
  if (a.layout() == Layout::dense && b.layout() == Layout::dense && a.dtype() == b.dtype() &&
      is_integer(a.dtype())) {
    return dispatch(a.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (index_t r = 0; r < a.rows(); ++r) {
        if (!std::equal(a.row<T>(r), a.row<T>(r) + a.cols(), b.row<T>(r))) return false;
      }
      return true;
    });
  }
  const Chunk x = as_dense_double(a), y = as_dense_double(b);
  for (index_t r = 0; r < x.rows(); ++r) {
    for (index_t c = 0; c < x.cols(); ++c) {
      const double u = x.row<double>(r)[c], v = y.row<double>(r)[c];
      if (!(u == v || (std::isnan(u) && std::isnan(v)))) return false;
    }
  }
  return true;
}

bool identical(const Chunk& a, const Chunk& b) {
  if (a.layout() != b.layout() || a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const std::size_t item = itemsize(a.dtype());
  if (a.layout() == Layout::dense) {
    for (index_t r = 0; r < a.rows(); ++r) {
      if (std::memcmp(a.raw_row(r), b.raw_row(r), static_cast<std::size_t>(a.cols()) * item) != 0)
        return false;
    }
    return true;
  }
  const auto pa = a.indptr(), pb = b.indptr();
  for (index_t r = 0; r <= a.rows(); ++r) {
    if (pa[r] - pa[0] != pb[r] - pb[0]) return false;
  }
  const index_t n = pa.back() - pa.front();
  return std::equal(a.indices() + pa[0], a.indices() + pa[0] + n, b.indices() + pb[0]) &&
         (n == 0 || std::memcmp(a.buffer()->data() + pa[0] * static_cast<index_t>(item),
                                b.buffer()->data() + pb[0] * static_cast<index_t>(item),
                                static_cast<std::size_t>(n) * item) == 0);
}

double max_relative_difference(const Chunk& a, const Chunk& b) {
  if (a.shape() != b.shape()) return std::numeric_limits<double>::infinity();
  const Chunk x = as_dense_double(a), y = as_dense_double(b);
  double worst = 0.0;
  for (index_t r = 0; r < x.rows(); ++r) {
    for (index_t c = 0; c < x.cols(); ++c) {
      const double u = x.row<double>(r)[c], v = y.row<double>(r)[c];
      if (std::isnan(u) || std::isnan(v)) {
        if (std::isnan(u) != std::isnan(v)) return std::numeric_limits<double>::infinity();
        continue;
      }
      if (u == v) continue;  // equal infinities too
      worst = std::max(worst, std::abs(u - v) / std::max(1.0, std::abs(v)));
    }
  }
  return worst;
}

}  // namespace tessera
