#include "detail/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

#include "detail/convert.hpp"
#include "tessera/core/error.hpp"

namespace tessera::detail {
namespace {

template <typename T>
T min_propagating(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a) return a;
    if (b != b) return b;
  }
  return b < a ? b : a;
}

template <typename T>
T max_propagating(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a) return a;
    if (b != b) return b;
  }
  return a < b ? b : a;
}

template <typename T>
T integer_power(T base, T exponent) {
  if constexpr (std::is_signed_v<T>) {
    if (exponent < 0) {
      if (base == 1) return 1;
      if (base == -1) return (exponent % 2 == 0) ? T{1} : T{-1};
      return 0;
    }
  }
  T result = 1;
  while (exponent > 0) {
    if (exponent & 1) result = static_cast<T>(result * base);
    base = static_cast<T>(base * base);
    exponent = static_cast<T>(exponent >> 1);
  }
  return result;
}

// A new CSR chunk from freshly built parts.
template <typename T>
Chunk make_csr(Shape shape, std::vector<index_t> indptr, std::vector<index_t> indices,
               const std::vector<store_t<T>>& values) {
  auto buf = Buffer::allocate(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(buf->data(), values.data(), values.size() * sizeof(T));
  return Chunk::csr_unchecked(
      dtype_of<T>, shape, std::make_shared<const std::vector<index_t>>(std::move(indptr)), 0,
      std::make_shared<const std::vector<index_t>>(std::move(indices)), std::move(buf));
}

// Applies f to every stored value: every element of a dense chunk, the non-zeros of a CSR one.
template <typename T, typename F>
Chunk map_values(const Chunk& x, F f) {
  using O = std::invoke_result_t<F, T>;
  if (x.layout() == Layout::dense) {
    Chunk out = Chunk::dense(dtype_of<O>, x.shape());
    for (index_t r = 0; r < x.rows(); ++r) {
      const T* src = x.row<T>(r);
      O* dst = out.mutable_row<O>(r);
      for (index_t c = 0; c < x.cols(); ++c)
        dst[c] = f(src[c]);
    }
    return out;
  }
  const auto p = x.indptr();
  auto buf = Buffer::allocate(static_cast<std::size_t>(p.back() - p.front()) * sizeof(O));
  O* dst = reinterpret_cast<O*>(buf->data());
  const T* src = x.data<T>();
  for (index_t q = p.front(); q < p.back(); ++q)
    dst[q - p.front()] = f(src[q]);
  return x.with_values(dtype_of<O>, std::move(buf));
}

// Calls f with the element function of a unary op on values of type T.
template <typename T, typename F>
Chunk with_unary_fn(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::negative:
      if constexpr (std::is_same_v<T, bool>) {
        break;
      } else {
        return f([](T v) { return static_cast<T>(-v); });
      }
    case UnaryOp::absolute:
      return f([](T v) {
        if constexpr (std::is_signed_v<T> || std::is_floating_point_v<T>) {
          return static_cast<T>(v < 0 ? -v : v);
        } else {
          return v;
        }
      });
    case UnaryOp::square:
      return f([](T v) {
        if constexpr (std::is_same_v<T, bool>) {
          return v;
        } else {
          return static_cast<T>(v * v);
        }
      });
    case UnaryOp::sign:
      return f([](T v) {
        if constexpr (std::is_floating_point_v<T>) {
          if (v != v) return v;
        }
        return static_cast<T>((T{} < v) - (v < T{}));
      });
    case UnaryOp::logical_not:
      return f([](T v) { return !(v != T{}); });
    default:
      break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UnaryOp::sqrt:
        return f([](T v) { return std::sqrt(v); });
      case UnaryOp::exp:
        return f([](T v) { return std::exp(v); });
      case UnaryOp::expm1:
        return f([](T v) { return std::expm1(v); });
      case UnaryOp::log:
        return f([](T v) { return std::log(v); });
      case UnaryOp::log1p:
        return f([](T v) { return std::log1p(v); });
      case UnaryOp::sin:
        return f([](T v) { return std::sin(v); });
      case UnaryOp::cos:
        return f([](T v) { return std::cos(v); });
      case UnaryOp::tanh:
        return f([](T v) { return std::tanh(v); });
      default:
        break;
    }
  }
  throw InternalError("unary kernel: op " + std::string(name(op)) + " on " +
                      std::string(name(dtype_of<T>)));
}

