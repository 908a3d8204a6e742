#include <cstring>
#include <string>

#include "detail/wire.hpp"
#include "tessera/core/error.hpp"

namespace tessera::detail {
namespace {

struct Header {
  std::int64_t task;
  std::int64_t rows;
  std::int64_t cols;
  std::int64_t nnz;
  std::uint8_t dtype;
  std::uint8_t layout;
  std::uint8_t pad[30];  // 64 bytes: the payload stays aligned for any dtype
};
static_assert(sizeof(Header) == 64);

template <typename T>
void put(std::vector<std::byte>& out, const T* data, std::size_t n) {
  const auto* p = reinterpret_cast<const std::byte*>(data);
  out.insert(out.end(), p, p + n * sizeof(T));
}

}  // namespace

std::vector<std::byte> encode_chunk(TaskId task, const Chunk& chunk) {
  Header h{};
  h.task = task;
  h.rows = chunk.rows();
  h.cols = chunk.cols();
  h.nnz = chunk.nnz();
  h.dtype = static_cast<std::uint8_t>(chunk.dtype());
  h.layout = static_cast<std::uint8_t>(chunk.layout());
  std::vector<std::byte> out;
  out.reserve(sizeof(Header) + chunk.nbytes());
  put(out, &h, 1);
  const std::size_t item = itemsize(chunk.dtype());
  if (chunk.layout() == Layout::dense) {
    for (index_t r = 0; r < chunk.rows(); ++r)
      put(out, chunk.raw_row(r), static_cast<std::size_t>(chunk.cols()) * item);
    return out;
  }
  const auto p = chunk.indptr();
  const index_t base = p.front();
  for (index_t v : p) {
    const index_t rel = v - base;
    put(out, &rel, 1);
  }
  put(out, chunk.indices() + base, static_cast<std::size_t>(h.nnz));
  put(out, chunk.buffer()->data() + base * static_cast<index_t>(item),
      static_cast<std::size_t>(h.nnz) * item);
  return out;
}

std::pair<TaskId, Chunk> decode_chunk(const std::shared_ptr<Buffer>& buffer) {
  Header h{};
  const Buffer& bytes = *buffer;
  if (bytes.size() < sizeof(Header)) {
    throw DistributedError("chunk message of " + std::to_string(bytes.size()) +
                           " bytes is shorter than its header");
  }
  std::memcpy(&h, bytes.data(), sizeof(Header));
  if (h.dtype >= kDTypeCount || h.layout > 1 || h.rows < 0 || h.cols < 0 || h.nnz < 0) {
    throw DistributedError("chunk message for task " + std::to_string(h.task) +
                           " has a corrupt header");
  }
  const auto dtype = static_cast<DType>(h.dtype);
  const std::size_t item = itemsize(dtype);
  const std::byte* at = bytes.data() + sizeof(Header);
  const std::size_t left = bytes.size() - sizeof(Header);
  const Shape shape{h.rows, h.cols};
  if (h.layout == static_cast<std::uint8_t>(Layout::dense)) {
    const std::size_t need = static_cast<std::size_t>(shape.size()) * item;
    if (left != need)
      throw DistributedError("dense chunk message for task " + std::to_string(h.task) +
                             " has the wrong size");
    if (shape.size() == 0) return {h.task, Chunk::dense(dtype, shape)};
    // The values follow the 64-byte header: view them in place.
    return {h.task, Chunk::dense_view(dtype, shape, buffer,
                                      static_cast<index_t>(sizeof(Header) / item), shape.cols)};
  }
  const std::size_t need = static_cast<std::size_t>(h.rows + 1 + h.nnz) * sizeof(index_t) +
                           static_cast<std::size_t>(h.nnz) * item;
  if (left != need)
    throw DistributedError("CSR chunk message for task " + std::to_string(h.task) +
                           " has the wrong size");
  std::vector<index_t> indptr(static_cast<std::size_t>(h.rows + 1)),
      indices(static_cast<std::size_t>(h.nnz));
  std::memcpy(indptr.data(), at, indptr.size() * sizeof(index_t));
  at += indptr.size() * sizeof(index_t);
  std::memcpy(indices.data(), at, indices.size() * sizeof(index_t));
  at += indices.size() * sizeof(index_t);
  auto values = Buffer::allocate(static_cast<std::size_t>(h.nnz) * item);
  if (h.nnz > 0) std::memcpy(values->data(), at, static_cast<std::size_t>(h.nnz) * item);
  // Full validation: a message is input from another process.
  return {h.task,
          Chunk::csr(dtype, shape, std::move(indptr), std::move(indices), std::move(values))};
}

}  // namespace tessera::detail
