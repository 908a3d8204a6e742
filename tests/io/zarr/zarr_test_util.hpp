// Helpers of the Zarr tests: deterministic data of every dtype, byte-exact comparison of chunks
// (NaN-safe, independent of views and leading dimensions), and a store wrapper that counts reads.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tessera/core/chunk.hpp"
#include "tessera/core/dtype.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/zarr_store.hpp"

namespace tessera::io::test {

inline const std::vector<DType>& all_dtypes() {
  static const std::vector<DType> dtypes = {
      DType::boolean, DType::int8,   DType::int16,  DType::int32,   DType::int64,  DType::uint8,
      DType::uint16,  DType::uint32, DType::uint64, DType::float32, DType::float64};
  return dtypes;
}

// Element i of the test pattern: extremes, negatives and (for floats) NaN and infinities.
template <typename T>
T pattern_value(index_t i) {
  if constexpr (std::is_same_v<T, bool>) {
    return (i * 7) % 3 == 0;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (i % 13 == 5) return std::numeric_limits<T>::quiet_NaN();
    if (i % 17 == 3) return std::numeric_limits<T>::infinity();
    if (i % 19 == 4) return -std::numeric_limits<T>::infinity();
    return static_cast<T>((static_cast<double>(i) - 40.0) * 0.3125 +
                          1e-3 * static_cast<double>(i % 7));
  } else {
    if (i % 11 == 1) return std::numeric_limits<T>::max();
    if (i % 11 == 2) return std::numeric_limits<T>::min();
    return static_cast<T>(i * 37 - 500);
  }
}

inline Chunk pattern_chunk(DType dtype, Shape shape, index_t seed = 0) {
  Chunk c = Chunk::dense(dtype, shape);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (index_t r = 0; r < shape.rows; ++r) {
      T* row = c.mutable_row<T>(r);
      for (index_t j = 0; j < shape.cols; ++j)
        row[j] = pattern_value<T>(seed + r * shape.cols + j);
    }
  });
  return c;
}

// Same dtype, shape and bytes (so NaN equals NaN), whatever the views.
inline ::testing::AssertionResult same_bytes(const Chunk& a, const Chunk& b) {
  if (a.dtype() != b.dtype()) {
    return ::testing::AssertionFailure()
           << "dtypes differ: " << name(a.dtype()) << " vs " << name(b.dtype());
  }
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure()
           << "shapes differ: " << to_string(a.shape()) << " vs " << to_string(b.shape());
  }
  const std::size_t is = itemsize(a.dtype());
  for (index_t r = 0; r < a.rows(); ++r) {
    for (index_t c = 0; c < a.cols(); ++c) {
      if (std::memcmp(a.raw_row(r) + c * is, b.raw_row(r) + c * is, is) != 0) {
        return ::testing::AssertionFailure()
               << "element (" << r << ", " << c << ") differs: " << a.value_at(r, c) << " vs "
               << b.value_at(r, c);
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// The Group interface's 2-D view of an array shape: () → (1, 1), (n,) → (1, n).
inline Shape shape2(const std::vector<index_t>& shape) {
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {1, shape[0]};
  return {shape[0], shape[1]};
}

inline Box whole_box(const std::vector<index_t>& shape) {
  return Box{std::vector<index_t>(shape.size(), 0), shape};
}

// Forwards to another store, counting get() calls on chunk keys (not .z* metadata).
class CountingStore final : public KeyValueStore {
 public:
  explicit CountingStore(std::shared_ptr<KeyValueStore> inner) : inner_(std::move(inner)) {}
  std::optional<Bytes> get(std::string_view key) const override {
    const auto slash = key.rfind('/');
    const std::string_view last = slash == std::string_view::npos ? key : key.substr(slash + 1);
    if (!last.starts_with(".z")) ++chunk_gets;
    return inner_->get(key);
  }
  bool contains(std::string_view key) const override { return inner_->contains(key); }
  void set(std::string_view key, std::span<const std::byte> value) override {
    ++sets;
    inner_->set(key, value);
  }
  bool erase(std::string_view key) override { return inner_->erase(key); }
  void erase_prefix(std::string_view prefix) override { inner_->erase_prefix(prefix); }
  std::vector<std::string> list(std::string_view prefix) const override {
    return inner_->list(prefix);
  }
  std::string describe(std::string_view key) const override { return inner_->describe(key); }

  mutable std::atomic<int> chunk_gets{0};
  std::atomic<int> sets{0};

 private:
  std::shared_ptr<KeyValueStore> inner_;
};

// A fresh temporary folder, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("tessera-zarr-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline Bytes to_bytes(std::string_view s) {
  Bytes b(s.size());
  if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
  return b;
}

// Runs `f`, expecting an exception of type E whose message contains every one of `parts`.
template <typename E, typename F>
::testing::AssertionResult throws_with(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) {
      if (msg.find(p) == std::string::npos) {
        return ::testing::AssertionFailure() << "message '" << msg << "' lacks '" << p << "'";
      }
    }
    return ::testing::AssertionSuccess() << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "wrong exception type: " << e.what();
  }
  return ::testing::AssertionFailure() << "no exception";
}

}  // namespace tessera::io::test
