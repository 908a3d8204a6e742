// Helpers shared by the anndata tests, on top of tests/core/test_util.hpp (raw readers, naive
// references, TESSERA_EXPECT_THROW_MENTIONING): read a Column's storage without going through the
// Column's own accessors, build small deterministic objects, and compare arrays with references.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "tessera/anndata/anndata.hpp"
#include "tessera/anndata/dataframe.hpp"
#include "test_util.hpp"

namespace tessera::test {

using Names = std::vector<std::string>;

// The values of a numeric, bool or nullable column (codes of a categorical), read from the raw
// storage of Column::values() as doubles.
inline std::vector<double> column_numbers(const Column& column) {
  const Ref r = raw_values(column.values());
  return r.values;
}

// Positions of the true entries of a mask.
inline std::vector<index_t> where(const std::vector<bool>& mask) {
  std::vector<index_t> out;
  for (std::size_t i = 0; i < mask.size(); ++i) {
    if (mask[i]) out.push_back(static_cast<index_t>(i));
  }
  return out;
}

// "prefix0", "prefix1", …
inline Names numbered(const std::string& prefix, index_t n) {
  Names out;
  for (index_t i = 0; i < n; ++i) {
    std::string s = prefix;
    s += std::to_string(i);
    out.push_back(std::move(s));
  }
  return out;
}

// Picks names[p] for each position.
inline Names pick(const Names& names, const std::vector<index_t>& positions) {
  Names out;
  for (index_t p : positions)
    out.push_back(names[static_cast<std::size_t>(p)]);
  return out;
}

// A CSR chunk holding the non-zeros of a dense reference (built by hand, not by to_csr()).
inline Chunk csr_of(const Ref& ref) {
  std::vector<index_t> indptr{0}, indices;
  std::vector<double> data;
  for (index_t r = 0; r < ref.shape.rows; ++r) {
    for (index_t c = 0; c < ref.shape.cols; ++c) {
      if (ref.at(r, c) == 0.0) continue;
      indices.push_back(c);
      data.push_back(ref.at(r, c));
    }
    indptr.push_back(static_cast<index_t>(indices.size()));
  }
  return Chunk::from_csr<double>(ref.shape, std::move(indptr), std::move(indices), std::move(data));
}

// A reference that is zero where (r + c) % 3 == 0 and r * 10 + c + 1 elsewhere (a sparse pattern).
inline Ref sparse_ref(Shape shape, double offset = 0.0) {
  return make_ref(shape, [&](index_t r, index_t c) {
    return (r + c) % 3 == 0 ? 0.0 : double(r * 10 + c + 1) + offset;
  });
}

// Values of an Array computed by the local executor, read from raw storage.
inline Ref computed(const Array& a) {
  return raw_values(a.compute());
}

// Expects an Array's computed values to equal a reference exactly (NaN equals NaN).
inline ::testing::AssertionResult array_is(const std::optional<Array>& a, const Ref& ref) {
  if (!a) return ::testing::AssertionFailure() << "the array is missing";
  return values_equal(a->compute(), ref);
}
inline ::testing::AssertionResult array_is(const Array& a, const Ref& ref) {
  return values_equal(a.compute(), ref);
}

// Runs `f` once in a child process (gtest's death-test machinery, "threadsafe" style) and tells
// whether it finished without crashing; a crash is recorded as this test's failure. Call it
// first in a test that might hit a crashing bug, and return when it says false: the other tests
// of the binary then still run. Exceptions in the child are ignored (the parent reports them).
template <typename F>
bool runs_without_crashing(F f) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto child = [&] {
    try {
      f();
    } catch (...) {  // NOLINT(bugprone-empty-catch): reported when the parent runs f itself
    }
    std::exit(0);
  };
  const bool failed_before = ::testing::Test::HasFailure();
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "") << "crashed in a child process";
  return failed_before || !::testing::Test::HasFailure();
}

}  // namespace tessera::test
