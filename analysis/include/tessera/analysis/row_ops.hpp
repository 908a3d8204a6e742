// Row-wise operations the preprocessing needs beyond core's element-wise ops and reductions:
// the sums of each row's N largest values (scanpy's percent_top), and dividing every row by its
// own number (normalize_total). Both are lazy nodes, one task per chunk (or chunk-row) placed
// next to the data, and give the same bits for any rank or thread count.
#pragma once

#include <vector>

#include "tessera/core/array.hpp"

namespace tessera::analysis {

// For an (R, C) array and sorted positive `ns`: an (R, len(ns)) float64 array whose (r, k) is the
// sum of the ns[k] largest values of row r, the implicit zeros of CSR rows counting as values
// (scanpy's dense top_segment_proportions; its CSR path agrees unless a row stores more than
// ns.back() values and some are negative, which counts never are). One task per chunk-row; the
// sum runs in float64 over the values sorted in decreasing order, so it depends on nothing but
// the row's values. ValueError when ns is empty, unsorted, or holds a value outside [1, C].
Array top_n_sums(const Array& x, std::vector<index_t> ns);

// x / divisors[row], row by row, in `dtype` (float32 or float64): x is converted to `dtype`
// first and each value divided by its row's divisor in that type, as numpy's
// `np.true_divide(X, d[:, None])` on an X of that dtype. CSR stays CSR (the structure is kept).
// `divisors` is a dense (R, 1) chunk, converted to `dtype`. ShapeError when R differs.
Array divide_rows(const Array& x, const Chunk& divisors, DType dtype);

}  // namespace tessera::analysis