// Calls f with the element function of a binary op on values of the compute type C.
template <typename C, typename F>
Chunk with_binary_fn(BinaryOp op, F&& f) {
  constexpr bool is_bool = std::is_same_v<C, bool>;
  switch (op) {
    case BinaryOp::add:
      return f([](C x, C y) {
        if constexpr (is_bool) {
          return static_cast<C>(x || y);
        } else {
          return static_cast<C>(x + y);
        }
      });
    case BinaryOp::subtract:
      if constexpr (is_bool) {
        break;
      } else {
        return f([](C x, C y) { return static_cast<C>(x - y); });
      }
    case BinaryOp::multiply:
      return f([](C x, C y) {
        if constexpr (is_bool) {
          return static_cast<C>(x && y);
        } else {
          return static_cast<C>(x * y);
        }
      });
    case BinaryOp::divide:
      if constexpr (std::is_floating_point_v<C>) {
        return f([](C x, C y) { return x / y; });
      } else {
        break;
      }
    case BinaryOp::power:
      if constexpr (std::is_floating_point_v<C>) {
        return f([](C x, C y) { return static_cast<C>(std::pow(x, y)); });
      } else if constexpr (!is_bool) {
        return f([](C x, C y) { return integer_power(x, y); });
      } else {
        break;
      }
    case BinaryOp::minimum:
      return f([](C x, C y) { return min_propagating(x, y); });
    case BinaryOp::maximum:
      return f([](C x, C y) { return max_propagating(x, y); });
    case BinaryOp::equal:
      return f([](C x, C y) { return x == y; });
    case BinaryOp::not_equal:
      return f([](C x, C y) { return x != y; });
    case BinaryOp::less:
      return f([](C x, C y) { return x < y; });
    case BinaryOp::less_equal:
      return f([](C x, C y) { return x <= y; });
    case BinaryOp::greater:
      return f([](C x, C y) { return x > y; });
    case BinaryOp::greater_equal:
      return f([](C x, C y) { return x >= y; });
    case BinaryOp::logical_and:
      return f([](C x, C y) { return x != C{} && y != C{}; });
    case BinaryOp::logical_or:
      return f([](C x, C y) { return x != C{} || y != C{}; });
  }
  throw InternalError("binary kernel: op " + std::string(name(op)) + " in " +
                      std::string(name(dtype_of<C>)));
}

template <typename C, typename F>
Chunk binary_dense(const Chunk& a, const Chunk& b, F f) {
  using O = std::invoke_result_t<F, C, C>;
  Chunk out = Chunk::dense(dtype_of<O>, a.shape());
  for (index_t r = 0; r < a.rows(); ++r) {
    const C* x = a.row<C>(r);
    const C* y = b.row<C>(r);
    O* dst = out.mutable_row<O>(r);
    for (index_t c = 0; c < a.cols(); ++c)
      dst[c] = f(x[c], y[c]);
  }
  return out;
}

// scipy's csr_binop_csr: union of the patterns (intersection for multiply), zeros dropped.
template <typename C, typename F>
Chunk binary_csr(const Chunk& a, const Chunk& b, bool intersect, F f) {
  using O = std::invoke_result_t<F, C, C>;
  const auto pa = a.indptr(), pb = b.indptr();
  const C* va = a.data<C>();
  const C* vb = b.data<C>();
  std::vector<index_t> indptr(1, 0), indices;
  std::vector<store_t<O>> values;
  const auto emit = [&](index_t col, O v) {
    if (v != O{} || detail::is_nan(v)) {
      indices.push_back(col);
      values.push_back(v);
    }
  };
  for (index_t r = 0; r < a.rows(); ++r) {
    index_t p = pa[r], q = pb[r];
    while (p < pa[r + 1] || q < pb[r + 1]) {
      const index_t ca = p < pa[r + 1] ? a.indices()[p] : a.cols();
      const index_t cb = q < pb[r + 1] ? b.indices()[q] : b.cols();
      if (ca == cb) {
        emit(ca, f(va[p++], vb[q++]));
      } else if (ca < cb) {
        if (!intersect) emit(ca, f(va[p], C{}));
        ++p;
      } else {
        if (!intersect) emit(cb, f(C{}, vb[q]));
        ++q;
      }
    }
    indptr.push_back(static_cast<index_t>(indices.size()));
  }
  return make_csr<O>(a.shape(), std::move(indptr), std::move(indices), values);
}

