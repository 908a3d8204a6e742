#include "stream_writer.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <string>

#include "encodings/elements.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/collective.hpp"
#include "tessera/distributed/planner.hpp"

namespace tessera::io::detail {
namespace {

std::unique_ptr<Group> open_path(Group& root, const std::string& path) {
  std::unique_ptr<Group> g = root.group(path.substr(0, path.find('/')));
  if (const auto slash = path.find('/'); slash != std::string::npos)
    return g->group(path.substr(slash + 1));
  return g;
}

Group& parent_of(Group& root, const std::string& group, std::unique_ptr<Group>& holder) {
  if (group.empty()) return root;
  holder = open_path(root, group);
  return *holder;
}

// The number of values a CSR chunk stores, per chunk-row of its input (one 1×1 int64 chunk per
// chunk-row, computed next to the chunk-row): the counting pass of sparse writes. Only the counts
// travel; the chunks are freed as soon as they are counted.
class StoredCountNode final : public Node {
 public:
  explicit StoredCountNode(const NodePtr& x)
      : Node("count-stored", DType::int64, Layout::dense,
             ChunkGrid(std::vector<index_t>(static_cast<std::size_t>(x->grid().num_chunks(0)), 1),
                       {1}),
             {x}) {
    finish_fingerprint(Hasher());
  }
  void lower(Lowering& lw) const override {
    const ChunkGrid& in = inputs()[0]->grid();
    std::vector<TaskId> deps;
    for (index_t i = 0; i < in.num_chunks(0); ++i) {
      deps.clear();
      for (index_t j = 0; j < in.num_chunks(1); ++j)
        deps.push_back(lw.input_chunk(0, i, j));
      lw.add_chunk_task(i, 0, deps, Placement::with_first_dep);
    }
  }
  Chunk compute(const TaskKey&, std::span<const Chunk> deps) const override {
    index_t n = 0;
    for (const Chunk& c : deps)
      n += c.nnz();
    return Chunk::from_values<index_t>({1, 1}, {n});
  }
};

// Pieces of 1-D arrays held by given ranks, as chunks (0, p) of a (1, total) array: the edge
// pieces of zarr chunks shared by several ranks. Each rank has the data of its own pieces only;
// the planner runs piece p on its holder (a fixed owner, like a persisted array's chunk).
class HeldPiecesNode final : public Node {
 public:
  HeldPiecesNode(DType dtype, const std::vector<index_t>& lengths, std::vector<int> holders,
                 std::map<index_t, Chunk> mine, int rank)
      : Node("edge-pieces", dtype, Layout::dense, ChunkGrid({1}, lengths), {}),
        holders_(std::move(holders)),
        mine_(std::move(mine)),
        rank_(rank) {
    std::vector<index_t> h(holders_.begin(), holders_.end());
    finish_fingerprint(Hasher().add(lengths).add(h));
  }
  [[nodiscard]] int fixed_owner(index_t, index_t j) const override {
    return holders_[static_cast<std::size_t>(j)];
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk>) const override {
    const auto it = mine_.find(key.j);
    if (it == mine_.end()) {
      throw InternalError("rank " + std::to_string(rank_) + ": edge piece " +
                          std::to_string(key.j) + " is held by rank " +
                          std::to_string(holders_[static_cast<std::size_t>(key.j)]));
    }
    return it->second;
  }

 private:
  std::vector<int> holders_;
  std::map<index_t, Chunk> mine_;
  int rank_;
};

// Output chunk (0, c) is pieces [first[c], first[c + 1]) of the input joined in order, assembled
// where the first piece is held: one zarr chunk, whole, on the rank that writes it.
class JoinPiecesNode final : public Node {
 public:
  JoinPiecesNode(const NodePtr& pieces, const std::vector<index_t>& lengths,
                 std::vector<index_t> first)
      : Node("join-pieces", pieces->dtype(), Layout::dense, ChunkGrid({1}, lengths), {pieces}),
        first_(std::move(first)) {
    finish_fingerprint(Hasher().add(first_));
  }
  void lower(Lowering& lw) const override {
    std::vector<TaskId> deps;
    for (std::size_t c = 0; c + 1 < first_.size(); ++c) {
      deps.clear();
      for (index_t p = first_[c]; p < first_[c + 1]; ++p)
        deps.push_back(lw.input_chunk(0, 0, p));
      lw.add_chunk_task(0, static_cast<index_t>(c), deps, Placement::with_first_dep);
    }
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk> deps) const override {
    const DType dtype = this->dtype();
    Chunk out = Chunk::dense(dtype, grid().chunk_shape(0, key.j));
    std::byte* at = out.mutable_raw_row(0);
    for (const Chunk& d : deps) {
      const auto n = static_cast<std::size_t>(d.cols()) * itemsize(dtype);
      std::memcpy(at, d.raw_row(0), n);
      at += n;
    }
    return out;
  }

