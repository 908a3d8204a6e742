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
  std::uint8_t pad[30];
};
static_assert(sizeof(Header) == kWireHeaderBytes);

template <typename T>
void put(std::vector<std::byte>& out, const T* data, std::size_t n) {
  const auto* p = reinterpret_cast<const std::byte*>(data);
  out.insert(out.end(), p, p + n * sizeof(T));
}

Header parse(std::span<const std::byte> bytes) {
  Header h{};
  if (bytes.size() != sizeof(Header)) {
    throw DistributedError("chunk header message of " + std::to_string(bytes.size()) +
                           " bytes, expected " + std::to_string(sizeof(Header)));
  }
  std::memcpy(&h, bytes.data(), sizeof(Header));
  // Bounds that keep the size arithmetic below from overflowing.
  constexpr std::int64_t kMax = std::int64_t{1} << 40;
  if (h.dtype >= kDTypeCount || h.layout > 1 || h.rows < 0 || h.cols < 0 || h.nnz < 0 ||
      h.rows > kMax || h.cols > kMax || h.nnz > kMax ||
      (h.layout == static_cast<std::uint8_t>(Layout::dense) && h.rows > 0 &&
       h.cols > kMax / h.rows)) {
    throw DistributedError("chunk message for task " + std::to_string(h.task) +
                           " has a corrupt header");
  }
  return h;
}

}  // namespace

WireChunk encode_chunk(TaskId task, const Chunk& chunk) {
  Header h{};
  h.task = task;
  h.rows = chunk.rows();
  h.cols = chunk.cols();
  h.nnz = chunk.nnz();
  h.dtype = static_cast<std::uint8_t>(chunk.dtype());
  h.layout = static_cast<std::uint8_t>(chunk.layout());
  WireChunk out;
  std::memcpy(out.header.data(), &h, sizeof(Header));
  const std::size_t item = itemsize(chunk.dtype());
  if (chunk.layout() == Layout::dense && (chunk.is_contiguous() || chunk.rows() == 0)) {
    // The values as they lie in the chunk's buffer: sent without a copy.
    if (chunk.rows() > 0 && chunk.cols() > 0) {
      out.payload = {chunk.raw_row(0),
                     static_cast<std::size_t>(chunk.rows() * chunk.cols()) * item};
      out.keep = chunk.buffer();
    }
    return out;
  }
  auto bytes = std::make_shared<std::vector<std::byte>>();
  bytes->reserve(chunk.nbytes());
  if (chunk.layout() == Layout::dense) {
    for (index_t r = 0; r < chunk.rows(); ++r)
      put(*bytes, chunk.raw_row(r), static_cast<std::size_t>(chunk.cols()) * item);
  } else {
    const auto p = chunk.indptr();
    const index_t base = p.front();
    for (index_t v : p) {
      const index_t rel = v - base;
      put(*bytes, &rel, 1);
    }
    put(*bytes, chunk.indices() + base, static_cast<std::size_t>(h.nnz));
    put(*bytes, chunk.buffer()->data() + base * static_cast<index_t>(item),
        static_cast<std::size_t>(h.nnz) * item);
  }
  out.payload = *bytes;
  out.keep = std::move(bytes);
  return out;
}

std::size_t payload_bytes(std::span<const std::byte> header) {
  const Header h = parse(header);
  const auto item = static_cast<std::size_t>(itemsize(static_cast<DType>(h.dtype)));
  if (h.layout == static_cast<std::uint8_t>(Layout::dense)) {
    return static_cast<std::size_t>(h.rows * h.cols) * item;
  }
  return static_cast<std::size_t>(h.rows + 1 + h.nnz) * sizeof(index_t) +
         static_cast<std::size_t>(h.nnz) * item;
}

std::pair<TaskId, Chunk> decode_chunk(std::span<const std::byte> header,
                                      const std::shared_ptr<Buffer>& payload) {
  const Header h = parse(header);
  const auto dtype = static_cast<DType>(h.dtype);
  const std::size_t item = itemsize(dtype);
  const std::size_t left = payload == nullptr ? 0 : payload->size();
  if (left != payload_bytes(header)) {
    throw DistributedError(std::string(h.layout == 0 ? "dense" : "CSR") +
                           " chunk message for task " + std::to_string(h.task) +
                           " has the wrong size");
  }
  const Shape shape{h.rows, h.cols};
  if (h.layout == static_cast<std::uint8_t>(Layout::dense)) {
    if (shape.size() == 0) return {h.task, Chunk::dense(dtype, shape)};
    // The values are the whole payload: view them in place.
    return {h.task, Chunk::dense_view(dtype, shape, payload, 0, shape.cols)};
  }
  const std::byte* at = payload->data();
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
