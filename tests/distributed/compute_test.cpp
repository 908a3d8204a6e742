// Context::compute, persist and rebalance across the ranks of the test binary, checked bit for bit
// against Array::compute() (the local executor alone in one process, an independent path): random
// sources, element-wise chains and comparisons, reductions along each axis, concatenation,
// slices, index lists, masks, rechunk, transpose and rebalance, for dense and CSR inputs (sparse
// sources, and dense arrays converted with tocsr()); delivered to every rank or to one root; from
// lazy or persisted inputs; one array or several at once; with 1 or 3 threads per rank.
//
// Every rank runs the same collectives in the same order; conditions are agreed across ranks with
// all_ranks() and only then checked, so a failure on one rank can never leave another waiting.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "mpi_test.hpp"
#include "tessera/core/array.hpp"
#include "tessera/core/chunk.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/distributed/ownership_map.hpp"

namespace tessera {
namespace {

using testing::all_ranks;
using S = Selector;
using V = std::vector<index_t>;

constexpr Shape kShape{97, 61};
const ChunkSpec kChunks(10, 16);

// The inputs of every case: x (97 x 61), y (50 x 61, stacks under x) and z (97 x 30, beside x).
struct Inputs {
  Array x, y, z;
};

enum class Kind { dense, sparse, dense_tocsr };
constexpr Kind kKinds[] = {Kind::dense, Kind::sparse, Kind::dense_tocsr};

std::string kind_name(Kind k) {
  switch (k) {
    case Kind::dense:
      return "dense";
    case Kind::sparse:
      return "random_sparse";
    case Kind::dense_tocsr:
      return "dense.tocsr()";
  }
  return "?";
}

Array source(Kind kind, Shape shape, std::uint64_t seed) {
  switch (kind) {
    case Kind::dense:
      return random(shape, kChunks, seed);
    case Kind::sparse:
      return random_sparse(shape, kChunks, 0.2, seed);
    case Kind::dense_tocsr: {
      // About 20% non-zeros, then converted: CSR chunks produced by a task rather than a source.
      const Array r = random(shape, kChunks, seed);
      return (r * (r > 0.8)).tocsr();
    }
  }
  return random(shape, kChunks, seed);
}

Inputs lazy_inputs(Kind kind) {
  return {source(kind, kShape, 7), source(kind, {50, 61}, 8), source(kind, {97, 30}, 9)};
}

std::vector<bool> every_third_skipped(index_t n) {
  std::vector<bool> mask(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i)
    mask[static_cast<std::size_t>(i)] = i % 3 != 1;
  return mask;
}

struct Case {
  std::string name;
  std::function<Array(const Inputs&)> build;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"source", [](const Inputs& in) { return in.x; }},
      {"log1p(x*2.0)+x", [](const Inputs& in) { return log1p(in.x * 2.0) + in.x; }},
      {"sqrt(x)/3-x*x", [](const Inputs& in) { return sqrt(in.x) / 3.0 - in.x * in.x; }},
      {"x > 0.5", [](const Inputs& in) { return in.x > 0.5; }},
      {"x <= 0.25 (true at 0)", [](const Inputs& in) { return in.x <= 0.25; }},
      {"maximum(x, 0.5-x)", [](const Inputs& in) { return maximum(in.x, 0.5 - in.x); }},
      {"exp(-x)+1 (densifies)", [](const Inputs& in) { return exp(-in.x) + 1.0; }},
      {"astype float32", [](const Inputs& in) { return in.x.astype(DType::float32) * 3.0; }},
      {"sum(0)", [](const Inputs& in) { return in.x.sum(0); }},
      {"sum(1)", [](const Inputs& in) { return in.x.sum(1); }},
      {"sum()", [](const Inputs& in) { return in.x.sum(); }},
      {"mean(0)", [](const Inputs& in) { return in.x.mean(0); }},
      {"mean(1)", [](const Inputs& in) { return in.x.mean(1); }},
      {"mean()", [](const Inputs& in) { return in.x.mean(); }},
      {"min(0)", [](const Inputs& in) { return in.x.min(0); }},
      {"min(1)", [](const Inputs& in) { return in.x.min(1); }},
      {"max(0)", [](const Inputs& in) { return in.x.max(0); }},
      {"max(1)", [](const Inputs& in) { return in.x.max(1); }},
      {"count_nonzero(0)", [](const Inputs& in) { return in.x.count_nonzero(0); }},
      {"count_nonzero(1)", [](const Inputs& in) { return in.x.count_nonzero(1); }},
      {"count_nonzero()", [](const Inputs& in) { return in.x.count_nonzero(); }},
      {"concatenate rows (x, y)",
       [](const Inputs& in) {
         return concatenate({in.x, in.y}, 0);
       }},
      {"concatenate columns (x, z)",
       [](const Inputs& in) {
         return concatenate({in.x, in.z}, 1);
       }},
      {"concatenate (y, x, y) then sum(0)",
       [](const Inputs& in) {
         return concatenate({in.y, in.x, in.y}, 0).sum(0);
       }},
      {"concatenate misaligned chunks",
       [](const Inputs& in) {
         return concatenate({in.x, in.z.rechunk({13, 30})}, 1);
       }},
      {"slice rows 5:83:3", [](const Inputs& in) { return in.x(S::slice(5, 83, 3)); }},
      {"slice rows 45:55 (chunk boundary)",
       [](const Inputs& in) { return in.x(S::slice(45, 55)); }},
      {"slice ::-1, 60:0:-7",
       [](const Inputs& in) { return in.x(S::slice({}, {}, -1), S::slice(60, 0, -7)); }},
      {"slice -1:-50:-4, 3:41",
       [](const Inputs& in) { return in.x(S::slice(-1, -50, -4), S::slice(3, 41)); }},
      {"take rows unsorted with repeats",
       [](const Inputs& in) {
         return in.x(S::take({5, 96, 5, 0, 50, -1, 13, 13, 49, 50, 11, 77}));
       }},
      {"take both axes",
       [](const Inputs& in) {
         return in.x(S::take({60, 2, 2, 90, 31}), S::take({60, 0, 17, 17, 3, -2}));
       }},
      {"take nothing", [](const Inputs& in) { return in.x(S::take({})); }},
      {"mask rows", [](const Inputs& in) { return in.x(S::mask(every_third_skipped(97))); }},
      {"mask columns",
       [](const Inputs& in) { return in.x(S::all(), S::mask(every_third_skipped(61))); }},
      {"computed mask",
       [](const Inputs& in) {
         static const Chunk mask = (random({97, 1}, {10, 1}, 99) > 0.5).compute();
         return in.x(S::mask(mask));
       }},
      {"rechunk (7, 25)",
       [](const Inputs& in) {
         return in.x.rechunk({7, 25});
       }},
      {"rechunk whole rows",
       [](const Inputs& in) {
         return in.x.rechunk({97, 5});
       }},
      {"rechunk irregular",
       [](const Inputs& in) {
         return in.x.rechunk(ChunkSpec(V{3, 50, 44}, V{61}));
       }},
      {"transpose", [](const Inputs& in) { return in.x.transpose(); }},
      {"transpose then sum(1)", [](const Inputs& in) { return in.x.transpose().sum(1); }},
      {"chain: slice, log1p, mean(0)",
       [](const Inputs& in) { return (log1p(in.x(S::slice(3, 90, 2))) * 2.0).mean(0); }},
      {"todense and tocsr", [](const Inputs& in) { return in.x.todense() + in.x.tocsr() * 2.0; }},
  };
  return all;
}

