// Rendering like dask: format_bytes, the one-line repr, the text and HTML chunk tables, the SVG of
// the chunk grid, and the task graph as DOT (checked by letting Graphviz lay it out when `dot` is
// installed and counting the nodes it drew).
#include "tessera/core/render.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tessera/core/array.hpp"
#include "test_util.hpp"

namespace tessera {
namespace {

using V = std::vector<index_t>;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

index_t count(const std::string& text, const std::string& part) {
  index_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
    ++n;
  return n;
}

bool have_dot() {
  return std::system("command -v dot >/dev/null 2>&1") == 0;
}

TEST(FormatBytes, MatchesDask) {
  // Values printed by dask.utils.format_bytes.
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(100), "100 B");
  EXPECT_EQ(format_bytes(921), "921 B");
  EXPECT_EQ(format_bytes(922), "0.90 kiB");  // dask switches units at 0.9 of the next one
  EXPECT_EQ(format_bytes(1000), "0.98 kiB");
  EXPECT_EQ(format_bytes(1024), "1.00 kiB");
  EXPECT_EQ(format_bytes(8192), "8.00 kiB");
  EXPECT_EQ(format_bytes(6808), "6.65 kiB");
  EXPECT_EQ(format_bytes(943718), "921.60 kiB");
  EXPECT_EQ(format_bytes(943719), "0.90 MiB");
  EXPECT_EQ(format_bytes(index_t{128} << 20), "128.00 MiB");
  EXPECT_EQ(format_bytes(index_t{512} << 20), "512.00 MiB");
  EXPECT_EQ(format_bytes(index_t{1} << 30), "1.00 GiB");
  EXPECT_EQ(format_bytes(index_t{3} << 39), "1.50 TiB");
  EXPECT_EQ(format_bytes(index_t{1} << 50), "1.00 PiB");
  EXPECT_EQ(format_bytes(index_t{5} << 50), "5.00 PiB");
}

TEST(Repr, LikeDasksOneLiner) {
  const Array x = random(Shape{8192, 8192}, ChunkSpec(4096, 4096), 1);
  EXPECT_EQ(repr(x), "tessera.Array<" + x.name() +
                         ", shape=(8192, 8192), dtype=float64, chunksize=(4096, 4096), "
                         "chunktype=numpy.ndarray>");
  const Array s = random_sparse(Shape{37, 23}, ChunkSpec(5, 4), 0.1, 1, DType::float32);
  const std::string r = repr(s);
  EXPECT_TRUE(contains(r, "tessera.Array<" + s.name())) << r;
  EXPECT_TRUE(contains(r, "shape=(37, 23)")) << r;
  EXPECT_TRUE(contains(r, "dtype=float32")) << r;
  EXPECT_TRUE(contains(r, "chunksize=(5, 4)")) << r;
}

TEST(ChunkTable, TextLikeDask) {
  const Array x = random(Shape{8192, 8192}, ChunkSpec(4096, 4096), 1);
  const std::string t = chunk_table(x);
  for (const char* part :
       {"Array", "Chunk", "Bytes", "512.00 MiB", "128.00 MiB", "Shape", "(8192, 8192)",
        "(4096, 4096)", "Graph", "4 chunks in 1 graph layer", "Type", "float64", "numpy.ndarray"}) {
    EXPECT_TRUE(contains(t, part)) << "missing \"" << part << "\" in\n" << t;
  }
  // Rows in dask's order.
  EXPECT_LT(t.find("Bytes"), t.find("Shape"));
  EXPECT_LT(t.find("Shape"), t.find("Graph"));
  EXPECT_LT(t.find("Graph"), t.find("Type"));
  // Building an expression adds a layer; nothing is computed for a 512 MiB array.
  const std::string t2 = chunk_table(x + 1.0);
  EXPECT_TRUE(contains(t2, "4 chunks in 2 graph layers")) << t2;
  const std::string t3 = chunk_table((x + 1.0).sum(0));
  EXPECT_TRUE(contains(t3, "(1, 8192)")) << t3;
  EXPECT_TRUE(contains(t3, "2 chunks in 3 graph layers")) << t3;
}

TEST(ChunkTable, IrregularSmallArray) {
  const Array x = arange(Shape{9, 9}, ChunkSpec(V{3, 1, 5}, V{2, 7}), DType::int32);
  const std::string t = chunk_table(x);
  EXPECT_TRUE(contains(t, "324 B")) << t;  // 81 * 4
  EXPECT_TRUE(contains(t, "140 B")) << t;  // largest chunk (5, 7) * 4
  EXPECT_TRUE(contains(t, "(9, 9)")) << t;
  EXPECT_TRUE(contains(t, "(5, 7)")) << t;
  EXPECT_TRUE(contains(t, "6 chunks in 1 graph layer")) << t;
  EXPECT_TRUE(contains(t, "int32")) << t;
}

TEST(ChunkTable, Html) {
  const Array x = random(Shape{8192, 8192}, ChunkSpec(4096, 4096), 1);
  const std::string h = chunk_table_html(x);
  EXPECT_TRUE(contains(h, "<table")) << h;
  EXPECT_TRUE(contains(h, "</table>")) << h;
  EXPECT_TRUE(contains(h, "<svg")) << h;
  EXPECT_TRUE(contains(h, "</svg>")) << h;
  EXPECT_TRUE(contains(h, "512.00 MiB")) << h;
  EXPECT_TRUE(contains(h, "128.00 MiB")) << h;
  EXPECT_TRUE(contains(h, "4 chunks in 1 graph layer")) << h;
  EXPECT_TRUE(contains(h, "float64")) << h;
}

TEST(ChunkGridSvg, DrawsEveryBoundary) {
  const ChunkGrid g = ChunkGrid::regular(Shape{37, 23}, 5, 4);
  const std::string svg = chunk_grid_svg(g);
  EXPECT_TRUE(contains(svg, "<svg")) << svg;
  EXPECT_TRUE(contains(svg, "</svg>")) << svg;
  // 7 inner row boundaries and 5 inner column boundaries at least.
  EXPECT_GE(count(svg, "<line"), 7 + 5) << svg;
  const std::string one = chunk_grid_svg(ChunkGrid::regular(Shape{1, 1}, 1, 1), 60);
  EXPECT_TRUE(contains(one, "<svg")) << one;
}

TEST(TaskGraphDot, IsADigraph) {
  const Array x = random(Shape{8, 8}, ChunkSpec(4, 4), 1);
  const Array y = x + 1.0;
  for (GraphDetail d : {GraphDetail::layers, GraphDetail::tasks}) {
    const std::string dot = task_graph_dot(y, d);
    EXPECT_TRUE(contains(dot, "digraph")) << dot;
    EXPECT_EQ(count(dot, "{"), count(dot, "}")) << dot;
    EXPECT_TRUE(contains(dot, "->")) << dot;
  }
}

// Graphviz's own layout of the DOT text: counts of drawn nodes (ellipses are circles, polygons
// are boxes) and edges.
struct Drawn {
  index_t circles = 0;
  index_t boxes = 0;
  index_t edges = 0;
};
Drawn draw(const std::string& dot) {
  const std::optional<std::string> svg = dot_to_svg(dot);
  EXPECT_TRUE(svg.has_value()) << dot;
  Drawn out;
  if (!svg) return out;
  const std::string node_tag = "class=\"node\"";
  for (std::size_t at = svg->find(node_tag); at != std::string::npos;) {
    const std::size_t next = svg->find(node_tag, at + 1);
    const std::string group =
        svg->substr(at, next == std::string::npos ? std::string::npos : next - at);
    const std::size_t end = group.find("</g>");
    const std::string body = group.substr(0, end);
    if (contains(body, "<ellipse")) {
      ++out.circles;
    } else if (contains(body, "<polygon")) {
      ++out.boxes;
    }
    at = next;
  }
  out.edges = count(*svg, "class=\"edge\"");
  return out;
}

TEST(TaskGraphDot, OneCirclePerTaskAndOneBoxPerLayer) {
  if (!have_dot()) GTEST_SKIP() << "Graphviz's dot is not installed";
  const Array a = random(Shape{8, 8}, ChunkSpec(4, 4), 1);
  const Array b = random(Shape{6, 8}, ChunkSpec(3, 4), 2);
  const std::vector<Array> arrays = {a + 1.0, (a * 2.0).sum(0), concatenate({a, b}, 0),
                                     a(Selector::take({7, 0, 0}))};
  for (const Array& y : arrays) {
    const GraphStats stats = y.graph_stats();
    const Drawn tasks = draw(task_graph_dot(y, GraphDetail::tasks));
    EXPECT_EQ(tasks.circles, stats.tasks) << task_graph_dot(y, GraphDetail::tasks);
    EXPECT_EQ(tasks.boxes, stats.tasks) << "one box per chunk a task produces";
    EXPECT_GE(tasks.edges, stats.tasks);
    const Drawn layers = draw(task_graph_dot(y, GraphDetail::layers));
    EXPECT_EQ(layers.boxes + layers.circles, stats.layers)
        << task_graph_dot(y, GraphDetail::layers);
    EXPECT_EQ(layers.edges, stats.layers - 1) << "each of these graphs is a tree of layers";
  }
}

TEST(DotToSvg, RunsGraphvizWhenInstalled) {
  const std::string dot = task_graph_dot(random(Shape{4, 4}, ChunkSpec(2, 2), 1) * 2.0);
  const std::optional<std::string> svg = dot_to_svg(dot);
  if (!have_dot()) {
    EXPECT_FALSE(svg.has_value());
    GTEST_SKIP() << "Graphviz's dot is not installed";
  }
  ASSERT_TRUE(svg.has_value());
  EXPECT_TRUE(svg->rfind("<?xml", 0) == 0 || contains(*svg, "<svg")) << svg->substr(0, 200);
  EXPECT_TRUE(contains(*svg, "</svg>"));
  // Input Graphviz rejects gives nullopt, not an exception or a broken picture.
  EXPECT_FALSE(dot_to_svg("digraph { a -> ; }}}").has_value());
}

}  // namespace
}  // namespace tessera