 private:
  std::vector<index_t> first_;
};

// A (1, n) chunk of `values` as `dtype` (a copy only when the dtype changes).
Chunk vector_of(std::vector<index_t> values, DType dtype) {
  const auto n = static_cast<index_t>(values.size());
  Chunk c = Chunk::from_values<index_t>({1, n}, std::move(values));
  return dtype == DType::int64 ? c : c.astype(dtype);
}

// The three 1-D parts of one chunk-row of a CSR matrix, as written: data and indices at the
// chunk-row's offset in the stored values, indptr at its first row (the last chunk-row also
// writes the end offset).
struct CsrParts {
  index_t offset = 0;     // into data/indices
  index_t first_row = 0;  // into indptr
  Chunk data;             // (1, nnz): a view of the chunk's values
  Chunk indices;          // (1, nnz) in the file's index dtype
  Chunk indptr;           // (1, rows [+ 1]) in the file's index dtype
};

CsrParts csr_parts(const Chunk& c, index_t offset, index_t first_row, bool last,
                   DType index_dtype) {
  CsrParts p;
  p.offset = offset;
  p.first_row = first_row;
  const auto ip = c.indptr();
  const index_t nnz = ip.back() - ip.front();
  p.data = Chunk::dense_view(c.dtype(), {1, nnz}, c.buffer(), ip.front(), nnz);
  p.indices = vector_of(std::vector<index_t>(c.indices() + ip.front(), c.indices() + ip.back()),
                        index_dtype);
  const index_t n = c.rows() + (last ? 1 : 0);
  std::vector<index_t> ptr(static_cast<std::size_t>(n));
  for (index_t k = 0; k < n; ++k)
    ptr[k] = ip[k] - ip.front() + offset;
  p.indptr = vector_of(std::move(ptr), index_dtype);
  return p;
}

// A 1-D array (data, indices or indptr of a sparse matrix) cut into chunks of `chunk` elements
// that must each be written whole by one rank (zarr). Pieces arrive in any order; a chunk is
// written as soon as this rank holds all of it. What is left at the end belongs to chunks other
// ranks hold pieces of, and goes to the exchange.
class VectorAssembler {
 public:
  VectorAssembler(std::string name, index_t length, index_t chunk)
      : name_(std::move(name)), length_(length), chunk_(chunk) {}

  template <typename Write>
  void add(index_t start, const Chunk& values, const Write& write) {
    const index_t n = values.cols();
    index_t at = 0;
    while (at < n) {
      const index_t pos = start + at;
      const index_t k = pos / chunk_;
      const index_t k_end = std::min((k + 1) * chunk_, length_);
      const index_t take = std::min(n - at, k_end - pos);
      const Chunk part = values.block(0, 1, at, at + take);
      if (take == k_end - k * chunk_) {
        write(Box{{k * chunk_}, {take}}, part);  // the whole chunk at once
      } else {
        auto& pending = pending_[k];
        pending.emplace(pos, part.deep_copy());  // a copy: the band's buffers are freed
        held_ += static_cast<std::size_t>(take) * itemsize(values.dtype());
        if ((covered_[k] += take) == k_end - k * chunk_) {
          write(Box{{k * chunk_}, {k_end - k * chunk_}}, join(k, k * chunk_, k_end));
          release(k);
        }
      }
      at += take;
    }
  }

