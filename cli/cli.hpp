// The pieces the `tessera` subcommands share: argument parsing helpers, the progress line on
// stderr, and text output that appears at its path only when complete. Every function here is
// called on every rank; output goes to stdout/stderr/files from rank 0 only.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tessera/anndata/anndata.hpp"
#include "tessera/core/chunk_grid.hpp"
#include "tessera/distributed/collective.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/io/anndata_io.hpp"

namespace tessera::cli {

// "R" or "R,C" with positive whole numbers (or -1: the whole axis). ValueError otherwise.
ChunkSpec parse_chunks(const std::string& text, const std::string& option = "--chunks");
// "a,b,c" -> {"a", "b", "c"}; an empty text gives no items.
std::vector<std::string> split_list(const std::string& text);

// Progress of long work on stderr, from rank 0 only: "convert  1.2 GiB / 4.0 GiB  31%  350 MiB/s
// 0:07 left". On a terminal one line is redrawn in place; otherwise (with --progress into a file
// or pipe) a line is printed at most every few seconds. Disabled: every call does nothing.
class Progress {
 public:
  Progress() = default;
  Progress(bool enabled, int rank);
  // Starts a new piece of work of `total` bytes (any unit that grows linearly with the work).
  void start(std::string what, std::int64_t total);
  void update(std::int64_t done);
  // Ends the current piece with a final line.
  void finish();
  [[nodiscard]] bool enabled() const { return enabled_; }
  // The callback form the writers take.
  [[nodiscard]] std::function<void(std::int64_t, std::int64_t)> callback();

 private:
  void draw(bool final);

  bool enabled_ = false;
  bool terminal_ = false;
  std::string what_;
  std::int64_t total_ = 0;
  std::int64_t done_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point drawn_;
};

// Writes `text` to `path` on rank 0 through a temporary sibling renamed into place, so a failure
// leaves nothing at `path`; "-" is stdout. Collective: every rank learns whether it worked.
void write_text(Context& ctx, const std::string& path, const std::string& text);

// The array a subcommand works on: X, or layers[layer]; ValueError naming what exists otherwise.
Array pick_array(const AnnData& a, const std::string& path, const std::string& layer);

// How inputs are read, the same for every subcommand that reads files.
struct ReadArgs {
  std::string genome;         // Cell Ranger files with several genomes: the one to read
  bool skip_unknown = false;  // drop elements of unknown encodings (a warning each) and go on
  bool all_features = false;  // Cell Ranger >= 3: keep every feature type, not only gene expression
  index_t chunk_bytes = 0;    // lazy chunk size target where the file has none (0: the default)
};
// The reader's options for these arguments; warnings go to stderr from rank 0 only.
io::ReadOptions read_options(const ReadArgs& args, const Context& ctx);

// How outputs are written, the same for every subcommand that writes files.
struct WriteArgs {
  std::string chunks;      // --chunks R[,C] of X, raw.X and layers ("": their own)
  std::string compressor;  // --compressor ("": the format's default, see io::WriteOptions)
  int zarr_format = 2;     // --zarr-format 2|3 of .zarr and .zarr.zip outputs
  std::string shards;      // --shards R[,C] (Zarr v3): shards of dense X, raw.X and layers
  bool consolidated = true;
};
// The writer's options for these arguments (ValueError for a bad --chunks/--shards, or --shards
// without --zarr-format 3).
io::WriteOptions write_options(const WriteArgs& args, Progress& progress);

// The subcommands. Each runs on every rank; results are printed by rank 0.
struct InfoArgs {
  std::string path;
  ReadArgs read;
};
void info(const InfoArgs& args, Context& ctx);

struct ConvertArgs {
  std::string in, out;
  ReadArgs read;
  WriteArgs write;
};
void convert(const ConvertArgs& args, Context& ctx, Progress& progress);

struct ConcatArgs {
  std::vector<std::string> inputs;
  std::string out, join = "inner", merge = "none";
  std::optional<std::string> index_unique, label;
  std::string keys;
  ReadArgs read;
  WriteArgs write;
};
void concat(const ConcatArgs& args, Context& ctx, Progress& progress);

struct ReduceArgs {
  std::string path, op = "sum", layer, out = "-";
  int axis = 1;
  ReadArgs read;
};
void reduce(const ReduceArgs& args, Context& ctx, Progress& progress);

struct GraphArgs {
  std::vector<std::string> inputs;
  std::string op, layer, out = "-", detail = "tasks", format;
  int axis = 1;
  ReadArgs read;
};
void graph(const GraphArgs& args, Context& ctx);

// The output's name must give its format, and no input may be the output: both are checked
// before any work so that a mistake costs nothing.
void check_output(const std::string& out, const std::vector<std::string>& inputs);

// scanpy's preprocessing (analysis.cpp): each reads IN lazily, computes its statistics in
// collective passes over the chunks, and writes OUT with the streaming writers.
struct QcArgs {
  std::string in, out, layer, qc_vars, percent_top = "50,100,200,500";
  bool log1p = true;
  ReadArgs read;
  WriteArgs write;
};
void qc(const QcArgs& args, Context& ctx, Progress& progress);

struct FilterArgs {
  std::string in, out;
  std::optional<double> min_genes, max_genes, min_counts, max_counts, min_cells;
  std::vector<std::string> max_pct;  // NAME=P
  ReadArgs read;
  WriteArgs write;
};
void filter(const FilterArgs& args, Context& ctx, Progress& progress);

struct NormalizeArgs {
  std::string in, out, layer, keep_counts;
  std::optional<double> target_sum;
  bool log1p = false;
  ReadArgs read;
  WriteArgs write;
};
void normalize(const NormalizeArgs& args, Context& ctx, Progress& progress);

// scanpy.pp.highly_variable_genes (seurat, cell_ranger; batches): var columns and uns['hvg'].
struct HvgArgs {
  std::string in, out, flavor = "seurat", batch_key, layer;
  std::optional<index_t> n_top_genes;
  index_t n_bins = 20;
  ReadArgs read;
  WriteArgs write;
};
void hvg(const HvgArgs& args, Context& ctx, Progress& progress);

// adata[cells, genes].copy() written to OUT: cells by an obs bool column and/or a names file,
// genes by a names file and/or var highly_variable; every slot cut alike, streamed.
struct SubsetArgs {
  std::string in, out, obs_mask, cells, genes;
  bool highly_variable = false;
  ReadArgs read;
  WriteArgs write;
};
void subset(const SubsetArgs& args, Context& ctx, Progress& progress);

struct DemoArgs {
  index_t n_obs = 8192, n_vars = 8192;
  std::string chunks = "4096,4096";
  std::string out = "tessera-demo-out";
  bool write_files = true;
};
void demo(const DemoArgs& args, Context& ctx, Progress& progress);

}  // namespace tessera::cli
