// Helpers shared by the core unit tests: read a chunk's raw storage into plain doubles (without
// going through Chunk::value_at or any library kernel), compare it with a naive reference, and
// check error messages. References in the tests are plain loops over std::vector<double>.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/chunk.hpp"
#include "tessera/core/dtype.hpp"
#include "tessera/core/index.hpp"

namespace tessera {
// gtest prints DType and Layout by name in failure messages.
inline void PrintTo(DType dtype, std::ostream* os) {
  *os << name(dtype);
}
inline void PrintTo(Layout layout, std::ostream* os) {
  *os << (layout == Layout::csr ? "csr" : "dense");
}
inline void PrintTo(Shape shape, std::ostream* os) {
  *os << to_string(shape);
}
}  // namespace tessera

namespace tessera::test {

// A row-major dense reference: shape plus values.
struct Ref {
  Shape shape;
  std::vector<double> values;

  Ref() = default;
  explicit Ref(Shape s, double fill = 0.0)
      : shape(s), values(static_cast<std::size_t>(s.size()), fill) {}
  Ref(Shape s, std::vector<double> v) : shape(s), values(std::move(v)) {}
  [[nodiscard]] double& at(index_t r, index_t c) {
    return values[static_cast<std::size_t>(r * shape.cols + c)];
  }
  [[nodiscard]] double at(index_t r, index_t c) const {
    return values[static_cast<std::size_t>(r * shape.cols + c)];
  }
};

// Reads every element of a chunk from its raw storage (dense rows with ld, or the CSR triple).
inline Ref raw_values(const Chunk& chunk) {
  Ref out(chunk.shape());
  if (chunk.shape().size() == 0) return out;
  dispatch(chunk.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (chunk.is_sparse()) {
      const auto indptr = chunk.indptr();
      const index_t* indices = chunk.indices();
      const T* data = chunk.data<T>();
      for (index_t r = 0; r < chunk.rows(); ++r) {
        for (index_t k = indptr[r]; k < indptr[r + 1]; ++k) {
          out.at(r, indices[k]) += static_cast<double>(data[k]);
        }
      }
    } else {
      for (index_t r = 0; r < chunk.rows(); ++r) {
        const T* row = chunk.row<T>(r);
        for (index_t c = 0; c < chunk.cols(); ++c)
          out.at(r, c) = static_cast<double>(row[c]);
      }
    }
  });
  return out;
}

// The reference values of random(shape, …, seed), element by element.
inline Ref random_ref(std::uint64_t seed, Shape shape) {
  Ref out(shape);
  for (index_t r = 0; r < shape.rows; ++r) {
    for (index_t c = 0; c < shape.cols; ++c)
      out.at(r, c) = random_value(seed, shape, r, c);
  }
  return out;
}

inline Ref arange_ref(Shape shape) {
  Ref out(shape);
  for (index_t i = 0; i < shape.size(); ++i)
    out.values[static_cast<std::size_t>(i)] = double(i);
  return out;
}

