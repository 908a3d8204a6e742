#include "tessera/core/render.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "tessera/core/error.hpp"

namespace tessera {
namespace {

std::string chunk_type(const Array& a) {
  return a.is_sparse() ? "scipy.sparse.csr_matrix" : "numpy.ndarray";
}

std::string plural(index_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string fixed(double v, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << v;
  return out.str();
}

std::string escape_dot(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The rows of the chunk table: label, array value, chunk value (empty: spans both columns).
struct TableRows {
  std::string bytes, chunk_bytes, shape, chunk_shape, graph, type;
};

TableRows table_rows(const Array& a) {
  const GraphStats stats = a.graph_stats();
  const Shape chunk = a.chunks().max_chunk_shape();
  const index_t item = static_cast<index_t>(itemsize(a.dtype()));
  return {format_bytes(a.nbytes()),
          format_bytes(chunk.size() * item),
          to_string(a.shape()),
          to_string(chunk),
          plural(stats.chunks, "chunk") + " in " + plural(stats.layers, "graph layer"),
          std::string(name(a.dtype())) + " " + chunk_type(a)};
}

}  // namespace

std::string format_bytes(index_t bytes) {
  static constexpr std::pair<const char*, double> kUnits[] = {{"Pi", 1125899906842624.0},
                                                              {"Ti", 1099511627776.0},
                                                              {"Gi", 1073741824.0},
                                                              {"Mi", 1048576.0},
                                                              {"ki", 1024.0}};
  for (const auto& [prefix, k] : kUnits) {
    if (static_cast<double>(bytes) >= k * 0.9)
      return fixed(static_cast<double>(bytes) / k, 2) + " " + prefix + "B";
  }
  return std::to_string(bytes) + " B";
}

std::string repr(const Array& a) {
  return "tessera.Array<" + a.name() + ", shape=" + to_string(a.shape()) +
         ", dtype=" + std::string(name(a.dtype())) +
         ", chunksize=" + to_string(a.chunks().max_chunk_shape()) + ", chunktype=" + chunk_type(a) +
         ">";
}

std::string chunk_table(const Array& a) {
  const TableRows t = table_rows(a);
  const std::size_t w1 = std::max<std::size_t>({t.bytes.size(), t.shape.size(), 5});
  std::ostringstream out;
  const auto row = [&](const char* label, const std::string& v1, const std::string& v2) {
    out << std::left << std::setw(7) << label << "  " << std::setw(static_cast<int>(w1)) << v1
        << "  " << v2;
    std::string line = out.str();
    out.str("");
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    return line + "\n";
  };
  std::string s;
  s += row("", "Array", "Chunk");
  s += row("Bytes", t.bytes, t.chunk_bytes);
  s += row("Shape", t.shape, t.chunk_shape);
  s += row("Graph", t.graph, "");
  s += row("Type", t.type, "");
  return s;
}

std::string chunk_grid_svg(const ChunkGrid& grid, int size) {
  const Shape shape = grid.shape();
  const double longest = static_cast<double>(std::max<index_t>({shape.rows, shape.cols, 1}));
  // Keep a thin axis visible, as dask does: no side under a tenth of the longest.
  const double w = std::max(size * static_cast<double>(shape.cols) / longest, size / 10.0);
  const double h = std::max(size * static_cast<double>(shape.rows) / longest, size / 10.0);
  constexpr index_t kMaxLines = 100;  // past this, only the outline (as dask)
  std::ostringstream out;
  out << "<svg width=\"" << fixed(w + 50, 0) << "\" height=\"" << fixed(h + 50, 0)
      << "\" style=\"stroke:rgb(0,0,0);stroke-width:1\" xmlns=\"http://www.w3.org/2000/svg\">\n";
  const auto line = [&](double x1, double y1, double x2, double y2, bool edge) {
    out << "  <line x1=\"" << fixed(x1, 6) << "\" y1=\"" << fixed(y1, 6) << "\" x2=\""
        << fixed(x2, 6) << "\" y2=\"" << fixed(y2, 6) << "\""
        << (edge ? " style=\"stroke-width:2\"" : "") << " />\n";
  };
  out << "  <!-- Horizontal lines -->\n";
  const auto& rows = grid.offsets(0);
  const auto& cols = grid.offsets(1);
  const bool all_rows = grid.num_chunks(0) <= kMaxLines, all_cols = grid.num_chunks(1) <= kMaxLines;
  for (std::size_t n = 0; n < rows.size(); ++n) {
    const bool edge = n == 0 || n + 1 == rows.size();
    if (!edge && !all_rows) continue;
    line(0, h * static_cast<double>(rows[n]) / std::max<double>(1, static_cast<double>(shape.rows)),
         w, h * static_cast<double>(rows[n]) / std::max<double>(1, static_cast<double>(shape.rows)),
         edge);
  }
  out << "  <!-- Vertical lines -->\n";
  for (std::size_t n = 0; n < cols.size(); ++n) {
    const bool edge = n == 0 || n + 1 == cols.size();
    if (!edge && !all_cols) continue;
    const double x =
        w * static_cast<double>(cols[n]) / std::max<double>(1, static_cast<double>(shape.cols));
    line(x, 0, x, h, edge);
  }
  out << "  <!-- Colored Rectangle -->\n";
  out << "  <polygon points=\"0.0,0.0 " << fixed(w, 6) << ",0.0 " << fixed(w, 6) << ","
      << fixed(h, 6) << " 0.0," << fixed(h, 6)
      << "\" style=\"fill:" << (all_rows && all_cols ? "#ECB172A0" : "#8B4903A0")
      << ";stroke-width:0\"/>\n";
  out << "  <!-- Text -->\n";
  out << "  <text x=\"" << fixed(w / 2, 6) << "\" y=\"" << fixed(h + 20, 6)
      << "\" font-size=\"1.0rem\" font-weight=\"100\" text-anchor=\"middle\" >" << shape.cols
      << "</text>\n";
  out << "  <text x=\"" << fixed(w + 20, 6) << "\" y=\"" << fixed(h / 2, 6)
      << "\" font-size=\"1.0rem\" font-weight=\"100\" text-anchor=\"middle\" "
         "transform=\"rotate(-90,"
      << fixed(w + 20, 6) << "," << fixed(h / 2, 6) << ")\">" << shape.rows << "</text>\n";
  out << "</svg>";
  return out.str();
}

std::string chunk_table_html(const Array& a) {
  const TableRows t = table_rows(a);
  std::ostringstream out;
  out << "<table>\n<tr>\n<td>\n<table style=\"border-collapse: collapse;\">\n"
      << "  <thead>\n    <tr><td> </td><th> Array </th><th> Chunk </th></tr>\n  </thead>\n  "
         "<tbody>\n"
      << "    <tr><th> Bytes </th><td> " << t.bytes << " </td><td> " << t.chunk_bytes
      << " </td></tr>\n"
      << "    <tr><th> Shape </th><td> " << t.shape << " </td><td> " << t.chunk_shape
      << " </td></tr>\n"
      << "    <tr><th> Graph </th><td colspan=\"2\"> " << t.graph << " </td></tr>\n"
      << "    <tr><th> Type </th><td colspan=\"2\"> " << html_escape(t.type) << " </td></tr>\n"
      << "  </tbody>\n</table>\n</td>\n<td>\n"
      << chunk_grid_svg(a.chunks()) << "\n</td>\n</tr>\n</table>";
  return out.str();
}

std::string task_graph_dot(const Array& a, GraphDetail detail) {
  const TaskGraph g = TaskGraph::lower({&a.node(), 1});
  std::ostringstream out;
  out << "digraph tessera {\n  graph [rankdir=BT];\n";
  if (detail == GraphDetail::layers) {
    out << "  node [shape=box, style=filled, fillcolor=\"#ECB172\"];\n";
    for (NodeId id = 0; id < static_cast<NodeId>(g.nodes().size()); ++id) {
      const Node& n = g.node(id);
      out << "  n" << id << " [label=\"" << escape_dot(n.name()) << "\\n"
          << to_string(n.shape()) << ", " << plural(n.grid().num_chunks(), "chunk") << "\"];\n";
      for (const auto& in : n.inputs())
        out << "  n" << g.node_id(*in) << " -> n" << id << ";\n";
    }
  } else {
    // dask's visualize(): a circle per task (its function) and a box per result it produces.
    for (TaskId t = 0; t < g.num_tasks(); ++t) {
      const Task& task = g.task(t);
      const Node& n = g.node(task.key.node);
      std::string key = to_string(Shape{task.key.i, task.key.j});
      if (task.key.part > 0)
        key =
            "part " + std::to_string(task.key.part) + " #" + std::to_string(task.key.k) + " " + key;
      out << "  f" << t << " [shape=circle, label=\"" << escape_dot(n.kind()) << "\"];\n";
      out << "  t" << t << " [shape=box, label=\"" << escape_dot(key) << "\"];\n";
      out << "  f" << t << " -> t" << t << ";\n";
      for (TaskId d : g.deps(t))
        out << "  t" << d << " -> f" << t << ";\n";
    }
  }
  out << "}\n";
  return out.str();
}

std::optional<std::string> dot_to_svg(const std::string& dot) {
  char in_path[] = "/tmp/tessera-dot-XXXXXX";
  const int fd = ::mkstemp(in_path);
  if (fd < 0) return std::nullopt;
  ::close(fd);
  const std::string out_path = std::string(in_path) + ".svg";
  std::optional<std::string> svg;
  { std::ofstream(in_path) << dot; }
  const std::string cmd = std::string(TESSERA_DOT_EXECUTABLE) + " -Tsvg '" + in_path + "' -o '" +
                          out_path + "' 2>/dev/null";
  if (std::system(cmd.c_str()) == 0) {
    std::ifstream in(out_path);
    std::ostringstream text;
    text << in.rdbuf();
    if (!text.str().empty()) svg = text.str();
  }
  std::remove(in_path);
  std::remove(out_path.c_str());
  return svg;
}

}  // namespace tessera