// Runs every case of every input kind: `distributed` computes a case's array in the context
// (collective), `check` compares it with the one-process result. Both run on every rank.
void for_every_case(
    const std::function<Inputs(Kind)>& distributed_inputs,
    const std::function<bool(const Array& distributed, const Chunk& local, std::size_t n)>& check,
    const std::string& what) {
  for (const Kind kind : kKinds) {
    const Inputs lazy = lazy_inputs(kind);
    const Inputs dist = distributed_inputs(kind);
    for (std::size_t n = 0; n < cases().size(); ++n) {
      const Case& c = cases()[n];
      const Chunk local = c.build(lazy).compute();
      const bool ok = check(c.build(dist), local, n);
      EXPECT_TRUE(all_ranks(ok)) << what << ": " << c.name << " on " << kind_name(kind)
                                 << " inputs";
    }
  }
}

TEST(DistributedCompute, EveryGraphIsBitForBitTheOneProcessResult) {
  auto& ctx = testing::context();
  for_every_case([](Kind k) { return lazy_inputs(k); },
                 [&](const Array& e, const Chunk& local, std::size_t) {
                   return identical(ctx.compute(e), local);
                 },
                 "compute to every rank");
}

TEST(DistributedCompute, FromPersistedInputs) {
  auto& ctx = testing::context();
  for_every_case(
      [&](Kind k) {
        const Inputs in = lazy_inputs(k);
        return Inputs{ctx.persist(in.x), ctx.persist(in.y), ctx.persist(in.z)};
      },
      [&](const Array& e, const Chunk& local, std::size_t) {
        return identical(ctx.compute(e), local);
      },
      "compute from persisted inputs");
}