// Sum of n values in a fixed order with eight interleaved accumulators: fast (no dependency
// chain) and deterministic (the order depends only on n).
template <typename A, typename T>
A blocked_sum(const T* p, index_t n) {
  A s[8] = {};
  index_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k)
      s[k] += static_cast<A>(p[i + k]);
  }
  for (; i < n; ++i)
    s[0] += static_cast<A>(p[i]);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

template <typename T>
bool nonzero(T v) {
  return v != T{};
}

template <typename A, typename T>
Chunk partial_dense(ReduceOp op, const Chunk& x, int axis) {
  const index_t rows = x.rows(), cols = x.cols();
  const bool additive =
      op == ReduceOp::sum || op == ReduceOp::mean || op == ReduceOp::count_nonzero;
  const auto fold = [op](A acc, A v) {
    return op == ReduceOp::min ? min_propagating(acc, v) : max_propagating(acc, v);
  };
  const auto value = [op](T v) {
    return op == ReduceOp::count_nonzero ? static_cast<A>(nonzero(v)) : static_cast<A>(v);
  };
  if (axis == 1) {
    Chunk out = Chunk::dense(dtype_of<A>, {rows, 1});
    for (index_t r = 0; r < rows; ++r) {
      const T* p = x.row<T>(r);
      A acc{};
      if (op == ReduceOp::sum || op == ReduceOp::mean) {
        acc = blocked_sum<A>(p, cols);
      } else if (op == ReduceOp::count_nonzero) {
        index_t n = 0;
        for (index_t c = 0; c < cols; ++c)
          n += nonzero(p[c]) ? 1 : 0;
        acc = static_cast<A>(n);
      } else {
        acc = static_cast<A>(p[0]);
        for (index_t c = 1; c < cols; ++c)
          acc = fold(acc, static_cast<A>(p[c]));
      }
      *out.mutable_row<A>(r) = acc;
    }
    return out;
  }
  // Columns (axis 0) and everything (-1): fold rows into one accumulator row, in row order.
  std::vector<store_t<A>> acc(static_cast<std::size_t>(cols), store_t<A>{});
  index_t first_row = 0;
  if (additive && op != ReduceOp::count_nonzero) {
    // Four rows per pass over the accumulator row: a quarter of the accumulator traffic, and
    // still a fixed order ((r0 + r1) + (r2 + r3)) that depends only on the chunk.
    for (; first_row + 4 <= rows; first_row += 4) {
      const T* p0 = x.row<T>(first_row);
      const T* p1 = x.row<T>(first_row + 1);
      const T* p2 = x.row<T>(first_row + 2);
      const T* p3 = x.row<T>(first_row + 3);
      for (index_t c = 0; c < cols; ++c) {
        acc[c] += (static_cast<A>(p0[c]) + static_cast<A>(p1[c])) +
                  (static_cast<A>(p2[c]) + static_cast<A>(p3[c]));
      }
    }
  }
  for (index_t r = first_row; r < rows; ++r) {
    const T* p = x.row<T>(r);
    if (additive) {
      for (index_t c = 0; c < cols; ++c)
        acc[c] += value(p[c]);
    } else if (r == 0) {
      for (index_t c = 0; c < cols; ++c)
        acc[c] = static_cast<A>(p[c]);
    } else {
      for (index_t c = 0; c < cols; ++c)
        acc[c] = fold(acc[c], static_cast<A>(p[c]));
    }
  }
  if (axis == 0) {
    Chunk out = Chunk::dense(dtype_of<A>, {1, cols});
    std::copy(acc.begin(), acc.end(), out.mutable_row<A>(0));
    return out;
  }
  A total{};
  if (additive) {
    total = blocked_sum<A>(acc.data(), cols);
  } else if (cols > 0) {
    total = acc[0];
    for (index_t c = 1; c < cols; ++c)
      total = fold(total, acc[c]);
  }
  Chunk out = Chunk::dense(dtype_of<A>, {1, 1});
  *out.mutable_row<A>(0) = total;
  return out;
}