  // The held values of [start, end) inside chunk k, joined (they must cover it exactly).
  Chunk join(index_t k, index_t start, index_t end) const {
    const auto it = pending_.find(k);
    TESSERA_ASSERT(it != pending_.end(), name_ + ": no pieces held for chunk " + std::to_string(k));
    std::optional<Chunk> out;
    index_t at = start;
    for (auto p = it->second.lower_bound(start); p != it->second.end() && p->first < end; ++p) {
      TESSERA_ASSERT(p->first == at, name_ + ": pieces of chunk " + std::to_string(k) +
                                         " leave a gap at " + std::to_string(at));
      if (!out) out = Chunk::dense(p->second.dtype(), {1, end - start});
      const auto item = static_cast<index_t>(itemsize(p->second.dtype()));
      std::memcpy(out->mutable_raw_row(0) + (at - start) * item, p->second.raw_row(0),
                  static_cast<std::size_t>(p->second.cols() * item));
      at += p->second.cols();
    }
    TESSERA_ASSERT(out && at == end, name_ + ": pieces of chunk " + std::to_string(k) +
                                         " do not reach " + std::to_string(end));
    return *out;
  }

  void release(index_t k) {
    const auto it = pending_.find(k);
    if (it == pending_.end()) return;
    for (const auto& [pos, c] : it->second)
      held_ -= static_cast<std::size_t>(c.cols()) * itemsize(c.dtype());
    pending_.erase(it);
    covered_.erase(k);
  }