TEST(DistributedCompute, ToOneRoot) {
  auto& ctx = testing::context();
  // Root 0, and in turn the other ranks: the whole result there, an empty 0x0 chunk elsewhere.
  for_every_case([](Kind k) { return lazy_inputs(k); },
                 [&](const Array& e, const Chunk& local, std::size_t n) {
                   const int root = n % 2 == 0 ? 0 : static_cast<int>(n / 2) % ctx.size();
                   const Chunk got = ctx.compute(e, root);
                   if (ctx.rank() == root) return identical(got, local);
                   return got.shape() == Shape{0, 0};
                 },
                 "compute to one root");
}

TEST(DistributedCompute, PersistThenCompute) {
  auto& ctx = testing::context();
  for_every_case([](Kind k) { return lazy_inputs(k); },
                 [&](const Array& e, const Chunk& local, std::size_t) {
                   const Array p = ctx.persist(e);
                   const OwnershipMap* map = Context::ownership(p);
                   const bool map_ok = map != nullptr && map->ranks() == ctx.size() &&
                                       map->num_chunks(0) == e.chunks().num_chunks(0) &&
                                       map->num_chunks(1) == e.chunks().num_chunks(1);
                   const bool same_array = p.shape() == e.shape() && p.dtype() == e.dtype() &&
                                           p.layout() == e.layout() && p.chunks() == e.chunks();
                   return map_ok && same_array && identical(ctx.compute(p), local);
                 },
                 "persist then compute");
}

TEST(DistributedCompute, PersistedArrayIsNotOwnershipOfALazyArray) {
  const Array x = random(kShape, kChunks, 1);
  EXPECT_EQ(Context::ownership(x), nullptr);
  EXPECT_EQ(Context::ownership(x.sum(1)), nullptr);
}

TEST(DistributedCompute, PersistedSourcesUseTheDefaultMap) {
  auto& ctx = testing::context();
  const Array p = ctx.persist(random(kShape, kChunks, 1));
  const OwnershipMap* map = Context::ownership(p);
  EXPECT_TRUE(
      all_ranks(map != nullptr && *map == OwnershipMap::row_blocks(p.chunks(), ctx.size())));
}

TEST(DistributedCompute, SeveralArraysAtOnce) {
  auto& ctx = testing::context();
  for (const Kind kind : kKinds) {
    const Inputs in = lazy_inputs(kind);
    // Shared inputs, a repeated array, a persisted input and arrays of other shapes and layouts.
    const Array px = ctx.persist(in.x);
    const std::vector<Array> lazy = {in.x.sum(1),
                                     in.x,
                                     log1p(in.x),
                                     in.x.sum(1),
                                     in.y(S::take({3, 1, 3})),
                                     concatenate({in.x, in.z}, 1).max(0)};
    const std::vector<Array> dist = {px.sum(1),
                                     px,
                                     log1p(px),
                                     px.sum(1),
                                     in.y(S::take({3, 1, 3})),
                                     concatenate({px, in.z}, 1).max(0)};
    for (const int root : {-1, 0, ctx.size() - 1}) {
      const std::vector<Chunk> got = ctx.compute(dist, root);
      bool ok = got.size() == lazy.size();
      for (std::size_t n = 0; ok && n < lazy.size(); ++n) {
        if (root < 0 || ctx.rank() == root) {
          ok = identical(got[n], lazy[n].compute());
        } else {
          ok = got[n].shape() == Shape{0, 0};
        }
      }
      EXPECT_TRUE(all_ranks(ok)) << kind_name(kind) << ", root " << root;
    }
    const std::vector<Chunk> none = ctx.compute(std::vector<Array>{});
    EXPECT_TRUE(all_ranks(none.empty()));
  }
}

