// Shared by the HDF5 backend tests: scratch files and reference chunks whose values exercise each
// dtype's extremes.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <type_traits>

#include "tessera/core/chunk.hpp"

namespace tessera::test {

// A fresh directory under the system temp dir, removed with the object.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path_ =
        std::filesystem::temp_directory_path() /
        ("tessera_h5_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Element i of a reference array: the type's extremes at 1 and 2, then a spread of values.
template <typename T>
T pattern_value(index_t i, index_t seed) {
  const index_t k = i + seed;
  if constexpr (std::is_same_v<T, bool>) {
    return (k * 7) % 3 == 0;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (i == 1) return std::numeric_limits<T>::max();
    if (i == 2) return std::numeric_limits<T>::lowest();
    if (i == 3) return std::numeric_limits<T>::denorm_min();
    return static_cast<T>(static_cast<double>(k - 10) * 0.37);
  } else {
    if (i == 1) return std::numeric_limits<T>::max();
    if (i == 2) return std::numeric_limits<T>::min();
    const auto v = (k * 37) % 251;
    return static_cast<T>(std::is_signed_v<T> ? v - 100 : v);
  }
}

inline Chunk pattern_chunk(DType dtype, Shape shape, index_t seed = 0) {
  Chunk c = Chunk::dense(dtype, shape);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* out = c.mutable_row<T>(0);
    for (index_t i = 0; i < shape.size(); ++i)
      out[i] = pattern_value<T>(i, seed);
  });
  return c;
}

}  // namespace tessera::test
