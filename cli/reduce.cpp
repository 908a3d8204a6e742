// tessera reduce: one value per row (axis 1) or per column (axis 0) of X or a layer, printed as
// `name<TAB>value` with 17 significant digits. The file is read lazily in bands of chunk-rows;
// each band is reduced across the ranks (chunks are read, reduced and freed where they are owned)
// and progress is shown per band. Results do not depend on the number of ranks: bands are cut by
// chunk-rows and bytes only, each band's reduction has core's fixed combine order, and per-column
// partials are combined in band order.
//
// tessera graph: the task graph of the same workload (optionally over several inputs joined as
// `tessera concat` joins them) as Graphviz DOT, or SVG drawn by Graphviz.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>

#include "cli.hpp"
#include "tessera/anndata/concat.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/render.hpp"
#include "tessera/io/anndata_io.hpp"

namespace tessera::cli {
namespace {

ReduceOp op_from_name(const std::string& name) {
  if (name == "sum") return ReduceOp::sum;
  if (name == "mean") return ReduceOp::mean;
  if (name == "min") return ReduceOp::min;
  if (name == "max") return ReduceOp::max;
  if (name == "nnz") return ReduceOp::count_nonzero;
  throw ValueError("--op must be sum, mean, min, max or nnz, got '" + name + "'");
}

// Names go one to a line between a tab and a newline: those (and backslashes) are escaped.
void append_name(std::string& out, const std::string& name) {
  for (const char c : name) {
    switch (c) {
      case '\t':
        out.append("\\t");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\\':
        out.append("\\\\");
        break;
      default:
        out.push_back(c);
    }
  }
}

// The values of a reduction, whatever their dtype: integers print as integers, anything else
// with 17 significant digits (enough to read back the same double).
struct Values {
  DType dtype = DType::float64;
  std::vector<long double> v;  // long double holds every int64, uint64 and double exactly