TEST(DistributedCompute, FewerChunksThanRanks) {
  // One chunk: every rank but its owner has nothing to compute and only receives.
  auto& ctx = testing::context();
  const Array one = full({2, 3}, 1.5, {2, 3}) * arange({2, 3}, {2, 3}).astype(DType::float64);
  bool ok = identical(ctx.compute(one), one.compute());
  const Chunk at_last = ctx.compute(one, ctx.size() - 1);
  ok = ok && (ctx.rank() == ctx.size() - 1 ? identical(at_last, one.compute())
                                           : at_last.shape() == Shape{0, 0});
  ok = ok && identical(ctx.compute(ctx.persist(one).sum(0)), one.sum(0).compute());
  EXPECT_TRUE(all_ranks(ok));
}

TEST(DistributedCompute, IntegerAndBooleanDtypes) {
  auto& ctx = testing::context();
  const Array a = arange(kShape, kChunks);
  const std::vector<Array> arrays = {
      a,         a.sum(0), a(S::slice(90, 3, -3)) * 2.0, a > 3000,
      a.mean(0), a.min(1), (a > 3000).count_nonzero(1),  a.astype(DType::int32).max(1)};
  bool ok = true;
  for (const Array& e : arrays)
    ok = identical(ctx.compute(e), e.compute()) && ok;
  EXPECT_TRUE(all_ranks(ok));
}

TEST(DistributedCompute, Rebalance) {
  auto& ctx = testing::context();
  for (const Kind kind : kKinds) {
    const Inputs in = lazy_inputs(kind);
    const Array px = ctx.persist(in.x);
    const Array py = ctx.persist(in.y);
    // Arrays whose chunks are not where the default map puts them.
    const std::vector<std::pair<Array, Array>> pairs = {
        {concatenate({py, px}, 0), concatenate({in.y, in.x}, 0)},
        {px(S::slice(45, 55)), in.x(S::slice(45, 55))},
        {px.transpose(), in.x.transpose()},
        {px(S::take({95, 3, 50, 4})), in.x(S::take({95, 3, 50, 4}))},
        {log1p(px) * 2.0, log1p(in.x) * 2.0},
    };
    for (std::size_t n = 0; n < pairs.size(); ++n) {
      const Array r = ctx.rebalance(pairs[n].first);
      const OwnershipMap* map = Context::ownership(r);
      const bool map_ok =
          map != nullptr && *map == OwnershipMap::row_blocks(r.chunks(), ctx.size());
      const Chunk got = ctx.compute(r);
      const bool values_ok = identical(got, pairs[n].second.compute());
      // A rebalanced array is an ordinary persisted array: compute from it, rebalance it again.
      const Array again = ctx.rebalance(r.sum(1));
      const bool again_ok = identical(ctx.compute(again), pairs[n].second.sum(1).compute());
      EXPECT_TRUE(all_ranks(map_ok))
          << kind_name(kind) << " case " << n << ": map is not row blocks";
      EXPECT_TRUE(all_ranks(values_ok && again_ok)) << kind_name(kind) << " case " << n;
    }
  }
}

TEST(DistributedCompute, ThreadCountDoesNotChangeResults) {
  // Extra contexts on Comm::world() beside the binary's own: MPI is initialized already.
  Context one(Comm::world(), 1);
  Context three(Comm::world(), 3);
  EXPECT_EQ(one.threads(), 1);
  EXPECT_EQ(three.threads(), 3);
  EXPECT_EQ(one.size(), testing::context().size());
  EXPECT_EQ(three.rank(), testing::context().rank());
  for (const Kind kind : kKinds) {
    const Inputs in = lazy_inputs(kind);
    const Array p1 = one.persist(in.x);
    const Array p3 = three.persist(in.x);
    for (const Case& c : cases()) {
      if (!c.name.starts_with("log1p") && !c.name.starts_with("sum") &&
          !c.name.starts_with("mean") && !c.name.starts_with("concatenate rows") &&
          !c.name.starts_with("slice") && !c.name.starts_with("take") &&
          !c.name.starts_with("rechunk (") && !c.name.starts_with("transpose")) {
        continue;
      }
      const Chunk local = c.build(in).compute();
      const Chunk a = one.compute(c.build(in));
      const Chunk b = three.compute(c.build(in));
      const Chunk pa = one.compute(c.build({p1, in.y, in.z}));
      const Chunk pb = three.compute(c.build({p3, in.y, in.z}), 0);
      const bool ok = identical(a, local) && identical(b, local) && identical(pa, local) &&
                      (three.rank() == 0 ? identical(pb, local) : pb.shape() == Shape{0, 0});
      EXPECT_TRUE(all_ranks(ok)) << c.name << " on " << kind_name(kind) << " inputs";
    }
  }
}

}  // namespace
}  // namespace tessera