template <typename A, typename T>
Chunk partial_csr(ReduceOp op, const Chunk& x, int axis) {
  const index_t rows = x.rows(), cols = x.cols();
  const auto p = x.indptr();
  const index_t* idx = x.indices();
  const T* v = x.data<T>();
  const bool additive =
      op == ReduceOp::sum || op == ReduceOp::mean || op == ReduceOp::count_nonzero;
  const auto fold = [op](A acc, A val) {
    return op == ReduceOp::min ? min_propagating(acc, val) : max_propagating(acc, val);
  };
  const auto value = [op](T val) {
    return op == ReduceOp::count_nonzero ? static_cast<A>(nonzero(val)) : static_cast<A>(val);
  };
  if (axis == 1) {
    Chunk out = Chunk::dense(dtype_of<A>, {rows, 1});
    for (index_t r = 0; r < rows; ++r) {
      A acc{};
      if (additive) {
        if (op == ReduceOp::count_nonzero) {
          for (index_t q = p[r]; q < p[r + 1]; ++q)
            acc += value(v[q]);
        } else {
          acc = blocked_sum<A>(v + p[r], p[r + 1] - p[r]);
        }
      } else {
        const bool has_zero = p[r + 1] - p[r] < cols;
        acc = has_zero ? A{} : static_cast<A>(v[p[r]]);
        for (index_t q = p[r]; q < p[r + 1]; ++q)
          acc = fold(acc, static_cast<A>(v[q]));
      }
      *out.mutable_row<A>(r) = acc;
    }
    return out;
  }
  std::vector<store_t<A>> acc(static_cast<std::size_t>(cols), store_t<A>{});
  std::vector<index_t> seen(additive ? 0 : static_cast<std::size_t>(cols), 0);
  for (index_t r = 0; r < rows; ++r) {
    for (index_t q = p[r]; q < p[r + 1]; ++q) {
      const index_t c = idx[q];
      if (additive) {
        acc[c] += value(v[q]);
      } else {
        acc[c] = seen[c]++ == 0 ? static_cast<A>(v[q]) : fold(acc[c], static_cast<A>(v[q]));
      }
    }
  }
  if (!additive) {
    for (index_t c = 0; c < cols; ++c) {
      if (seen[c] < rows) acc[c] = seen[c] == 0 ? A{} : fold(acc[c], A{});
    }
  }
  if (axis == 0) {
    Chunk out = Chunk::dense(dtype_of<A>, {1, cols});
    std::copy(acc.begin(), acc.end(), out.mutable_row<A>(0));
    return out;
  }
  A total{};
  if (additive) {
    // Row order, as the dense path: the total is the same for a chunk stored either way only
    // up to rounding, which is fine: a given array has one layout.
    if (op == ReduceOp::count_nonzero) {
      for (index_t q = p.front(); q < p.back(); ++q)
        total += value(v[q]);
    } else {
      total = blocked_sum<A>(v + p.front(), p.back() - p.front());
    }
  } else if (cols > 0) {
    total = acc[0];
    for (index_t c = 1; c < cols; ++c)
      total = fold(total, acc[c]);
  }
  Chunk out = Chunk::dense(dtype_of<A>, {1, 1});
  *out.mutable_row<A>(0) = total;
  return out;
}

bool is_contiguous_run(std::span<const index_t> positions) {
  for (std::size_t n = 1; n < positions.size(); ++n) {
    if (positions[n] != positions[n - 1] + 1) return false;
  }
  return true;
}

}  // namespace

// ---- element-wise ---------------------------------------------------------------------------

DType unary_result(UnaryOp op, DType in) {
  switch (op) {
    case UnaryOp::negative:
      if (in == DType::boolean) {
        throw ValueError(
            "negative of a bool array is not supported (numpy refuses it); use logical_not");
      }
      return in;
    case UnaryOp::absolute:
    case UnaryOp::square:
    case UnaryOp::sign:
      return in;
    case UnaryOp::logical_not:
      return DType::boolean;
    default:
      return float_result(in);
  }
}

bool unary_keeps_sparse(UnaryOp op) {
  switch (op) {
    case UnaryOp::exp:
    case UnaryOp::log:
    case UnaryOp::cos:
    case UnaryOp::logical_not:
      return false;
    default:
      return true;
  }
}

