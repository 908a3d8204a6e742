// Structural operations: concatenate (zero-copy when chunks line up, correct when they do not),
// rechunk, transpose, astype, todense and tocsr, on dense and CSR arrays with regular and irregular
// grids. Expected values are stacked, transposed or cast references built with plain loops.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/local_executor.hpp"
#include "test_util.hpp"

namespace tessera {
namespace {

using test::map_ref;
using test::Ref;
using test::values_equal;
using V = std::vector<index_t>;

constexpr Shape kShape{37, 23};
const ChunkSpec kRegular(5, 4);
const ChunkSpec kIrregular(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13});

// numpy's concatenate of references.
Ref stack(const std::vector<Ref>& parts, int axis) {
  Shape s = parts[0].shape;
  if (axis == 0) {
    s.rows = 0;
    for (const Ref& p : parts)
      s.rows += p.shape.rows;
  } else {
    s.cols = 0;
    for (const Ref& p : parts)
      s.cols += p.shape.cols;
  }
  Ref out(s);
  index_t offset = 0;
  for (const Ref& p : parts) {
    for (index_t r = 0; r < p.shape.rows; ++r) {
      for (index_t c = 0; c < p.shape.cols; ++c) {
        if (axis == 0) {
          out.at(offset + r, c) = p.at(r, c);
        } else {
          out.at(r, offset + c) = p.at(r, c);
        }
      }
    }
    offset += p.shape[axis];
  }
  return out;
}

Ref transposed(const Ref& in) {
  Ref out(Shape{in.shape.cols, in.shape.rows});
  for (index_t r = 0; r < in.shape.rows; ++r) {
    for (index_t c = 0; c < in.shape.cols; ++c)
      out.at(c, r) = in.at(r, c);
  }
  return out;
}

Ref sparse_ref(Shape shape, int salt) {
  return test::make_ref(shape, [salt](index_t r, index_t c) {
    const index_t h = (r * 131 + c * 71 + salt * 29) % 9;
    return h < 3 ? double(r * 100 + c) * 0.5 - 7.0 * salt : 0.0;
  });
}
Array sparse_array(Shape shape, const ChunkSpec& chunks, int salt) {
  return from_chunk(test::chunk_of(sparse_ref(shape, salt)).to_csr(), chunks);
}

TEST(Concatenate, AlignedRowsAddNoTasks) {
  const Array a = random(Shape{10, 23}, kRegular, 1);
  const Array b = random(Shape{7, 23}, kRegular, 2);
  const Array c = concatenate({a, b}, 0);
  EXPECT_EQ(c.shape(), (Shape{17, 23}));
  EXPECT_EQ(c.dtype(), DType::float64);
  EXPECT_EQ(c.chunks().sizes(0), (V{5, 5, 5, 2}));
  EXPECT_EQ(c.chunks().sizes(1), a.chunks().sizes(1));
  const GraphStats sa = a.graph_stats();
  const GraphStats sb = b.graph_stats();
  const GraphStats sc = c.graph_stats();
  EXPECT_EQ(sc.tasks, sa.tasks + sb.tasks);
  EXPECT_EQ(sc.layers, 3);
  EXPECT_EQ(sc.chunks, sa.chunks + sb.chunks);
  EXPECT_TRUE(values_equal(
      c.compute(),
      stack({test::random_ref(1, Shape{10, 23}), test::random_ref(2, Shape{7, 23})}, 0)));
}

TEST(Concatenate, AlignedColumnsAddNoTasks) {
  const Array a = random(Shape{37, 10}, ChunkSpec(V{3, 1, 5, 10, 1, 17}, V{4, 4, 2}), 3);
  const Array b = random(Shape{37, 6}, ChunkSpec(V{3, 1, 5, 10, 1, 17}, V{4, 2}), 4);
  const Array c = concatenate({a, b}, 1);
  EXPECT_EQ(c.shape(), (Shape{37, 16}));
  EXPECT_EQ(c.chunks().sizes(0), (V{3, 1, 5, 10, 1, 17}));
  EXPECT_EQ(c.chunks().sizes(1), (V{4, 4, 2, 4, 2}));
  EXPECT_EQ(c.graph_stats().tasks, a.graph_stats().tasks + b.graph_stats().tasks);
  EXPECT_EQ(c.graph_stats().layers, 3);
  EXPECT_TRUE(values_equal(
      c.compute(),
      stack({test::random_ref(3, Shape{37, 10}), test::random_ref(4, Shape{37, 6})}, 1)));
}

TEST(Concatenate, ThreeAlignedInputsOfDifferentKinds) {
  const Array a = random(Shape{10, 23}, kRegular, 5);
  const Array b = arange(Shape{3, 23}, kRegular, DType::float64);
  const Array c = full(Shape{6, 23}, -2.0, kRegular);
  const Array y = concatenate({a, b, c}, 0);
  EXPECT_EQ(y.graph_stats().tasks,
            a.graph_stats().tasks + b.graph_stats().tasks + c.graph_stats().tasks);
  EXPECT_EQ(y.graph_stats().layers, 4);
  EXPECT_TRUE(
      values_equal(y.compute(), stack({test::random_ref(5, Shape{10, 23}),
                                       test::arange_ref(Shape{3, 23}), Ref(Shape{6, 23}, -2.0)},
                                      0)));
}

TEST(Concatenate, MisalignedChunksStillGiveCorrectValues) {
  const Array a = random(Shape{10, 23}, kRegular, 6);
  const Array b = random(Shape{7, 23}, ChunkSpec(V{7}, V{2, 7, 1, 13}), 7);
  const Array c = concatenate({a, b}, 0);
  EXPECT_EQ(c.shape(), (Shape{17, 23}));
  const Ref expected =
      stack({test::random_ref(6, Shape{10, 23}), test::random_ref(7, Shape{7, 23})}, 0);
  EXPECT_TRUE(values_equal(c.compute(), expected));
  // The other way round, and along axis 1 with misaligned rows.
  EXPECT_TRUE(values_equal(
      concatenate({b, a}, 0).compute(),
      stack({test::random_ref(7, Shape{7, 23}), test::random_ref(6, Shape{10, 23})}, 0)));
  const Array l = random(Shape{37, 5}, kRegular, 8);
  const Array r = random(Shape{37, 3}, ChunkSpec(V{3, 1, 5, 10, 1, 17}, V{3}), 9);
  EXPECT_TRUE(values_equal(
      concatenate({l, r}, 1).compute(),
      stack({test::random_ref(8, Shape{37, 5}), test::random_ref(9, Shape{37, 3})}, 1)));
}

TEST(Concatenate, DtypesPromote) {
  const Ref ir = test::arange_ref(Shape{10, 23});
  const Array i = arange(Shape{10, 23}, kRegular, DType::int32);
  const Array f = random(Shape{7, 23}, kRegular, 10, DType::float32);
  const Ref fr = test::raw_values(f.compute());
  const Array c = concatenate({i, f}, 0);
  EXPECT_EQ(c.dtype(), DType::float64);
  const Chunk cc = c.compute();
  EXPECT_EQ(cc.dtype(), DType::float64);
  EXPECT_TRUE(values_equal(cc, stack({ir, fr}, 0)));

  const Array i8 = from_chunk(test::chunk_of<std::int8_t>(Ref(Shape{2, 23}, -3.0)), kRegular);
  const Array u8 = from_chunk(test::chunk_of<std::uint8_t>(Ref(Shape{2, 23}, 200.0)), kRegular);
  const Array m = concatenate({i8, u8}, 0);
  EXPECT_EQ(m.dtype(), DType::int16);
  EXPECT_TRUE(
      values_equal(m.compute(), stack({Ref(Shape{2, 23}, -3.0), Ref(Shape{2, 23}, 200.0)}, 0)));
}

TEST(Concatenate, SparseInputsGiveASparseResult) {
  const Array a = sparse_array(Shape{10, 23}, kRegular, 1);
  const Array b = sparse_array(Shape{7, 23}, kRegular, 2);
  const Array c = concatenate({a, b}, 0);
  EXPECT_TRUE(c.is_sparse());
  EXPECT_EQ(c.graph_stats().tasks, a.graph_stats().tasks + b.graph_stats().tasks);
  const Chunk cc = c.compute();
  EXPECT_TRUE(cc.is_sparse());
  EXPECT_TRUE(test::canonical_csr(cc));
  EXPECT_TRUE(
      values_equal(cc, stack({sparse_ref(Shape{10, 23}, 1), sparse_ref(Shape{7, 23}, 2)}, 0)));

  // Any sparse input makes the result sparse, misaligned too.
  const Array d = random(Shape{37, 4}, ChunkSpec(V{3, 1, 5, 10, 1, 17}, V{4}), 11);
  const Array s = sparse_array(Shape{37, 6}, kRegular, 3);
  const Array m = concatenate({d, s}, 1);
  EXPECT_TRUE(m.is_sparse());
  const Chunk mc = m.compute();
  EXPECT_TRUE(mc.is_sparse());
  EXPECT_TRUE(test::canonical_csr(mc));
  EXPECT_TRUE(values_equal(
      mc, stack({test::random_ref(11, Shape{37, 4}), sparse_ref(Shape{37, 6}, 3)}, 1)));
}

TEST(Concatenate, EdgeShapes) {
  const Array one = random(Shape{1, 1}, ChunkSpec(1, 1), 12);
  const Array two = random(Shape{1, 1}, ChunkSpec(1, 1), 13);
  EXPECT_TRUE(values_equal(concatenate({one, two}, 0).compute(),
                           Ref(Shape{2, 1}, {random_value(12, Shape{1, 1}, 0, 0),
                                             random_value(13, Shape{1, 1}, 0, 0)})));
  EXPECT_TRUE(values_equal(concatenate({one, two}, 1).compute(),
                           Ref(Shape{1, 2}, {random_value(12, Shape{1, 1}, 0, 0),
                                             random_value(13, Shape{1, 1}, 0, 0)})));
  // One-row chunks, and the same array twice.
  const Array rows = random(Shape{4, 23}, ChunkSpec(1, -1), 14);
  const Ref rr = test::random_ref(14, Shape{4, 23});
  EXPECT_TRUE(values_equal(concatenate({rows, rows}, 0).compute(), stack({rr, rr}, 0)));
  // An empty selection contributes nothing.
  const Array x = random(kShape, kRegular, 15);
  const Array empty = x(Selector::slice(3, 3));
  EXPECT_TRUE(values_equal(concatenate({empty, rows}, 0).compute(), rr));
}

TEST(Concatenate, IncompatibleShapesThrowShapeError) {
  const Array a = random(Shape{10, 23}, kRegular, 1);
  const Array b = random(Shape{7, 22}, kRegular, 2);
  TESSERA_EXPECT_THROW_MENTIONING((void)concatenate({a, b}, 0), ShapeError, "(10, 23)", "(7, 22)",
                                  "23", "22", "concat");
  const Array c = random(Shape{9, 23}, kRegular, 3);
  TESSERA_EXPECT_THROW_MENTIONING((void)concatenate({a, c}, 1), ShapeError, "(10, 23)", "(9, 23)",
                                  "10", "9", "concat");
  EXPECT_THROW((void)concatenate({}, 0), Error);
  EXPECT_THROW((void)concatenate({a, a}, 2), Error);
}

TEST(Rechunk, ValuesAreBitwiseUnchanged) {
  const Array x = random(kShape, kRegular, 16);
  const Chunk reference = x.compute();
  for (const ChunkSpec& spec : {kIrregular, ChunkSpec(1, -1), ChunkSpec(-1, 1), ChunkSpec(-1, -1),
                                ChunkSpec(7, 9), kRegular}) {
    const Array y = x.rechunk(spec);
    const ChunkGrid expected = spec.resolve(kShape, DType::float64);
    EXPECT_EQ(y.chunks().sizes(0), expected.sizes(0));
    EXPECT_EQ(y.chunks().sizes(1), expected.sizes(1));
    EXPECT_EQ(y.dtype(), DType::float64);
    EXPECT_TRUE(identical(y.compute(), reference)) << expected.to_string();
  }
  // Rechunk of a rechunk.
  EXPECT_TRUE(identical(x.rechunk(kIrregular).rechunk(ChunkSpec(6, 5)).compute(), reference));
}

TEST(Rechunk, SparseStaysSparse) {
  const Array x = sparse_array(kShape, kRegular, 4);
  const Ref xr = sparse_ref(kShape, 4);
  for (const ChunkSpec& spec : {kIrregular, ChunkSpec(1, -1), ChunkSpec(-1, -1)}) {
    const Array y = x.rechunk(spec);
    EXPECT_TRUE(y.is_sparse());
    const Chunk c = y.compute();
    EXPECT_TRUE(c.is_sparse());
    EXPECT_TRUE(test::canonical_csr(c));
    EXPECT_TRUE(values_equal(c, xr));
  }
}

TEST(Rechunk, BadSizesThrow) {
  const Array x = random(kShape, kRegular, 17);
  TESSERA_EXPECT_THROW_MENTIONING((void)x.rechunk(ChunkSpec(0, 3)), ValueError, "chunk", "size");
  TESSERA_EXPECT_THROW_MENTIONING((void)x.rechunk(ChunkSpec(-5, 3)), ValueError, "chunk", "size");
  TESSERA_EXPECT_THROW_MENTIONING((void)x.rechunk(ChunkSpec(V{3, 1}, V{23})), ShapeError, "chunk",
                                  "size", "sum", "37");
}

TEST(Transpose, DenseAndSparse) {
  const Array x = random(kShape, kIrregular, 18);
  const Array t = x.transpose();
  EXPECT_EQ(t.shape(), (Shape{23, 37}));
  EXPECT_EQ(t.chunks().sizes(0), x.chunks().sizes(1));
  EXPECT_EQ(t.chunks().sizes(1), x.chunks().sizes(0));
  EXPECT_TRUE(values_equal(t.compute(), transposed(test::random_ref(18, kShape))));
  EXPECT_TRUE(identical(t.transpose().compute(), x.compute()));

  const Array s = sparse_array(kShape, kRegular, 5);
  const Array st = s.transpose();
  EXPECT_TRUE(st.is_sparse());
  const Chunk sc = st.compute();
  EXPECT_TRUE(sc.is_sparse());
  EXPECT_TRUE(test::canonical_csr(sc));
  EXPECT_TRUE(values_equal(sc, transposed(sparse_ref(kShape, 5))));

  const Array i = arange(Shape{1, 1}, ChunkSpec(1, 1), DType::int16).transpose();
  EXPECT_EQ(i.dtype(), DType::int16);
  EXPECT_TRUE(values_equal(i.compute(), Ref(Shape{1, 1}, 0.0)));
  const Array rows = arange(kShape, ChunkSpec(1, -1)).transpose();
  EXPECT_TRUE(values_equal(rows.compute(), transposed(test::arange_ref(kShape))));
}

TEST(Astype, FollowsNumpyCasts) {
  const Array x = random(kShape, kRegular, 19);
  const Ref xr = test::random_ref(19, kShape);
  const Array i = ((x - 0.5) * 10.0).astype(DType::int32);
  EXPECT_EQ(i.dtype(), DType::int32);
  const Chunk ic = i.compute();
  EXPECT_EQ(ic.dtype(), DType::int32);
  EXPECT_TRUE(values_equal(ic, map_ref(xr, [](double v) { return std::trunc((v - 0.5) * 10.0); })));

  const Array f = arange(kShape, kIrregular).astype(DType::float32);
  EXPECT_EQ(f.dtype(), DType::float32);
  EXPECT_TRUE(values_equal(f.compute(), test::arange_ref(kShape)));

  const Array b = ((x - 0.5) * 4.0).astype(DType::int8).astype(DType::boolean);
  EXPECT_EQ(b.dtype(), DType::boolean);
  EXPECT_TRUE(values_equal(b.compute(), map_ref(xr, [](double v) {
                             return double(std::trunc((v - 0.5) * 4.0) != 0.0);
                           })));

  const Array s = sparse_array(kShape, kIrregular, 6).astype(DType::float32);
  EXPECT_TRUE(s.is_sparse());
  EXPECT_EQ(s.dtype(), DType::float32);
  EXPECT_TRUE(values_equal(s.compute(), map_ref(sparse_ref(kShape, 6), [](double v) {
                             return double(static_cast<float>(v));
                           })));
}

TEST(Layout, TodenseAndTocsr) {
  const Ref sr = sparse_ref(kShape, 7);
  const Array s = from_chunk(test::chunk_of(sr).to_csr(), kIrregular);
  const Array d = s.todense();
  EXPECT_FALSE(d.is_sparse());
  EXPECT_EQ(d.chunks().sizes(0), s.chunks().sizes(0));
  const Chunk dc = d.compute();
  EXPECT_EQ(dc.layout(), Layout::dense);
  EXPECT_TRUE(values_equal(dc, sr));

  index_t nonzero = 0;
  for (double v : sr.values)
    nonzero += v != 0.0 ? 1 : 0;
  const Array back = d.tocsr();
  EXPECT_TRUE(back.is_sparse());
  const Chunk bc = back.compute();
  EXPECT_TRUE(bc.is_sparse());
  EXPECT_TRUE(test::canonical_csr(bc));
  EXPECT_EQ(bc.nnz(), nonzero);
  EXPECT_TRUE(values_equal(bc, sr));

  // No-ops on the layout they already have.
  EXPECT_TRUE(s.tocsr().is_sparse());
  EXPECT_TRUE(values_equal(s.tocsr().compute(), sr));
  const Array x = random(kShape, kRegular, 20);
  EXPECT_FALSE(x.todense().is_sparse());
  EXPECT_TRUE(identical(x.todense().compute(), x.compute()));
  // Dense data without zeros stores every element.
  EXPECT_EQ(x.tocsr().compute().nnz(), kShape.size());
}

TEST(Structural, IdenticalForEveryThreadCount) {
  const Array a = random(Shape{10, 23}, kRegular, 21);
  const Array b = random_sparse(Shape{27, 23}, ChunkSpec(9, 5), 0.4, 22);
  const Array y =
      concatenate({a, b}, 0).rechunk(ChunkSpec(6, 7)).transpose().astype(DType::float32);
  LocalExecutor one(1);
  const Chunk reference = y.compute(one);
  EXPECT_TRUE(values_equal(
      reference, transposed(map_ref(
                     stack({test::random_ref(21, Shape{10, 23}), test::raw_values(b.compute())}, 0),
                     [](double v) { return double(static_cast<float>(v)); }))));
  for (int threads : {2, 4}) {
    LocalExecutor ex(threads);
    EXPECT_TRUE(identical(y.compute(ex), reference)) << threads;
  }
}

}  // namespace
}  // namespace tessera
