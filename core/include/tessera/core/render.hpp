// Pictures of arrays and graphs, as dask draws them: the chunk table (text, and HTML with an SVG
// of the chunk grid) and the task graph as Graphviz DOT, turned into SVG when `dot` is installed.
#pragma once

#include <optional>
#include <string>

#include "tessera/core/array.hpp"

namespace tessera {

// dask's format_bytes: "512.00 MiB", "8.00 kiB", "100 B".
std::string format_bytes(index_t bytes);

// dask's one-line repr: "tessera.Array<random_sample-1a2b3c4d, shape=(8192, 8192), dtype=float64,
// chunksize=(4096, 4096), chunktype=numpy.ndarray>".
std::string repr(const Array& array);
// The text chunk table:
//             Array          Chunk
//   Bytes     512.00 MiB     128.00 MiB
//   Shape     (8192, 8192)   (4096, 4096)
//   Graph     4 chunks in 1 graph layer
//   Type      float64 numpy.ndarray
std::string chunk_table(const Array& array);
// The same table as HTML, with the SVG picture of the chunk grid beside it (dask's _repr_html_).
std::string chunk_table_html(const Array& array);
// SVG of the chunk grid: the array's outline with a line at every chunk boundary.
std::string chunk_grid_svg(const ChunkGrid& grid, int size = 120);

enum class GraphDetail : std::uint8_t { layers, tasks };
// Graphviz DOT of the graph below `array`: one box per layer, or (tasks) one circle per task and
// one box per chunk it produces, like dask's visualize().
std::string task_graph_dot(const Array& array, GraphDetail detail = GraphDetail::tasks);
// Runs Graphviz's `dot -Tsvg`; nullopt when Graphviz is not installed or fails.
std::optional<std::string> dot_to_svg(const std::string& dot);

}  // namespace tessera