Chunk unary(UnaryOp op, const Chunk& x, DType out) {
  // Float functions compute in the result type; the others in the input type.
  const bool float_fn = op != UnaryOp::negative && op != UnaryOp::absolute &&
                        op != UnaryOp::square && op != UnaryOp::sign && op != UnaryOp::logical_not;
  const Chunk in = float_fn ? x.astype(out) : x;
  const Chunk src = unary_keeps_sparse(op) ? in : in.to_dense();
  return dispatch(src.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    return with_unary_fn<T>(op, [&](auto fn) { return map_values<T>(src, fn); });
  });
}

namespace {

bool is_comparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::equal:
    case BinaryOp::not_equal:
    case BinaryOp::less:
    case BinaryOp::less_equal:
    case BinaryOp::greater:
    case BinaryOp::greater_equal:
    case BinaryOp::logical_and:
    case BinaryOp::logical_or:
      return true;
    default:
      return false;
  }
}

BinaryTypes finish_types(BinaryOp op, DType compute) {
  if (op == BinaryOp::divide && !is_float(compute)) compute = DType::float64;
  if (op == BinaryOp::power && compute == DType::boolean) compute = DType::int8;
  if (op == BinaryOp::subtract && compute == DType::boolean) {
    throw ValueError(
        "subtract of two bool arrays is not supported (numpy refuses it); use logical ops");
  }
  return {compute, is_comparison(op) ? DType::boolean : compute};
}

bool fits(DType dtype, double v) {
  return dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      return v == 0.0 || v == 1.0;
    } else {
      return v >= static_cast<double>(std::numeric_limits<T>::lowest()) &&
             v <= static_cast<double>(std::numeric_limits<T>::max());
    }
  });
}

}  // namespace

BinaryTypes binary_types(BinaryOp op, DType a, DType b) {
  return finish_types(op, promote(a, b));
}

BinaryTypes binary_scalar_types(BinaryOp op, DType a, Scalar s) {
  // numpy 1.x value-based casting: a Python scalar does not widen an array of its own kind; a
  // float scalar makes an integer array float64.
  DType compute = a;
  const double scalar = s.value;
  const bool integral = s.integral;
  if (!is_float(a)) {
    if (!integral) {
      compute = DType::float64;
    } else if (a == DType::boolean) {
      compute =
          (scalar == 0.0 || scalar == 1.0) && is_comparison(op) ? DType::boolean : DType::int64;
    } else if (!fits(a, scalar)) {
      compute = std::abs(scalar) < 9.2e18 ? DType::int64 : DType::float64;
    }
  }
  return finish_types(op, compute);
}

bool binary_keeps_sparse(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
    case BinaryOp::subtract:
    case BinaryOp::multiply:
    case BinaryOp::minimum:
    case BinaryOp::maximum:
      return true;
    default:
      return false;
  }
}

bool scalar_keeps_sparse(BinaryOp op, double scalar, bool scalar_left, BinaryTypes types) {
  Chunk zero = Chunk::dense_filled(types.compute, {1, 1}, 0.0);
  const Chunk r = binary_scalar(op, zero, scalar, scalar_left, types);
  const double v = r.value_at(0, 0);
  return v == 0.0;  // NaN compares unequal: densify
}

Chunk binary(BinaryOp op, const Chunk& a, const Chunk& b, BinaryTypes types) {
  if (a.shape() != b.shape()) {
    throw ShapeError("element-wise " + std::string(name(op)) + ": chunk shapes " +
                     to_string(a.shape()) + " and " + to_string(b.shape()) + " differ");
  }
  const Chunk x = a.astype(types.compute);
  const Chunk y = b.astype(types.compute);
  const bool sparse = x.is_sparse() && y.is_sparse() && binary_keeps_sparse(op);
  return dispatch(types.compute, [&](auto tag) {
    using C = typename decltype(tag)::type;
    return with_binary_fn<C>(op, [&](auto fn) {
      if (sparse) return binary_csr<C>(x, y, op == BinaryOp::multiply, fn);
      return binary_dense<C>(x.to_dense(), y.to_dense(), fn);
    });
  });
}

Chunk binary_scalar(BinaryOp op, const Chunk& a, double scalar, bool scalar_left,
                    BinaryTypes types) {
  const Chunk x = a.astype(types.compute);
  return dispatch(types.compute, [&](auto tag) {
    using C = typename decltype(tag)::type;
    const C s = convert<C>(scalar);
    return with_binary_fn<C>(op, [&](auto fn) {
      if (scalar_left) return map_values<C>(x, [&](C v) { return fn(s, v); });
      return map_values<C>(x, [&](C v) { return fn(v, s); });
    });
  });
}