inline bool same_value(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

// Exact comparison (NaN equals NaN), reporting the first few differing elements.
inline ::testing::AssertionResult values_equal(const Chunk& chunk, const Ref& ref) {
  if (!(chunk.shape() == ref.shape)) {
    return ::testing::AssertionFailure()
           << "shape " << to_string(chunk.shape()) << " != expected " << to_string(ref.shape);
  }
  const Ref got = raw_values(chunk);
  std::ostringstream out;
  int bad = 0;
  for (index_t r = 0; r < ref.shape.rows; ++r) {
    for (index_t c = 0; c < ref.shape.cols; ++c) {
      if (!same_value(got.at(r, c), ref.at(r, c))) {
        if (bad < 5) {
          out << " (" << r << ", " << c << "): got " << got.at(r, c) << " expected " << ref.at(r, c)
              << ";";
        }
        ++bad;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " elements differ:" << out.str();
}

// max |got - ref| / max(1, |ref|) <= tol (NaN only where the reference has NaN).
inline ::testing::AssertionResult values_near(const Chunk& chunk, const Ref& ref,
                                              double tol = 1e-12) {
  if (!(chunk.shape() == ref.shape)) {
    return ::testing::AssertionFailure()
           << "shape " << to_string(chunk.shape()) << " != expected " << to_string(ref.shape);
  }
  const Ref got = raw_values(chunk);
  double worst = 0.0;
  index_t wr = -1;
  index_t wc = -1;
  for (index_t r = 0; r < ref.shape.rows; ++r) {
    for (index_t c = 0; c < ref.shape.cols; ++c) {
      const double g = got.at(r, c);
      const double e = ref.at(r, c);
      double d = 0.0;
      if (std::isnan(g) || std::isnan(e) || std::isinf(g) || std::isinf(e)) {
        d = same_value(g, e) ? 0.0 : INFINITY;
      } else {
        d = std::abs(g - e) / std::max(1.0, std::abs(e));
      }
      if (d > worst) {
        worst = d;
        wr = r;
        wc = c;
      }
    }
  }
  if (worst <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "max relative difference " << worst << " > " << tol << " at (" << wr << ", " << wc
         << "): got " << got.at(wr, wc) << " expected " << ref.at(wr, wc);
}

// A CSR chunk is canonical: indptr from 0, non-decreasing, indices sorted and unique per row.
inline ::testing::AssertionResult canonical_csr(const Chunk& chunk) {
  if (!chunk.is_sparse()) return ::testing::AssertionFailure() << "chunk is dense";
  const auto indptr = chunk.indptr();
  if (static_cast<index_t>(indptr.size()) != chunk.rows() + 1) {
    return ::testing::AssertionFailure() << "indptr has " << indptr.size() << " entries";
  }
  for (index_t r = 0; r < chunk.rows(); ++r) {
    if (indptr[r + 1] < indptr[r]) {
      return ::testing::AssertionFailure() << "indptr decreases at row " << r;
    }
    for (index_t k = indptr[r]; k < indptr[r + 1]; ++k) {
      const index_t col = chunk.indices()[k];
      if (col < 0 || col >= chunk.cols()) {
        return ::testing::AssertionFailure() << "row " << r << " has column " << col;
      }
      if (k > indptr[r] && chunk.indices()[k - 1] >= col) {
        return ::testing::AssertionFailure() << "row " << r << " columns not sorted/unique";
      }
    }
  }
  if (indptr[chunk.rows()] - indptr[0] != chunk.nnz()) {
    return ::testing::AssertionFailure() << "nnz " << chunk.nnz() << " != indptr span";
  }
  return ::testing::AssertionSuccess();
}

inline std::string lower_case(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return out;
}

// True when the message names the problem: it contains at least one of the key words
// (case-insensitive).
inline ::testing::AssertionResult mentions(std::string_view message,
                                           std::initializer_list<std::string_view> words) {
  const std::string text = lower_case(message);
  for (std::string_view w : words) {
    if (text.find(lower_case(w)) != std::string::npos) return ::testing::AssertionSuccess();
  }
  auto failure = ::testing::AssertionFailure() << "message \"" << message << "\" names none of:";
  for (std::string_view w : words)
    failure << " \"" << w << "\"";
  return failure;
}

// Expects `statement` to throw exactly `Type` (or a subclass) whose what() mentions one of
// `words`. Works whether the error is raised while building the expression or computing it.
#define TESSERA_EXPECT_THROW_MENTIONING(statement, Type, ...)                        \
  do {                                                                               \
    bool tessera_caught_ = false;                                                    \
    try {                                                                            \
      statement;                                                                     \
    } catch (const Type& e) {                                                        \
      tessera_caught_ = true;                                                        \
      EXPECT_TRUE(::tessera::test::mentions(e.what(), {__VA_ARGS__}));               \
    } catch (const std::exception& e) {                                              \
      ADD_FAILURE() << "expected " #Type ", got another exception: " << e.what();    \
      tessera_caught_ = true;                                                        \
    }                                                                                \
    if (!tessera_caught_) ADD_FAILURE() << "expected " #Type ", nothing was thrown"; \
  } while (false)

// A dense in-memory chunk from a reference (float64 unless another T is given).
template <typename T = double>
Chunk chunk_of(const Ref& ref) {
  std::vector<T> values(ref.values.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<T>(ref.values[i]);
  return Chunk::from_values<T>(ref.shape, std::move(values));
}

// A dense bool chunk. Chunk::from_values<bool> cannot be used: std::vector<bool> has no data().
inline Chunk bool_chunk(Shape shape, const std::vector<bool>& values) {
  Chunk out = Chunk::dense(DType::boolean, shape);
  for (index_t r = 0; r < shape.rows; ++r) {
    for (index_t c = 0; c < shape.cols; ++c) {
      out.mutable_row<bool>(r)[c] = values[static_cast<std::size_t>(r * shape.cols + c)];
    }
  }
  return out;
}

// A reference whose element (r, c) is f(r, c).
template <typename F>
Ref make_ref(Shape shape, F&& f) {
  Ref out(shape);
  for (index_t r = 0; r < shape.rows; ++r) {
    for (index_t c = 0; c < shape.cols; ++c)
      out.at(r, c) = f(r, c);
  }
  return out;
}

// Element-wise map of a reference.
template <typename F>
Ref map_ref(const Ref& in, F&& f) {
  Ref out(in.shape);
  for (std::size_t i = 0; i < in.values.size(); ++i)
    out.values[i] = f(in.values[i]);
  return out;
}

template <typename F>
Ref zip_ref(const Ref& a, const Ref& b, F&& f) {
  Ref out(a.shape);
  for (std::size_t i = 0; i < a.values.size(); ++i)
    out.values[i] = f(a.values[i], b.values[i]);
  return out;
}

// Python's slice(start, stop, step).indices(length), written out as CPython does it.
inline std::vector<index_t> python_slice(index_t length, std::optional<index_t> start,
                                         std::optional<index_t> stop, std::optional<index_t> step) {
  const index_t st = step.value_or(1);
  auto adjust = [&](std::optional<index_t> v, index_t dflt) {
    if (!v) return dflt;
    index_t x = *v;
    if (x < 0) {
      x += length;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= length) {
      x = st < 0 ? length - 1 : length;
    }
    return x;
  };
  const index_t lo = adjust(start, st < 0 ? length - 1 : 0);
  const index_t hi = adjust(stop, st < 0 ? -1 : length);
  std::vector<index_t> out;
  if (st > 0) {
    for (index_t i = lo; i < hi; i += st)
      out.push_back(i);
  } else {
    for (index_t i = lo; i > hi; i += st)
      out.push_back(i);
  }
  return out;
}

// Rows `rows` and columns `cols` of a reference (numpy's x[np.ix_(rows, cols)]).
inline Ref gather(const Ref& in, const std::vector<index_t>& rows,
                  const std::vector<index_t>& cols) {
  Ref out(Shape{static_cast<index_t>(rows.size()), static_cast<index_t>(cols.size())});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < cols.size(); ++j) {
      out.at(static_cast<index_t>(i), static_cast<index_t>(j)) = in.at(rows[i], cols[j]);
    }
  }
  return out;
}

inline std::vector<index_t> iota(index_t n) {
  std::vector<index_t> out(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i)
    out[static_cast<std::size_t>(i)] = i;
  return out;
}

}  // namespace tessera::test