  [[nodiscard]] std::size_t held() const { return held_; }
  [[nodiscard]] index_t chunk() const { return chunk_; }
  [[nodiscard]] index_t length() const { return length_; }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  std::string name_;
  index_t length_;
  index_t chunk_;
  std::map<index_t, std::map<index_t, Chunk>> pending_;  // chunk -> start -> values
  std::map<index_t, index_t> covered_;
  std::size_t held_ = 0;
};

// A run of a 1-D array written from one chunk-row: [start, end) on `holder`.
struct Run {
  index_t start;
  index_t end;
  int holder;
};

// The zarr chunks of a 1-D array that runs of several holders cover, with their pieces (runs cut
// at the chunk's edges, consecutive runs of one holder merged), in element order.
struct SharedChunks {
  std::vector<index_t> chunks;  // chunk numbers
  std::vector<index_t> first;   // pieces of chunk c: [first[c], first[c + 1])
  std::vector<Run> pieces;
};

SharedChunks shared_chunks(const std::vector<Run>& runs, index_t chunk) {
  // Only a chunk holding the edge of a run can be shared; gather the runs touching each.
  std::map<index_t, std::vector<Run>> touching;
  for (const Run& r : runs) {
    const index_t k0 = r.start / chunk, k1 = (r.end - 1) / chunk;
    const auto touch = [&](index_t k) {
      touching[k].push_back(
          {std::max(r.start, k * chunk), std::min(r.end, (k + 1) * chunk), r.holder});
    };
    touch(k0);
    if (k1 != k0) touch(k1);
  }
  SharedChunks out;
  out.first.push_back(0);
  for (auto& [k, list] : touching) {
    bool several = false;
    for (const Run& r : list)
      several = several || r.holder != list.front().holder;
    if (!several) continue;
    out.chunks.push_back(k);
    for (const Run& r : list) {
      if (out.pieces.size() > static_cast<std::size_t>(out.first.back()) &&
          out.pieces.back().holder == r.holder && out.pieces.back().end == r.start) {
        out.pieces.back().end = r.end;
      } else {
        out.pieces.push_back(r);
      }
    }
    out.first.push_back(static_cast<index_t>(out.pieces.size()));
  }
  return out;
}

// Rounds of collective writes: in round t every rank writes its t-th block (or none), so that
// each call writes one block per rank without packing copies.
std::size_t rounds_of(const OwnershipMap& map, int ranks) {
  std::vector<std::size_t> per_rank(static_cast<std::size_t>(ranks), 0);
  for (int owner : map.owners())
    ++per_rank[static_cast<std::size_t>(owner)];
  return *std::max_element(per_rank.begin(), per_rank.end());
}

Array select_band(const MatrixPlan& plan, const std::vector<index_t>& band) {
  const ChunkGrid& grid = plan.rows.chunks();
  if (static_cast<index_t>(band.size()) == grid.num_chunks(0)) return plan.rows;
  std::vector<index_t> positions;
  for (index_t i : band) {
    for (index_t r = grid.chunk_offset(0, i); r < grid.chunk_offset(0, i + 1); ++r)
      positions.push_back(r);
  }
  return plan.rows.select(0, Selector::take(std::move(positions)));
}

void report(const WriteOptions& options, StreamState& state, std::int64_t bytes) {
  state.done += bytes;
  ++state.stats.bands;
  if (options.progress) options.progress(state.done, state.total);
}

std::int64_t band_bytes(const MatrixPlan& plan, const std::vector<index_t>& band) {
  std::int64_t n = 0;
  for (index_t i : band)
    n += plan.row_bytes[static_cast<std::size_t>(i)];
  return n;
}

void write_dense(Group& parent, const MatrixPlan& plan, Context& ctx, const WriteOptions& options,
                 StreamState& state) {
  const auto bands = plan_bands(plan.row_owner, plan.row_bytes, ctx.size(), options.band_bytes);
  const ChunkGrid& grid = plan.rows.chunks();
  for (const auto& band : bands) {
    const Array held = ctx.persist(select_band(plan, band));
    std::vector<std::pair<Box, Chunk>> blocks;
    std::size_t bytes = 0;
    for (const auto& [ij, chunk] : Context::local_chunks(held)) {
      const index_t i = band[static_cast<std::size_t>(ij.first)];
      blocks.push_back({Box{{grid.chunk_offset(0, i), grid.chunk_offset(1, ij.second)},
                            {chunk.rows(), chunk.cols()}},
                        chunk});
      bytes += chunk.nbytes();
    }
    state.hold(bytes);
    const std::size_t rounds = rounds_of(*Context::ownership(held), ctx.size());
    on_all(ctx.comm(), "writing array data", [&] {
      // Zero-element arrays have nothing to write (and MPI-IO refuses empty collective writes).
      if (plan.shape.size() == 0) return;
      for (std::size_t t = 0; t < rounds; ++t) {
        std::vector<std::pair<Box, Chunk>> mine;
        if (t < blocks.size()) mine.push_back(blocks[t]);
        parent.write_blocks(plan.name, mine);
      }
      state.stats.bytes_written += bytes;
    });
    report(options, state, band_bytes(plan, band));
  }
}

// Sparse, storage merging partial chunks itself (HDF5): every band written collectively at the
// offsets of the counting pass.
void write_sparse_in_place(Group& g, const MatrixPlan& plan, Context& ctx,
                           const WriteOptions& options, StreamState& state) {
  const ChunkGrid& grid = plan.rows.chunks();
  const index_t n_rows = plan.rows.shape().rows;
  const DType index_dtype = csr_index_dtype(plan.shape, plan.total_nnz);
  std::vector<index_t> offset(plan.nnz.size() + 1, 0);
  std::partial_sum(plan.nnz.begin(), plan.nnz.end(), offset.begin() + 1);
  const auto bands = plan_bands(plan.row_owner, plan.row_bytes, ctx.size(), options.band_bytes);
  for (const auto& band : bands) {
    const Array held = ctx.persist(select_band(plan, band));
    std::vector<CsrParts> parts;
    std::size_t bytes = 0, written = 0;
    for (const auto& [ij, chunk] : Context::local_chunks(held)) {
      const index_t i = band[static_cast<std::size_t>(ij.first)];
      if (chunk.nnz() != plan.nnz[static_cast<std::size_t>(i)]) {
        throw InternalError(g.path() + ": chunk-row " + std::to_string(i) + " holds " +
                            std::to_string(chunk.nnz()) + " values but was counted with " +
                            std::to_string(plan.nnz[static_cast<std::size_t>(i)]));
      }
      const index_t first_row = grid.chunk_offset(0, i);
      parts.push_back(csr_parts(chunk, offset[static_cast<std::size_t>(i)], first_row,
                                first_row + chunk.rows() == n_rows, index_dtype));
      const CsrParts& p = parts.back();
      bytes += chunk.nbytes() + p.indices.nbytes() + p.indptr.nbytes();
      written += p.data.nbytes() + p.indices.nbytes() + p.indptr.nbytes();
    }
    state.hold(bytes);
    const std::size_t rounds = rounds_of(*Context::ownership(held), ctx.size());
    on_all(ctx.comm(), "writing sparse array data", [&] {
      for (std::size_t t = 0; t < rounds; ++t) {
        std::vector<std::pair<Box, Chunk>> data, indices, indptr;
        if (t < parts.size()) {
          const CsrParts& p = parts[t];
          if (p.data.cols() > 0) {
            data.push_back({Box{{p.offset}, {p.data.cols()}}, p.data});
            indices.push_back({Box{{p.offset}, {p.indices.cols()}}, p.indices});
          }
          if (p.indptr.cols() > 0)
            indptr.push_back({Box{{p.first_row}, {p.indptr.cols()}}, p.indptr});
        }
        // Zero-element datasets have nothing to write (MPI-IO refuses empty collective writes).
        if (plan.total_nnz > 0) {
          g.write_blocks("data", data);
          g.write_blocks("indices", indices);
        }
        g.write_blocks("indptr", indptr);
      }
      state.stats.bytes_written += written;
    });
    report(options, state, band_bytes(plan, band));
  }
}

// Sparse, each 1-D chunk written whole by one rank (zarr).
void write_sparse_whole_chunks(Group& g, const MatrixPlan& plan, Context& ctx,
                               const WriteOptions& options, StreamState& state) {
  const ChunkGrid& grid = plan.rows.chunks();
  const index_t n_rows = plan.rows.shape().rows;
  const index_t chunk_rows = grid.num_chunks(0);
  const DType index_dtype = csr_index_dtype(plan.shape, plan.total_nnz);
  std::vector<index_t> offset(plan.nnz.size() + 1, 0);
  std::partial_sum(plan.nnz.begin(), plan.nnz.end(), offset.begin() + 1);
  VectorAssembler data("data", plan.total_nnz, vector_chunk(plan.total_nnz, options.sparse_chunk));
  VectorAssembler indices("indices", plan.total_nnz,
                          vector_chunk(plan.total_nnz, options.sparse_chunk));
  VectorAssembler indptr("indptr", n_rows + 1, vector_chunk(n_rows + 1, options.sparse_chunk));
  const auto held_now = [&] { return data.held() + indices.held() + indptr.held(); };
  const auto writer = [&](const std::string& name) {
    return [&g, &state, name](const Box& box, const Chunk& values) {
      g.write(name, box, values);
      state.stats.bytes_written += values.nbytes();
    };
  };
  std::vector<int> holder(static_cast<std::size_t>(chunk_rows), -1);
  const auto bands = plan_bands(plan.row_owner, plan.row_bytes, ctx.size(), options.band_bytes);
  for (const auto& band : bands) {
    const Array held = ctx.persist(select_band(plan, band));
    const OwnershipMap& map = *Context::ownership(held);
    for (std::size_t k = 0; k < band.size(); ++k)
      holder[static_cast<std::size_t>(band[k])] = map.owner(static_cast<index_t>(k), 0);
    std::size_t bytes = 0;
    for (const auto& [ij, chunk] : Context::local_chunks(held))
      bytes += chunk.nbytes();
    on_all(ctx.comm(), "writing sparse array data", [&] {
      for (const auto& [ij, chunk] : Context::local_chunks(held)) {
        const index_t i = band[static_cast<std::size_t>(ij.first)];
        if (chunk.nnz() != plan.nnz[static_cast<std::size_t>(i)]) {
          throw InternalError(g.path() + ": chunk-row " + std::to_string(i) + " holds " +
                              std::to_string(chunk.nnz()) + " values but was counted with " +
                              std::to_string(plan.nnz[static_cast<std::size_t>(i)]));
        }
        const index_t first_row = grid.chunk_offset(0, i);
        const CsrParts p = csr_parts(chunk, offset[static_cast<std::size_t>(i)], first_row,
                                     first_row + chunk.rows() == n_rows, index_dtype);
        state.hold(bytes + held_now() + p.indices.nbytes() + p.indptr.nbytes());
        if (p.data.cols() > 0) {
          data.add(p.offset, p.data, writer("data"));
          indices.add(p.offset, p.indices, writer("indices"));
        }
        indptr.add(p.first_row, p.indptr, writer("indptr"));
      }
    });
    state.hold(held_now());
    report(options, state, band_bytes(plan, band));
  }

  // The chunks several ranks hold pieces of: one plan moves every piece to the holder of the
  // chunk's first piece, which writes the chunk. Every rank knows the layout (offsets, holders).
  for (VectorAssembler* v : {&data, &indices, &indptr}) {
    const bool pointers = v == &indptr;
    std::vector<Run> runs;
    for (index_t i = 0; i < chunk_rows; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const index_t start = pointers ? grid.chunk_offset(0, i) : offset[u];
      const index_t end = pointers
                              ? (i + 1 == chunk_rows ? n_rows + 1 : grid.chunk_offset(0, i + 1))
                              : offset[u + 1];
      if (end > start) runs.push_back({start, end, holder[u]});
    }
    const SharedChunks shared = shared_chunks(runs, v->chunk());
    if (shared.chunks.empty()) continue;
    std::vector<index_t> lengths;
    std::vector<int> holders;
    std::map<index_t, Chunk> mine;
    for (std::size_t p = 0; p < shared.pieces.size(); ++p) {
      lengths.push_back(shared.pieces[p].end - shared.pieces[p].start);
      holders.push_back(shared.pieces[p].holder);
    }
    for (std::size_t c = 0; c < shared.chunks.size(); ++c) {
      for (index_t p = shared.first[c]; p < shared.first[c + 1]; ++p) {
        const Run& r = shared.pieces[static_cast<std::size_t>(p)];
        if (r.holder == ctx.rank()) mine.emplace(p, v->join(shared.chunks[c], r.start, r.end));
      }
    }
    std::vector<index_t> chunk_lengths;
    for (index_t k : shared.chunks)
      chunk_lengths.push_back(std::min((k + 1) * v->chunk(), v->length()) - k * v->chunk());
    const DType dtype = pointers || v == &indices ? index_dtype : plan.dtype;
    auto pieces = std::make_shared<HeldPiecesNode>(dtype, lengths, std::move(holders),
                                                   std::move(mine), ctx.rank());
    for (index_t k : shared.chunks)
      v->release(k);
    const Array joined =
        ctx.persist(Array(std::make_shared<JoinPiecesNode>(pieces, chunk_lengths, shared.first)));
    pieces.reset();
    std::size_t bytes = 0;
    for (const auto& [ij, chunk] : Context::local_chunks(joined))
      bytes += chunk.nbytes();
    state.hold(bytes);
    on_all(ctx.comm(), "writing shared chunks of sparse array data", [&] {
      const auto write = writer(v->name());
      for (const auto& [ij, chunk] : Context::local_chunks(joined)) {
        const index_t k = shared.chunks[static_cast<std::size_t>(ij.second)];
        write(Box{{k * v->chunk()}, {chunk.cols()}}, chunk);
      }
    });
  }
  on_all(ctx.comm(), "checking sparse array data", [&] {
    TESSERA_ASSERT(held_now() == 0, g.path() + ": pieces of 1-D chunks were left unwritten");
  });
}

}  // namespace

std::optional<Array> csc_source(const Array& x) {
  const NodePtr& n = x.node();
  if (n->kind() == "transpose" && x.is_sparse() && n->inputs().size() == 1 &&
      n->inputs()[0]->layout() == Layout::csr) {
    return Array(n->inputs()[0]);
  }
  return std::nullopt;
}

std::vector<std::vector<index_t>> plan_bands(std::span<const int> row_owner,
                                             std::span<const index_t> row_bytes, int ranks,
                                             index_t band_bytes) {
  std::vector<std::vector<index_t>> mine(static_cast<std::size_t>(ranks));
  for (std::size_t i = 0; i < row_owner.size(); ++i)
    mine[static_cast<std::size_t>(row_owner[i])].push_back(static_cast<index_t>(i));
  std::vector<std::vector<index_t>> bands;
  for (const auto& rows : mine) {
    std::size_t band = 0;
    index_t bytes = 0;
    for (std::size_t n = 0; n < rows.size(); ++n) {
      const index_t b = row_bytes[static_cast<std::size_t>(rows[n])];
      if (n > 0 && bytes + b > band_bytes) {
        ++band;
        bytes = 0;
      }
      bytes += b;
      if (bands.size() <= band) bands.resize(band + 1);
      bands[band].push_back(rows[n]);
    }
  }
  for (auto& b : bands)
    std::sort(b.begin(), b.end());
  return bands;
}

std::vector<MatrixPlan> plan_matrices(const AnnData& a, Context& ctx, const WriteOptions& options) {
  std::vector<MatrixPlan> plans;
  const auto add = [&](const std::string& group, const std::string& name, const Array& array) {
    const Shape shape = array.shape();
    if (!array.is_sparse()) {
      Shape chunks = array.chunks().max_chunk_shape();
      if (options.chunks && (name == "X" || group == "layers")) {
        chunks = options.chunks->resolve(shape, array.dtype()).max_chunk_shape();
      }
      chunks = {std::max<index_t>(chunks.rows, 1), std::max<index_t>(chunks.cols, 1)};
      // Sharded (Zarr v3): the bands select whole shards, so each shard is computed, encoded and
      // written whole by the one rank that owns it.
      Shape shards{0, 0};
      if (options.zarr_format == 3 && options.shards && (name == "X" || group == "layers")) {
        // Sizes as asked, not clamped to the array: a shard (and its inner chunks) may be larger
        // than the array, as in zarr-python, the edge shards being padded with the fill value.
        const auto asked = [&](const ChunkSpec& spec, int axis, index_t resolved) {
          return spec.regular_size(axis).value_or(resolved);
        };
        shards = options.shards->resolve(shape, array.dtype()).max_chunk_shape();
        shards = {asked(*options.shards, 0, std::max<index_t>(shards.rows, 1)),
                  asked(*options.shards, 1, std::max<index_t>(shards.cols, 1))};
        if (options.chunks)
          chunks = {asked(*options.chunks, 0, chunks.rows), asked(*options.chunks, 1, chunks.cols)};
        // Inner chunks never larger than the shard; a shard holds whole inner chunks.
        chunks = {std::min(chunks.rows, shards.rows), std::min(chunks.cols, shards.cols)};
        if (shards.rows % chunks.rows != 0 || shards.cols % chunks.cols != 0) {
          throw ValueError((group.empty() ? name : group + "/" + name) + ": shards " +
                           to_string(shards) + " are not a multiple of the chunks " +
                           to_string(chunks));
        }
      }
      const Shape grid_chunks = shards.rows > 0 ? shards : chunks;
      const ChunkGrid want = ChunkGrid::regular(shape, grid_chunks.rows, grid_chunks.cols);
      MatrixPlan p(group, name, want == array.chunks() ? array : array.rechunk(want));
      p.file_chunks = grid_chunks;
      if (shards.rows > 0) p.inner_chunks = chunks;
      plans.push_back(std::move(p));
    } else {
      const std::optional<Array> csc = csc_source(array);
      const Array stored = csc ? *csc : array;
      const ChunkGrid& grid = stored.chunks();
      // Whole rows per chunk, so that a chunk-row is one contiguous run of stored values.
      const Array rows =
          grid.num_chunks(1) == 1
              ? stored
              : stored.rechunk(ChunkSpec(grid.sizes(0), std::vector<index_t>{stored.shape().cols}));
      MatrixPlan p(group, name, rows);
      p.encoding = csc ? MatrixEncoding::csc : MatrixEncoding::csr;
      plans.push_back(std::move(p));
    }
    MatrixPlan& p = plans.back();
    p.shape = shape;
    p.dtype = array.dtype();
  };
  if (a.X()) add("", "X", *a.X());
  const std::pair<const char*, const AlignedArrays*> maps[] = {{"layers", &a.layers()},
                                                               {"obsm", &a.obsm()},
                                                               {"varm", &a.varm()},
                                                               {"obsp", &a.obsp()},
                                                               {"varp", &a.varp()}};
  for (const auto& [group, m] : maps) {
    for (const auto& [k, v] : *m)
      add(group, k, v);
  }
  if (a.raw()) {
    if (a.raw()->X) add("raw", "X", *a.raw()->X);
    for (const auto& [k, v] : a.raw()->varm)
      add("raw/varm", k, v);
  }

  // The counting pass: stored values per chunk-row of every sparse array, in one collective.
  std::vector<Array> counts;
  for (const MatrixPlan& p : plans) {
    if (p.encoding != MatrixEncoding::dense)
      counts.emplace_back(std::make_shared<StoredCountNode>(p.rows.node()));
  }
  const std::vector<Chunk> counted = counts.empty() ? std::vector<Chunk>{} : ctx.compute(counts);
  std::size_t next = 0;
  for (MatrixPlan& p : plans) {
    const ChunkGrid& grid = p.rows.chunks();
    const index_t n = grid.num_chunks(0);
    const index_t item = static_cast<index_t>(itemsize(p.dtype));
    if (p.encoding != MatrixEncoding::dense) {
      const Chunk& c = counted.at(next++);
      for (index_t i = 0; i < n; ++i)
        p.nnz.push_back(c.row<index_t>(i)[0]);
      p.total_nnz = std::accumulate(p.nnz.begin(), p.nnz.end(), index_t{0});
    }
    for (index_t i = 0; i < n; ++i) {
      const index_t rows = grid.chunk_size(0, i);
      p.row_bytes.push_back(p.encoding == MatrixEncoding::dense
                                ? rows * p.rows.shape().cols * item
                                : p.nnz[static_cast<std::size_t>(i)] * (item + 8) + (rows + 1) * 8);
    }
    // Where each chunk-row is computed: the planner's placement of the chunk (i, 0), a pure
    // function of the graph, so every rank predicts the same owners without talking.
    if (ctx.size() == 1) {
      p.row_owner.assign(static_cast<std::size_t>(n), 0);
    } else {
      const NodePtr node = p.rows.node();
      const TaskGraph graph = TaskGraph::lower(std::span<const NodePtr>(&node, 1));
      const std::vector<TaskId> tasks = graph.chunk_tasks(graph.node_id(*node));
      const std::vector<int> placed = place_tasks(graph, tasks, ctx.size());
      const index_t cols = grid.num_chunks(1);
      for (index_t i = 0; i < n; ++i)
        p.row_owner.push_back(std::max(0, placed[static_cast<std::size_t>(tasks[i * cols])]));
    }
  }
  return plans;
}

void create_matrix(Group& root, const MatrixPlan& plan, const WriteOptions& options) {
  std::unique_ptr<Group> holder;
  Group& parent = parent_of(root, plan.group, holder);
  check_writable_name(parent, plan.name);
  if (plan.encoding == MatrixEncoding::dense) {
    if (plan.inner_chunks.rows > 0) {
      create_dense(parent, plan.name, plan.shape, plan.dtype, plan.inner_chunks,
                   options.compression.value_or(Compression{}), plan.file_chunks);
    } else {
      create_dense(parent, plan.name, plan.shape, plan.dtype, plan.file_chunks,
                   options.compression.value_or(Compression{}));
    }
  } else {
    create_csr(parent, plan.name, plan.shape, plan.dtype, plan.total_nnz,
               options.compression.value_or(Compression{}), plan.encoding == MatrixEncoding::csc,
               options.sparse_chunk);
  }
}

void write_matrix(Group& root, const MatrixPlan& plan, Context& ctx, const WriteOptions& options,
                  bool whole_chunks, StreamState& state) {
  if (options.band_bytes < 1) {
    throw ValueError("WriteOptions::band_bytes must be positive, got " +
                     std::to_string(options.band_bytes));
  }
  std::unique_ptr<Group> holder;
  Group& parent = parent_of(root, plan.group, holder);
  if (plan.encoding == MatrixEncoding::dense) {
    write_dense(parent, plan, ctx, options, state);
    return;
  }
  const std::unique_ptr<Group> g = parent.group(plan.name);
  if (whole_chunks) {
    write_sparse_whole_chunks(*g, plan, ctx, options, state);
  } else {
    write_sparse_in_place(*g, plan, ctx, options, state);
  }
}

}  // namespace tessera::io::detail
