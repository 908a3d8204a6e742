// analysis/ across ranks: top_n_sums and divide_rows against naive loops on dense and CSR arrays
// cut into several row and column chunks (negative values and empty rows included), and
// calculate_qc_metrics, filter and normalize_total computed with the test's Context (1-4 ranks)
// equal to the same calls on a one-process Context, bit for bit, and to naive formulas. Results
// are agreed across ranks with all_ranks() before any assertion.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "mpi_test.hpp"
#include "tessera/analysis/filter.hpp"
#include "tessera/analysis/hvg.hpp"
#include "tessera/analysis/normalize.hpp"
#include "tessera/analysis/qc.hpp"
#include "tessera/analysis/row_ops.hpp"
#include "tessera/distributed/context.hpp"

namespace tessera {
namespace {

using testing::all_ranks;
using testing::context;

constexpr Shape kShape{23, 17};

// Counts-like values: integers 0..9 with about 60% zeros, rows 0 and 5 empty, column 3 empty.
double count_at(index_t r, index_t c) {
  if (r == 0 || r == 5 || c == 3) return 0;
  const auto h = static_cast<std::uint64_t>((r * 7919 + c * 104729 + 17) % 1009);
  return h % 10 < 6 ? 0.0 : static_cast<double>(h % 10);
}

Chunk dense_counts(DType dtype, const std::function<double(index_t, index_t)>& f) {
  std::vector<double> v;
  for (index_t r = 0; r < kShape.rows; ++r)
    for (index_t c = 0; c < kShape.cols; ++c)
      v.push_back(f(r, c));
  return Chunk::from_values<double>(kShape, v).astype(dtype);
}

Array make(bool sparse, DType dtype, const std::function<double(index_t, index_t)>& f) {
  const Chunk d = dense_counts(dtype, f);
  return from_chunk(sparse ? d.to_csr() : d, ChunkSpec(5, 6));
}

std::vector<double> row_of(const Chunk& m, index_t r) {
  std::vector<double> out;
  for (index_t c = 0; c < m.cols(); ++c)
    out.push_back(m.value_at(r, c));
  return out;
}

AnnData object(bool sparse, DType dtype);

Context& one_process() {
  static Context serial(Comm::serial(), 1);
  return serial;
}

TEST(TopNSums, MatchesSortedPrefixSumsOnDenseAndCsr) {
  const auto signed_values = [](index_t r, index_t c) {
    return c % 4 == 1 ? -count_at(r, c) : count_at(r, c);  // negatives below the zeros
  };
  for (const bool sparse : {false, true}) {
    const Array x = make(sparse, DType::float32, signed_values);
    const std::vector<index_t> ns{1, 3, 7, 17};
    const Array top = analysis::top_n_sums(x, ns);
    const Chunk got = context().compute(top);
    const Chunk local = top.compute();
    const Chunk full = x.compute().to_dense();
    bool ok = identical(got, local) && got.dtype() == DType::float64 &&
              got.shape() == Shape{kShape.rows, 4};
    for (index_t r = 0; r < kShape.rows && ok; ++r) {
      std::vector<double> v = row_of(full, r);
      std::sort(v.begin(), v.end(), std::greater<>());
      for (std::size_t k = 0; k < ns.size(); ++k) {
        double s = 0;
        for (index_t i = 0; i < ns[k]; ++i)
          s += v[static_cast<std::size_t>(i)];
        ok = ok && got.value_at(r, static_cast<index_t>(k)) == s;
      }
    }
    EXPECT_TRUE(all_ranks(ok)) << (sparse ? "csr" : "dense");
  }
}

TEST(TopNSums, RefusesPositionsOutsideTheFeatures) {
  const Array x = make(true, DType::float32, count_at);
  EXPECT_THROW((void)analysis::top_n_sums(x, {0, 3}), ValueError);
  EXPECT_THROW((void)analysis::top_n_sums(x, {3, 18}), ValueError);
  EXPECT_THROW((void)analysis::top_n_sums(x, {5, 3}), ValueError);
}

TEST(DivideRows, DividesEachRowInTheResultDtype) {
  std::vector<float> d;
  for (index_t r = 0; r < kShape.rows; ++r)
    d.push_back(0.5F + static_cast<float>(r));
  const Chunk divisors = Chunk::from_values<float>({kShape.rows, 1}, d);
  for (const bool sparse : {false, true}) {
    const Array x = make(sparse, DType::int32, count_at);
    const Array y = analysis::divide_rows(x, divisors, DType::float32);
    const Chunk got = context().compute(y);
    bool ok =
        got.is_sparse() == sparse && got.dtype() == DType::float32 && identical(got, y.compute());
    for (index_t r = 0; r < kShape.rows && ok; ++r) {
      for (index_t c = 0; c < kShape.cols; ++c) {
        const float want = static_cast<float>(count_at(r, c)) / d[static_cast<std::size_t>(r)];
        ok = ok && static_cast<float>(got.value_at(r, c)) == want;
      }
    }
    EXPECT_TRUE(all_ranks(ok)) << (sparse ? "csr" : "dense");
  }
}

AnnData object(bool sparse, DType dtype) {
  std::vector<std::string> obs, var;
  for (index_t r = 0; r < kShape.rows; ++r)
    obs.push_back("cell" + std::to_string(r));
  for (index_t c = 0; c < kShape.cols; ++c)
    var.push_back(c < 4 ? "MT-" + std::to_string(c) : "G" + std::to_string(c));
  return AnnData(make(sparse, dtype, count_at), DataFrame(obs, "obs"), DataFrame(var, "var"));
}

bool same_frames(const DataFrame& a, const DataFrame& b) {
  if (a.columns().keys() != b.columns().keys() || a.index() != b.index()) return false;
  for (const auto& [k, col] : a.columns()) {
    if (!identical(col.values(), b[k].values())) return false;
  }
  return true;
}

// A source whose chunk tasks count how often they run: a stand-in for a file read.
class CountingSource final : public Node {
 public:
  CountingSource(Chunk data, const ChunkGrid& grid, std::atomic<std::int64_t>& reads)
      : Node("counting-source", data.dtype(), data.layout(), grid, {}),
        data_(std::move(data)),
        reads_(reads) {
    finish_fingerprint(Hasher());
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk>) const override {
    ++reads_;
    const ChunkGrid& g = grid();
    const index_t r0 = g.chunk_offset(0, key.i), c0 = g.chunk_offset(1, key.j);
    return data_.block(r0, r0 + g.chunk_size(0, key.i), c0, c0 + g.chunk_size(1, key.j));
  }