// ---- reductions -----------------------------------------------------------------------------

DType reduce_accumulator(ReduceOp op, DType in) {
  switch (op) {
    case ReduceOp::sum:
      return sum_result(in);
    case ReduceOp::mean:
      return is_float(in) ? in : DType::float64;
    case ReduceOp::count_nonzero:
      return DType::int64;
    case ReduceOp::min:
    case ReduceOp::max:
      return in;
  }
  throw InternalError("reduce_accumulator: invalid op");
}

DType reduce_result(ReduceOp op, DType in) {
  return reduce_accumulator(op, in);
}

Chunk reduce_partial(ReduceOp op, const Chunk& x, int axis, DType acc) {
  return dispatch(x.dtype(), [&](auto in_tag) {
    using T = typename decltype(in_tag)::type;
    return dispatch(acc, [&](auto acc_tag) {
      using A = typename decltype(acc_tag)::type;
      if constexpr (std::is_same_v<A, bool> && !std::is_same_v<T, bool>) {
        throw InternalError("bool accumulator for a non-bool input");
        return Chunk{};
      } else {
        return x.is_sparse() ? partial_csr<A, T>(op, x, axis) : partial_dense<A, T>(op, x, axis);
      }
    });
  });
}

Chunk reduce_combine(ReduceOp op, std::span<const Chunk> partials) {
  TESSERA_ASSERT(!partials.empty(), "reduce_combine of no partials");
  if (partials.size() == 1) return partials[0];
  const Chunk& first = partials[0];
  return dispatch(first.dtype(), [&](auto tag) {
    using A = typename decltype(tag)::type;
    Chunk out = first.deep_copy();
    for (std::size_t n = 1; n < partials.size(); ++n) {
      for (index_t r = 0; r < out.rows(); ++r) {
        A* acc = out.mutable_row<A>(r);
        const A* v = partials[n].row<A>(r);
        for (index_t c = 0; c < out.cols(); ++c) {
          switch (op) {
            case ReduceOp::min:
              acc[c] = min_propagating(acc[c], v[c]);
              break;
            case ReduceOp::max:
              acc[c] = max_propagating(acc[c], v[c]);
              break;
            default:
              if constexpr (std::is_same_v<A, bool>) {
                acc[c] = acc[c] || v[c];
              } else {
                acc[c] = static_cast<A>(acc[c] + v[c]);
              }
          }
        }
      }
    }
    return out;
  });
}

Chunk reduce_finish(ReduceOp op, const Chunk& combined, index_t count, DType out) {
  if (op != ReduceOp::mean) return combined.astype(out);
  return dispatch(combined.dtype(), [&](auto tag) -> Chunk {
    using A = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<A>) {
      const auto n = static_cast<A>(count);
      return map_values<A>(combined, [n](A v) { return v / n; }).astype(out);
    } else {
      throw InternalError("mean accumulates in a float type");
    }
  });
}

// ---- selection, joining, transposing --------------------------------------------------------

