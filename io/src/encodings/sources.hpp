// Reading arrays of the storage interface into the model: whole reads of small elements, checked
// against a ceiling before anything is allocated, and lazy chunk sources for the big ones (dense
// row blocks, CSR row blocks). Every encoding reader (modern, legacy, Cell Ranger) builds on these.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/io/options.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io::detail {

// "file.h5ad:/obs" + "batch" -> "file.h5ad:/obs/batch".
std::string where(const Group& parent, const std::string& name);
// FormatError "<where>: <problem>".
[[noreturn]] void bad(const Group& parent, const std::string& name, const std::string& problem);

// Elements read whole (indexes, columns, uns values, codes, indptr) are small in any real file; a
// header claiming more than this is refused before anything is allocated or iterated.
inline constexpr index_t kMaxWholeRead = index_t{1} << 31;
// The metadata of `name`, FormatError when it claims an impossible or too large size.
ArrayMeta checked_meta(const Group& parent, const std::string& name);

// The whole of a 1-D integer array as int64 values (indptr, indices, codes).
std::vector<index_t> read_indices(const Group& g, const std::string& name);

// Rows per lazy chunk for rows of `bytes_per_row` near `target` bytes.
index_t rows_per_chunk(index_t rows, double bytes_per_row, index_t target);

// A lazy CSR matrix of `stored` shape from the 1-D arrays data, indices and indptr of `g` (their
// names may differ, Cell Ranger's do not): indptr is read and validated once, each chunk reads its
// rows' slice of indices and data and checks it. Values are converted to `dtype` when given.
struct CsrArrays {
  std::string data = "data";
  std::string indices = "indices";
  std::string indptr = "indptr";
};
Array lazy_csr(const std::shared_ptr<const Group>& g, Shape stored, std::optional<DType> dtype,
               const ReadOptions& options, const std::string& label, const CsrArrays& names = {},
               const std::string& op = "read-csr");

// A lazy dense matrix read in row blocks of whole file chunk-rows.
Array lazy_dense(const std::shared_ptr<const Group>& parent, const std::string& name,
                 const ReadOptions& options);

}  // namespace tessera::io::detail