 private:
  Chunk data_;
  std::atomic<std::int64_t>& reads_;
};

TEST(QcMetrics, ReadsEachChunkOnceForEveryMetric) {
  for (const bool sparse : {false, true}) {
    std::atomic<std::int64_t> reads{0};
    const Chunk d = dense_counts(DType::float32, count_at);
    const ChunkGrid grid = ChunkGrid::regular(kShape, 4, 6);
    AnnData a(Array(std::make_shared<CountingSource>(sparse ? d.to_csr() : d, grid, reads)),
              DataFrame(object(false, DType::float32).obs_names(), "obs"),
              DataFrame(object(false, DType::float32).var_names(), "var"));
    analysis::mark_var_prefix(a, "mt", "MT-");
    analysis::QcOptions options;
    options.qc_vars = {"mt"};
    options.percent_top = {5, 10};
    analysis::calculate_qc_metrics(a, context(), options);
    const std::int64_t total = context().comm().all_reduce_sum(reads.load(), "counting reads");
    EXPECT_TRUE(all_ranks(total == grid.num_chunks()))
        << total << " reads of " << grid.num_chunks() << " chunks";
  }
}

TEST(QcMetrics, SameBitsAtAnyRankCountAndNaiveValues) {
  for (const bool sparse : {false, true}) {
    for (const DType dtype : {DType::float32, DType::int32}) {
      AnnData a = object(sparse, dtype);
      analysis::mark_var_prefix(a, "mt", "MT-");
      AnnData b = a;
      analysis::QcOptions options;
      options.qc_vars = {"mt"};
      options.percent_top = {10, 2};
      analysis::calculate_qc_metrics(a, context(), options);
      analysis::calculate_qc_metrics(b, one_process(), options);
      bool ok = same_frames(a.obs(), b.obs()) && same_frames(a.var(), b.var());
      const Column& n = a.obs()["n_genes_by_counts"];
      ok = ok && n.dtype() == (sparse ? DType::int32 : DType::int64);
      const DType sum = dtype == DType::float32 ? DType::float32 : DType::int64;
      ok = ok && a.obs()["total_counts"].dtype() == sum &&
           a.var()["mean_counts"].dtype() ==
               (dtype == DType::float32 ? DType::float32 : DType::float64);
      for (index_t r = 0; r < kShape.rows && ok; ++r) {
        double total = 0, mt = 0;
        index_t nz = 0;
        for (index_t c = 0; c < kShape.cols; ++c) {
          total += count_at(r, c);
          mt += c < 4 ? count_at(r, c) : 0;
          nz += count_at(r, c) != 0 ? 1 : 0;
        }
        ok = ok && n.number_at(r) == static_cast<double>(nz) &&
             a.obs()["total_counts"].number_at(r) == total &&
             a.obs()["total_counts_mt"].number_at(r) == mt;
        const double pct = a.obs()["pct_counts_mt"].number_at(r);
        ok = ok && (total == 0 ? std::isnan(pct) : std::abs(pct - mt / total * 100) < 1e-4);
      }
      EXPECT_TRUE(all_ranks(ok)) << (sparse ? "csr " : "dense ") << name(dtype);
    }
  }
}

TEST(Filter, KeepsWhatScanpyKeepsWithTheSameBits) {
  for (const bool sparse : {false, true}) {
    AnnData a = object(sparse, DType::float32);
    analysis::mark_var_prefix(a, "mt", "MT-");
    analysis::FilterOptions options;
    options.min_genes = 3;
    options.max_counts = 45;
    options.max_pct = {{"mt", 40.0}};
    options.min_cells = 2;
    const AnnData got = analysis::filter(a, context(), options);
    const AnnData ref = analysis::filter(a, one_process(), options);
    bool ok = same_frames(got.obs(), ref.obs()) && same_frames(got.var(), ref.var()) &&
              identical(context().compute(*got.X()), ref.X()->compute());
    std::vector<std::string> cells;
    std::vector<bool> kept(static_cast<std::size_t>(kShape.rows));
    for (index_t r = 0; r < kShape.rows; ++r) {
      double total = 0, mt = 0;
      index_t nz = 0;
      for (index_t c = 0; c < kShape.cols; ++c) {
        total += count_at(r, c);
        mt += c < 4 ? count_at(r, c) : 0;
        nz += count_at(r, c) > 0 ? 1 : 0;
      }
      const float pct = static_cast<float>(mt) / static_cast<float>(total) * 100.0F;
      kept[static_cast<std::size_t>(r)] = nz >= 3 && total <= 45 && pct <= 40.0F;
      if (kept[static_cast<std::size_t>(r)]) cells.push_back("cell" + std::to_string(r));
    }
    std::vector<std::string> genes;
    for (index_t c = 0; c < kShape.cols; ++c) {
      index_t n = 0;
      for (index_t r = 0; r < kShape.rows; ++r)
        n += kept[static_cast<std::size_t>(r)] && count_at(r, c) > 0 ? 1 : 0;
      if (n >= 2) genes.push_back(a.var_names()[static_cast<std::size_t>(c)]);
    }
    ok = ok && got.obs_names() == cells && got.var_names() == genes &&
         got.obs()["n_genes"].dtype() == DType::int64 &&
         got.var()["n_cells"].dtype() == DType::int64 && cells.size() < 23 && genes.size() < 17;
    EXPECT_TRUE(all_ranks(ok)) << (sparse ? "csr" : "dense");
  }
}

TEST(NormalizeTotal, MedianTargetAndSameBits) {
  for (const bool sparse : {false, true}) {
    AnnData a = object(sparse, DType::int32);
    AnnData b = a;
    analysis::NormalizeOptions options;
    options.log1p = true;
    options.keep_counts = "counts";
    const auto stats = analysis::normalize_total(a, context(), options);
    (void)analysis::normalize_total(b, one_process(), options);
    const Chunk got = context().compute(*a.X());
    bool ok = identical(got, b.X()->compute()) && got.dtype() == DType::float32 &&
              got.is_sparse() == sparse && a.layers().contains("counts") &&
              a.uns().contains("log1p");
    std::vector<float> totals;
    for (index_t r = 0; r < kShape.rows; ++r) {
      float t = 0;
      for (index_t c = 0; c < kShape.cols; ++c)
        t += static_cast<float>(count_at(r, c));
      totals.push_back(t);
    }
    std::vector<float> positive;
    for (const float t : totals)
      if (t > 0) positive.push_back(t);
    std::sort(positive.begin(), positive.end());
    const std::size_t m = positive.size() / 2;
    const float median =
        positive.size() % 2 == 1 ? positive[m] : (positive[m - 1] + positive[m]) / 2.0F;
    ok = ok && stats.target_sum == static_cast<double>(median) && stats.zero_cells == 2;
    for (index_t r = 0; r < kShape.rows && ok; ++r) {
      float scale = totals[static_cast<std::size_t>(r)] / median;
      scale = scale == 0 ? 1 : scale;
      for (index_t c = 0; c < kShape.cols; ++c) {
        const float want = std::log1p(static_cast<float>(count_at(r, c)) / scale);
        ok = ok && std::abs(static_cast<float>(got.value_at(r, c)) - want) <= 1e-6F * (1 + want);
      }
    }
    EXPECT_TRUE(all_ranks(ok)) << (sparse ? "csr" : "dense");
  }
}

// Three batches, every third cell, as a categorical obs column.
Column batches(index_t n) {
  std::vector<std::optional<std::string>> v;
  for (index_t r = 0; r < n; ++r)
    v.emplace_back(std::string(1, static_cast<char>('a' + r % 3)));
  return Column::categorical(v);
}

TEST(HighlyVariableGenes, ReadsEachChunkOnceWithBatches) {
  for (const bool sparse : {false, true}) {
    std::atomic<std::int64_t> reads{0};
    const Chunk d = dense_counts(DType::float32, count_at);
    const ChunkGrid grid = ChunkGrid::regular(kShape, 4, 6);
    const AnnData like = object(false, DType::float32);
    AnnData a(Array(std::make_shared<CountingSource>(sparse ? d.to_csr() : d, grid, reads)),
              DataFrame(like.obs_names(), "obs"), DataFrame(like.var_names(), "var"));
    a.obs().set("batch", batches(kShape.rows));
    analysis::HvgOptions options;
    options.n_top_genes = 5;
    options.batch_key = "batch";
    options.n_bins = 4;
    analysis::highly_variable_genes(a, context(), options);
    const std::int64_t total = context().comm().all_reduce_sum(reads.load(), "counting reads");
    EXPECT_TRUE(all_ranks(total == grid.num_chunks()))
        << total << " reads of " << grid.num_chunks() << " chunks";
  }
}

TEST(HighlyVariableGenes, SameBitsAtAnyRankCountAndNaiveMeans) {
  for (const bool sparse : {false, true}) {
    for (const auto flavor : {analysis::HvgFlavor::seurat, analysis::HvgFlavor::cell_ranger}) {
      for (const bool batched : {false, true}) {
        // Values spread per gene and cell, so that no two genes share a mean (cell_ranger's
        // percentile edges must differ).
        AnnData a = object(sparse, DType::float32);
        a.set_X(log1p(make(sparse, DType::float32, [](index_t r, index_t c) {
          const double v = count_at(r, c);
          return v == 0 ? 0.0 : v + 0.1 * static_cast<double>(c) + 0.01 * static_cast<double>(r);
        })));
        a.obs().set("batch", batches(kShape.rows));
        AnnData b = a;
        analysis::HvgOptions options;
        options.flavor = flavor;
        options.n_top_genes = 6;
        options.n_bins = 5;
        if (batched) options.batch_key = "batch";
        const analysis::HvgStats got = analysis::highly_variable_genes(a, context(), options);
        analysis::highly_variable_genes(b, one_process(), options);
        bool ok = same_frames(a.var(), b.var()) && got.selected >= 6 &&
                  a.var()["dispersions_norm"].dtype() == DType::float32 &&
                  a.var()["means"].dtype() == DType::float64;
        if (!batched) {
          // The means: log1p(mean(expm1(x))) for seurat, mean(x) for cell_ranger; all-zero
          // genes get scanpy's 1e-12.
          const Chunk x = a.X()->compute().to_dense();
          for (index_t c = 0; c < kShape.cols && ok; ++c) {
            double sum = 0;
            for (index_t r = 0; r < kShape.rows; ++r) {
              const auto v = static_cast<float>(x.value_at(r, c));
              sum += flavor == analysis::HvgFlavor::seurat ? static_cast<double>(std::expm1(v))
                                                           : static_cast<double>(v);
            }
            double mean = sum / static_cast<double>(kShape.rows);
            if (mean == 0) mean = 1e-12;
            if (flavor == analysis::HvgFlavor::seurat) mean = std::log1p(mean);
            const double m = a.var()["means"].number_at(c);
            ok = ok && std::abs(m - mean) <= 1e-12 * std::abs(mean);
          }
        }
        EXPECT_TRUE(all_ranks(ok))
            << (sparse ? "csr " : "dense ")
            << (flavor == analysis::HvgFlavor::seurat ? "seurat" : "cell_ranger")
            << (batched ? " batched" : "");
      }
    }
  }
}

}  // namespace
}  // namespace tessera