Chunk take(const Chunk& x, int axis, std::span<const index_t> positions) {
  const auto n = static_cast<index_t>(positions.size());
  if (is_contiguous_run(positions)) {
    const index_t start = n == 0 ? 0 : positions[0];
    return axis == 0 ? x.block(start, start + n, 0, x.cols())
                     : x.block(0, x.rows(), start, start + n);
  }
  const std::size_t item = itemsize(x.dtype());
  if (x.layout() == Layout::dense) {
    if (axis == 0) {
      Chunk out = Chunk::dense(x.dtype(), {n, x.cols()});
      for (index_t r = 0; r < n; ++r) {
        std::memcpy(out.mutable_row<std::byte>(0) + static_cast<std::size_t>(r * x.cols()) * item,
                    x.raw_row(positions[r]), static_cast<std::size_t>(x.cols()) * item);
      }
      return out;
    }
    return dispatch(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      Chunk out = Chunk::dense(x.dtype(), {x.rows(), n});
      for (index_t r = 0; r < x.rows(); ++r) {
        const T* src = x.row<T>(r);
        T* dst = out.mutable_row<T>(r);
        for (index_t c = 0; c < n; ++c)
          dst[c] = src[positions[c]];
      }
      return out;
    });
  }
  return dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto p = x.indptr();
    const index_t* idx = x.indices();
    const T* v = x.data<T>();
    std::vector<index_t> indptr(1, 0), indices;
    std::vector<store_t<T>> values;
    if (axis == 0) {
      for (index_t r : positions) {
        indices.insert(indices.end(), idx + p[r], idx + p[r + 1]);
        values.insert(values.end(), v + p[r], v + p[r + 1]);
        indptr.push_back(static_cast<index_t>(indices.size()));
      }
      return make_csr<T>({n, x.cols()}, std::move(indptr), std::move(indices), values);
    }
    // Columns: each source column maps to the output positions that take it (sorted, since
    // positions are scanned in order), then each row's entries are sorted by output column.
    std::vector<index_t> first(static_cast<std::size_t>(x.cols()) + 1, 0),
        targets(positions.size());
    for (index_t c : positions)
      ++first[c + 1];
    for (index_t c = 0; c < x.cols(); ++c)
      first[c + 1] += first[c];
    std::vector<index_t> fill(first.begin(), first.end() - 1);
    for (index_t out_col = 0; out_col < n; ++out_col)
      targets[fill[positions[out_col]]++] = out_col;
    std::vector<std::pair<index_t, store_t<T>>> row;
    for (index_t r = 0; r < x.rows(); ++r) {
      row.clear();
      for (index_t q = p[r]; q < p[r + 1]; ++q) {
        for (index_t t = first[idx[q]]; t < first[idx[q] + 1]; ++t)
          row.emplace_back(targets[t], v[q]);
      }
      std::sort(row.begin(), row.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [c, val] : row) {
        indices.push_back(c);
        values.push_back(val);
      }
      indptr.push_back(static_cast<index_t>(indices.size()));
    }
    return make_csr<T>({x.rows(), n}, std::move(indptr), std::move(indices), values);
  });
}

Chunk stack(std::span<const Chunk> parts, int axis) {
  TESSERA_ASSERT(!parts.empty(), "stack of no chunks");
  if (parts.size() == 1) return parts[0];
  const Chunk& first = parts[0];
  const DType dtype = first.dtype();
  const std::size_t item = itemsize(dtype);
  Shape shape = first.shape();
  for (std::size_t n = 1; n < parts.size(); ++n) {
    const Chunk& c = parts[n];
    TESSERA_ASSERT(c.dtype() == dtype && c.layout() == first.layout(), "stack of mixed chunks");
    TESSERA_ASSERT(axis == 0 ? c.cols() == shape.cols : c.rows() == shape.rows,
                   "stack of misaligned chunks");
    (axis == 0 ? shape.rows : shape.cols) += axis == 0 ? c.rows() : c.cols();
  }
  if (first.layout() == Layout::dense) {
    Chunk out = Chunk::dense(dtype, shape);
    std::byte* base = out.mutable_row<std::byte>(0);
    index_t at = 0;  // row (axis 0) or column (axis 1) where the next part goes
    for (const Chunk& c : parts) {
      for (index_t r = 0; r < c.rows(); ++r) {
        const index_t out_r = axis == 0 ? at + r : r;
        const index_t out_c = axis == 0 ? 0 : at;
        std::memcpy(base + static_cast<std::size_t>(out_r * shape.cols + out_c) * item,
                    c.raw_row(r), static_cast<std::size_t>(c.cols()) * item);
      }
      at += axis == 0 ? c.rows() : c.cols();
    }
    return out;
  }
  return dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<index_t> indptr(1, 0), indices;
    std::vector<store_t<T>> values;
    if (axis == 0) {
      for (const Chunk& c : parts) {
        const auto p = c.indptr();
        for (index_t r = 0; r < c.rows(); ++r) {
          indices.insert(indices.end(), c.indices() + p[r], c.indices() + p[r + 1]);
          values.insert(values.end(), c.data<T>() + p[r], c.data<T>() + p[r + 1]);
          indptr.push_back(static_cast<index_t>(indices.size()));
        }
      }
    } else {
      for (index_t r = 0; r < shape.rows; ++r) {
        index_t offset = 0;
        for (const Chunk& c : parts) {
          const auto p = c.indptr();
          for (index_t q = p[r]; q < p[r + 1]; ++q) {
            indices.push_back(c.indices()[q] + offset);
            values.push_back(c.data<T>()[q]);
          }
          offset += c.cols();
        }
        indptr.push_back(static_cast<index_t>(indices.size()));
      }
    }
    return make_csr<T>(shape, std::move(indptr), std::move(indices), values);
  });
}