  void append_text(std::string& out, std::size_t k) const {
    char text[48];
    if (is_integer(dtype) || dtype == DType::boolean) {
      if (is_unsigned_int(dtype)) {
        std::snprintf(text, sizeof text, "%llu", static_cast<unsigned long long>(v[k]));
      } else {
        std::snprintf(text, sizeof text, "%lld", static_cast<long long>(v[k]));
      }
    } else {
      std::snprintf(text, sizeof text, "%.17g", static_cast<double>(v[k]));
    }
    out.append(text);
  }
};

std::vector<long double> to_long_double(const Chunk& c) {
  std::vector<long double> out(static_cast<std::size_t>(c.rows() * c.cols()));
  const bool is_unsigned = is_unsigned_int(c.dtype());
  const bool is_whole = is_integer(c.dtype()) || c.dtype() == DType::boolean;
  const Chunk d = is_unsigned ? c.to_dense().astype(DType::uint64)
                  : is_whole  ? c.to_dense().astype(DType::int64)
                              : c.to_dense().astype(DType::float64);
  std::size_t k = 0;
  for (index_t r = 0; r < d.rows(); ++r) {
    for (index_t col = 0; col < d.cols(); ++col) {
      if (is_unsigned) {
        out[k++] = static_cast<long double>(d.row<std::uint64_t>(r)[col]);
      } else if (is_whole) {
        out[k++] = static_cast<long double>(d.row<std::int64_t>(r)[col]);
      } else {
        out[k++] = d.row<double>(r)[col];
      }
    }
  }
  return out;
}

// Bands of whole chunk-rows, cut the same way whatever the number of ranks (so that per-column
// results, which combine band partials, do not depend on it): at least TESSERA_BAND_BYTES
// (default 1 GiB) of logical data per band, and at most about a hundred bands.
std::vector<std::pair<index_t, index_t>> bands(const Array& x) {
  const ChunkGrid& grid = x.chunks();
  const index_t chunk_rows = grid.num_chunks(0);
  index_t band_bytes = index_t{1} << 30;
  if (const char* env = std::getenv("TESSERA_BAND_BYTES")) {
    try {
      band_bytes = std::stoll(env);
    } catch (const std::exception&) {
      band_bytes = 0;
    }
    if (band_bytes < 1)
      throw ValueError(std::string("TESSERA_BAND_BYTES must be a positive number, got '") + env +
                       "'");
  }
  const index_t rows = std::max<index_t>(x.shape().rows, 1);
  const index_t bytes_per_chunk_row =
      std::max<index_t>(x.nbytes() / rows * grid.chunk_size(0, 0), 1);
  const index_t per_band =
      std::max<index_t>({index_t{1}, (chunk_rows + 99) / 100,
                         (band_bytes + bytes_per_chunk_row - 1) / bytes_per_chunk_row});
  std::vector<std::pair<index_t, index_t>> out;
  for (index_t i = 0; i < chunk_rows; i += per_band) {
    const index_t end = std::min(chunk_rows, i + per_band);
    out.emplace_back(grid.chunk_offset(0, i),
                     grid.chunk_offset(0, end - 1) + grid.chunk_size(0, end - 1));
  }
  return out;
}

long double combine(ReduceOp op, long double a, long double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<long double>::quiet_NaN();
  switch (op) {
    case ReduceOp::min:
      return std::min(a, b);
    case ReduceOp::max:
      return std::max(a, b);
    default:
      return a + b;  // sum, count_nonzero, and the sums behind a mean
  }
}

}  // namespace

void reduce(const ReduceArgs& args, Context& ctx, Progress& progress) {
  const ReduceOp op = op_from_name(args.op);
  if (args.axis != 0 && args.axis != 1) {
    throw ValueError("--axis must be 0 (one value per column) or 1 (one value per row), got " +
                     std::to_string(args.axis));
  }
  const AnnData a = io::read(args.path, ctx, read_options(args.read, ctx));
  const Array x = pick_array(a, args.path, args.layer);
  const std::vector<std::string>& names = args.axis == 1 ? a.obs_names() : a.var_names();
  const index_t reduced_length = args.axis == 0 ? x.shape().rows : x.shape().cols;
  if (reduced_length == 0 && !names.empty() && (op == ReduceOp::min || op == ReduceOp::max)) {
    // numpy refuses too: a minimum of nothing has no value.
    throw ValueError("--op " + args.op + " along axis " + std::to_string(args.axis) +
                     " of an array with no " + (args.axis == 0 ? "rows" : "columns"));
  }

  // Per row: each band's results are final. Per column: bands give partial results, combined in
  // band order (a mean is the sum of every band divided by the number of rows).
  const ReduceOp band_op = args.axis == 0 && op == ReduceOp::mean ? ReduceOp::sum : op;
  Values result;
  result.dtype = x.reduce(op, args.axis).dtype();
  if (args.axis == 0) result.v.assign(static_cast<std::size_t>(x.shape().cols), 0.0L);
  const index_t row_bytes = x.shape().rows > 0 ? x.nbytes() / x.shape().rows : 0;
  progress.start("reduce " + args.op, x.nbytes());
  bool first = true;
  for (const auto& [begin, end] : bands(x)) {
    const Array band = x(Selector::slice(begin, end));
    const Chunk part = ctx.compute(band.reduce(band_op, args.axis), 0);
    if (ctx.rank() == 0) {
      std::vector<long double> values = to_long_double(part);
      if (args.axis == 1) {
        result.v.insert(result.v.end(), values.begin(), values.end());
      } else if (first) {
        result.v = std::move(values);
      } else {
        for (std::size_t k = 0; k < values.size(); ++k)
          result.v[k] = combine(band_op, result.v[k], values[k]);
      }
    }
    first = false;
    progress.update(end * row_bytes);
  }
  if (args.axis == 0 && op == ReduceOp::mean && ctx.rank() == 0) {
    for (auto& v : result.v)
      v = static_cast<long double>(static_cast<double>(v) / static_cast<double>(x.shape().rows));
  }
  if (args.axis == 0 && x.shape().rows == 0 && ctx.rank() == 0) {
    // No rows: numpy gives 0 for sum/nnz and NaN for mean.
    for (auto& v : result.v)
      v = op == ReduceOp::mean ? std::numeric_limits<long double>::quiet_NaN() : 0.0L;
  }
  progress.finish();

  std::string text;
  if (ctx.rank() == 0) {
    for (std::size_t k = 0; k < names.size(); ++k) {
      append_name(text, names[k]);
      text.push_back('\t');
      result.append_text(text, k);
      text.push_back('\n');
    }
  }
  write_text(ctx, args.out, text);
}

void graph(const GraphArgs& args, Context& ctx) {
  const GraphDetail detail = args.detail == "layers" ? GraphDetail::layers : GraphDetail::tasks;
  if (args.detail != "layers" && args.detail != "tasks")
    throw ValueError("--detail must be tasks or layers, got '" + args.detail + "'");
  std::string format = args.format;
  if (format.empty()) {
    format = args.out.size() > 4 && args.out.ends_with(".svg") ? "svg" : "dot";
  }
  if (format != "dot" && format != "svg")
    throw ValueError("--format must be dot or svg, got '" + format + "'");

  std::vector<AnnData> objects;
  for (const auto& in : args.inputs)
    objects.push_back(io::read(in, ctx, read_options(args.read, ctx)));
  const AnnData a = objects.size() == 1 ? objects.front() : tessera::concat(objects);
  const std::string what = objects.size() == 1 ? args.inputs.front() : "the concatenation";
  Array x = pick_array(a, what, args.layer);
  if (!args.op.empty()) {
    if (args.axis != 0 && args.axis != 1)
      throw ValueError("--axis must be 0 or 1, got " + std::to_string(args.axis));
    x = x.reduce(op_from_name(args.op), args.axis);
  }
  std::string text;
  on_root(ctx.comm(), 0, "drawing the task graph", [&] {
    text = task_graph_dot(x, detail);
    if (format == "svg") {
      auto svg = dot_to_svg(text);
      if (!svg) throw IoError("drawing SVG needs Graphviz's dot program (Debian: graphviz)");
      text = std::move(*svg);
    }
  });
  write_text(ctx, args.out, text);
}

}  // namespace tessera::cli