Chunk assemble(std::span<const Chunk> blocks, index_t block_rows, index_t block_cols) {
  TESSERA_ASSERT(static_cast<index_t>(blocks.size()) == block_rows * block_cols,
                 "assemble: block count");
  if (blocks.size() == 1) return blocks[0];
  if (blocks[0].layout() == Layout::dense) {
    // One copy of every block straight into place.
    Shape shape{0, 0};
    for (index_t i = 0; i < block_rows; ++i)
      shape.rows += blocks[static_cast<std::size_t>(i * block_cols)].rows();
    for (index_t j = 0; j < block_cols; ++j)
      shape.cols += blocks[static_cast<std::size_t>(j)].cols();
    const std::size_t item = itemsize(blocks[0].dtype());
    Chunk out = Chunk::dense(blocks[0].dtype(), shape);
    std::byte* base = out.mutable_row<std::byte>(0);
    index_t r0 = 0;
    for (index_t i = 0; i < block_rows; ++i) {
      index_t c0 = 0;
      for (index_t j = 0; j < block_cols; ++j) {
        const Chunk& b = blocks[static_cast<std::size_t>(i * block_cols + j)];
        TESSERA_ASSERT(b.dtype() == out.dtype() && b.layout() == Layout::dense,
                       "assemble of mixed blocks");
        for (index_t r = 0; r < b.rows(); ++r) {
          std::memcpy(base + static_cast<std::size_t>((r0 + r) * shape.cols + c0) * item,
                      b.raw_row(r), static_cast<std::size_t>(b.cols()) * item);
        }
        c0 += b.cols();
      }
      r0 += blocks[static_cast<std::size_t>(i * block_cols)].rows();
    }
    return out;
  }
  std::vector<Chunk> rows;
  rows.reserve(static_cast<std::size_t>(block_rows));
  for (index_t i = 0; i < block_rows; ++i) {
    rows.push_back(stack(blocks.subspan(static_cast<std::size_t>(i * block_cols),
                                        static_cast<std::size_t>(block_cols)),
                         1));
  }
  return stack(rows, 0);
}

Chunk transpose(const Chunk& x) {
  return dispatch(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Shape out_shape{x.cols(), x.rows()};
    if (x.layout() == Layout::dense) {
      Chunk out = Chunk::dense(x.dtype(), out_shape);
      constexpr index_t kTile = 32;
      for (index_t r0 = 0; r0 < x.rows(); r0 += kTile) {
        for (index_t c0 = 0; c0 < x.cols(); c0 += kTile) {
          for (index_t r = r0; r < std::min(r0 + kTile, x.rows()); ++r) {
            const T* src = x.row<T>(r);
            for (index_t c = c0; c < std::min(c0 + kTile, x.cols()); ++c)
              out.mutable_row<T>(c)[r] = src[c];
          }
        }
      }
      return out;
    }
    const auto p = x.indptr();
    std::vector<index_t> indptr(static_cast<std::size_t>(x.cols()) + 1, 0);
    for (index_t q = p.front(); q < p.back(); ++q)
      ++indptr[x.indices()[q] + 1];
    for (index_t c = 0; c < x.cols(); ++c)
      indptr[c + 1] += indptr[c];
    std::vector<index_t> fill(indptr.begin(), indptr.end() - 1);
    std::vector<index_t> indices(static_cast<std::size_t>(p.back() - p.front()));
    std::vector<store_t<T>> values(indices.size());
    for (index_t r = 0; r < x.rows(); ++r) {
      for (index_t q = p[r]; q < p[r + 1]; ++q) {
        const index_t at = fill[x.indices()[q]]++;
        indices[at] = r;
        values[at] = x.data<T>()[q];
      }
    }
    return make_csr<T>(out_shape, std::move(indptr), std::move(indices), values);
  });
}

}  // namespace tessera::detail

namespace tessera {
Chunk assemble_blocks(std::span<const Chunk> blocks, index_t block_rows, index_t block_cols) {
  return detail::assemble(blocks, block_rows, block_cols);
}
}  // namespace tessera
