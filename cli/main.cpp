// The tessera command: everyday jobs on h5ad, zarr and .zarr.zip files without writing C++. Runs
// the same with or without `mpirun -np K` and prints the same (rank 0 prints; every rank works).
//
//   tessera info PATH
//   tessera convert IN OUT [--chunks R[,C]] [--compressor lz4|zstd|zlib|none]
//   tessera concat IN... -o OUT [--join inner|outer] [--index-unique SEP] [--label COL] [--keys
//   K,...] tessera reduce PATH --op sum|mean|min|max|nnz --axis 0|1 [--layer NAME] [-o OUT.tsv]
//   tessera graph IN... [--op OP --axis A] [--layer NAME] [--detail tasks|layers] [-o OUT.dot|.svg]
//   tessera demo [--n-obs M] [--n-vars N] [--chunks R,C] [--out DIR]
//   tessera qc IN -o OUT [--layer NAME] [--qc-vars NAME=PREFIX,...] [--percent-top N,...]
//   tessera filter IN -o OUT [--min-genes N] [--min-counts N] [--max-counts N] [--min-cells N]
//                            [--max-pct NAME=P]
//   tessera normalize IN -o OUT [--target-sum X] [--log1p] [--layer NAME] [--keep-counts NAME]
//   tessera hvg IN -o OUT --flavor seurat|cell_ranger [--n-top-genes N] [--n-bins 20]
//                         [--batch-key COL] [--layer NAME]
//   tessera subset IN -o OUT [--obs-mask COL] [--cells FILE] [--genes FILE] [--highly-variable]
//
// Exit status 0 on success; otherwise 1 and one line on stderr ("tessera: error: ..."), or 2 for
// a command line that does not parse. docs/cli.md is the manual.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "cli.hpp"
#include "tessera/distributed/context.hpp"

namespace {

constexpr const char* kVersion = "0.1.0";

void add_write_options(CLI::App* cmd, tessera::cli::WriteArgs& write) {
  cmd->add_option(
      "--chunks", write.chunks,
      "Chunks of the output's X, raw.X and layers: R or R,C (-1: whole); with --shards, the "
      "inner chunks");
  cmd->add_option("--compressor", write.compressor,
                  "lz4, lz4hc, zstd, zlib, blosclz (Blosc) or none (default: none; Zarr v3: "
                  "zarr-python's zstd level 0)")
      ->check(CLI::IsMember({"lz4", "lz4hc", "zstd", "zlib", "blosclz", "none"}));
  cmd->add_option("--zarr-format", write.zarr_format,
                  "Zarr format of .zarr and .zarr.zip outputs: 2 (default, read by every anndata) "
                  "or 3 (anndata >= 0.12 with zarr-python 3)")
      ->check(CLI::IsMember({2, 3}));
  cmd->add_option("--shards", write.shards,
                  "Zarr v3: shards of the dense X, raw.X and layers, R or R,C (multiples of "
                  "--chunks); each shard "
                  "is written whole by one rank");
  cmd->add_flag("!--no-consolidate", write.consolidated,
                "Do not write consolidated metadata into zarr outputs (.zmetadata, or inline in "
                "the root zarr.json)");
}

void add_read_options(CLI::App* cmd, tessera::cli::ReadArgs& read) {
  cmd->add_option("--genome", read.genome,
                  "Cell Ranger .h5 with several genomes: read this one (an error lists them)");
  cmd->add_flag("--all-features", read.all_features,
                "Cell Ranger >= 3 .h5: keep every feature type (antibody capture, CRISPR guides, "
                "...), not only 'Gene Expression'");
  cmd->add_option("--read-chunk-bytes", read.chunk_bytes,
                  "Target bytes of the chunks inputs are read in where the file has none of its "
                  "own (CSR row blocks; default 128 MiB)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--skip-unknown", read.skip_unknown,
                "Drop elements of encodings Tessera does not know (one warning each) instead of "
                "failing");
}

// Rank 0 prints `line` (one write, so that mpirun's own notes cannot cut into it); the other ranks
// wait until it has, at most kReportWait, so that mpirun does not stop rank 0 before its message
// is out when another rank leaves first. A rank that never arrives means the job is stuck: it is
// aborted rather than left hanging.
constexpr auto kReportWait = std::chrono::seconds(20);

int finish(const tessera::Context& ctx, const std::string& line, int code) {
  if (ctx.rank() == 0 && !line.empty()) {
    const std::string text = line + "\n";
    if (::write(STDERR_FILENO, text.data(), text.size()) < 0) code = code == 0 ? 1 : code;
  }
  if (ctx.size() > 1) {
    auto arrived = ctx.comm().ibarrier("reporting the outcome");
    const auto deadline = std::chrono::steady_clock::now() + kReportWait;
    while (!arrived.test()) {
      if (std::chrono::steady_clock::now() > deadline)
        ctx.comm().abort("tessera: a rank did not finish; stopping the job", code == 0 ? 1 : code);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return code;
}

// One line, whatever the message holds.
std::string one_line(std::string message) {
  for (auto& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message;
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = tessera::cli;
  CLI::App app{
      "tessera: lazy, chunked, distributed AnnData (h5ad, zarr and .zarr.zip). Runs the same under "
      "`mpirun -np K` as in one process.",
      "tessera"};
  app.set_version_flag("--version", std::string("tessera ") + kVersion);
  app.require_subcommand(1);
  bool progress_flag = false;
  app.add_flag("--progress", progress_flag,
               "Show progress on stderr even when it is not a terminal (rank 0 only)");
  bool quiet = false;
  app.add_flag("--no-progress", quiet, "Never show progress");

  cli::InfoArgs info;
  auto* info_cmd =
      app.add_subcommand("info", "Print the object (as anndata does) and each array's chunk table");
  info_cmd
      ->add_option("PATH", info.path,
                   "An .h5ad file, .zarr directory, .zarr.zip archive or Cell Ranger .h5")
      ->required();
  add_read_options(info_cmd, info.read);

  cli::ConvertArgs convert;
  auto* convert_cmd = app.add_subcommand(
      "convert", "Convert between h5ad, zarr and .zarr.zip (by suffix), chunk by chunk");
  convert_cmd->add_option("IN", convert.in, "Input .h5ad, .zarr or .zarr.zip")->required();
  convert_cmd->add_option("OUT", convert.out, "Output .h5ad, .zarr or .zarr.zip (stored entries)")
      ->required();
  add_write_options(convert_cmd, convert.write);
  add_read_options(convert_cmd, convert.read);

  cli::ConcatArgs concat;
  auto* concat_cmd = app.add_subcommand(
      "concat",
      "Concatenate files along observations, as anndata.concat, streaming chunk by chunk");
  concat_cmd->add_option("IN", concat.inputs, "Input .h5ad, .zarr or .zarr.zip files, in order")
      ->required()
      ->expected(1, -1);
  concat_cmd
      ->add_option("-o,--output", concat.out, "Output .h5ad, .zarr or .zarr.zip (stored entries)")
      ->required();
  concat_cmd->add_option("--join", concat.join, "Variables kept: inner (common) or outer (all)")
      ->check(CLI::IsMember({"inner", "outer"}));
  concat_cmd
      ->add_option("--merge", concat.merge,
                   "How var columns/varm merge: none, same, unique, first or only")
      ->check(CLI::IsMember({"none", "same", "unique", "first", "only"}));
  concat_cmd->add_option("--index-unique", concat.index_unique,
                         "Make obs names unique: name + SEP + key");
  concat_cmd->add_option("--label", concat.label, "Add an obs column COL holding each row's key");
  concat_cmd->add_option("--keys", concat.keys,
                         "Keys of the inputs, comma-separated (default 0,1,…)");
  add_write_options(concat_cmd, concat.write);
  add_read_options(concat_cmd, concat.read);

  cli::ReduceArgs reduce;
  auto* reduce_cmd = app.add_subcommand(
      "reduce", "One value per row (axis 1) or column (axis 0): name<TAB>value, 17 digits");
  reduce_cmd->add_option("PATH", reduce.path, "An .h5ad file, .zarr directory or .zarr.zip archive")
      ->required();
  reduce_cmd->add_option("--op", reduce.op, "sum, mean, min, max or nnz")
      ->required()
      ->check(CLI::IsMember({"sum", "mean", "min", "max", "nnz"}));
  reduce_cmd->add_option("--axis", reduce.axis, "0: per column (var), 1: per row (obs)")
      ->required()
      ->check(CLI::IsMember({0, 1}));
  reduce_cmd->add_option("--layer", reduce.layer, "Reduce this layer instead of X");
  reduce_cmd->add_option("-o,--output", reduce.out,
                         "Write the lines to this file (default: stdout)");
  add_read_options(reduce_cmd, reduce.read);

  cli::GraphArgs graph;
  auto* graph_cmd = app.add_subcommand(
      "graph", "The task graph of reading (and reducing) files, as Graphviz DOT or SVG");
  graph_cmd->add_option("IN", graph.inputs, "Input files; several are concatenated (inner join)")
      ->required()
      ->expected(1, -1);
  graph_cmd->add_option("--op", graph.op, "Add a reduction: sum, mean, min, max or nnz")
      ->check(CLI::IsMember({"sum", "mean", "min", "max", "nnz"}));
  graph_cmd->add_option("--axis", graph.axis, "Axis of the reduction (default 1)")
      ->check(CLI::IsMember({0, 1}));
  graph_cmd->add_option("--layer", graph.layer, "Use this layer instead of X");
  graph_cmd->add_option("--detail", graph.detail, "tasks (one node per task) or layers")
      ->check(CLI::IsMember({"tasks", "layers"}));
  graph_cmd->add_option("--format", graph.format, "dot or svg (default: by -o's suffix, else dot)")
      ->check(CLI::IsMember({"dot", "svg"}));
  graph_cmd->add_option("-o,--output", graph.out, "Write to this file (default: stdout)");
  add_read_options(graph_cmd, graph.read);

  cli::QcArgs qc;
  auto* qc_cmd = app.add_subcommand(
      "qc", "Quality-control metrics into obs and var, as scanpy.pp.calculate_qc_metrics");
  qc_cmd->add_option("IN", qc.in, "Input .h5ad, .zarr, .zarr.zip or Cell Ranger .h5")->required();
  qc_cmd->add_option("-o,--output", qc.out, "Output .h5ad, .zarr or .zarr.zip")->required();
  qc_cmd->add_option("--layer", qc.layer, "Compute the metrics on this layer instead of X");
  qc_cmd->add_option("--qc-vars", qc.qc_vars,
                     "Comma-separated NAME=PREFIX (var[NAME] = var names starting with PREFIX, "
                     "e.g. mt=MT-) or NAME of an existing bool var column");
  qc_cmd->add_option("--percent-top", qc.percent_top,
                     "Comma-separated N for pct_counts_in_top_N_genes (default 50,100,200,500; "
                     "empty: none)");
  qc_cmd->add_flag("!--no-log1p", qc.log1p, "Leave out the log1p_* columns");
  add_write_options(qc_cmd, qc.write);
  add_read_options(qc_cmd, qc.read);

  cli::FilterArgs filter;
  auto* filter_cmd = app.add_subcommand(
      "filter", "Drop cells, then genes, as scanpy.pp.filter_cells then filter_genes");
  filter_cmd->add_option("IN", filter.in, "Input .h5ad, .zarr, .zarr.zip or Cell Ranger .h5")
      ->required();
  filter_cmd->add_option("-o,--output", filter.out, "Output .h5ad, .zarr or .zarr.zip")->required();
  filter_cmd->add_option("--min-genes", filter.min_genes,
                         "Keep cells with at least this many genes > 0 (adds obs n_genes)");
  filter_cmd->add_option("--max-genes", filter.max_genes,
                         "Keep cells with at most this many genes > 0 (adds obs n_genes)");
  filter_cmd->add_option("--min-counts", filter.min_counts,
                         "Keep cells with at least this many counts (adds obs n_counts)");
  filter_cmd->add_option("--max-counts", filter.max_counts,
                         "Keep cells with at most this many counts (adds obs n_counts)");
  filter_cmd
      ->add_option("--max-pct", filter.max_pct,
                   "NAME=P: drop cells with more than P% of their counts in qc var NAME "
                   "(a bool var column, or obs pct_counts_NAME from tessera qc); repeatable")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  filter_cmd->add_option("--min-cells", filter.min_cells,
                         "Then keep genes > 0 in at least this many of the cells kept (adds var "
                         "n_cells)");
  add_write_options(filter_cmd, filter.write);
  add_read_options(filter_cmd, filter.read);

  cli::NormalizeArgs normalize;
  auto* normalize_cmd = app.add_subcommand(
      "normalize", "Normalize each cell's total, as scanpy.pp.normalize_total (then log1p)");
  normalize_cmd->add_option("IN", normalize.in, "Input .h5ad, .zarr, .zarr.zip or Cell Ranger .h5")
      ->required();
  normalize_cmd->add_option("-o,--output", normalize.out, "Output .h5ad, .zarr or .zarr.zip")
      ->required();
  normalize_cmd->add_option("--target-sum", normalize.target_sum,
                            "Total of every cell after normalizing (default: the median of the "
                            "non-zero totals)");
  normalize_cmd->add_flag("--log1p", normalize.log1p, "Then log1p, as scanpy.pp.log1p");
  normalize_cmd->add_option("--layer", normalize.layer, "Normalize this layer instead of X");
  normalize_cmd->add_option("--keep-counts", normalize.keep_counts,
                            "Keep the matrix as it was in layers[NAME]");
  add_write_options(normalize_cmd, normalize.write);
  add_read_options(normalize_cmd, normalize.read);

  cli::HvgArgs hvg;
  auto* hvg_cmd = app.add_subcommand(
      "hvg", "Highly variable genes into var, as scanpy.pp.highly_variable_genes");
  hvg_cmd->add_option("IN", hvg.in, "Input .h5ad, .zarr, .zarr.zip (log-normalized X)")->required();
  hvg_cmd->add_option("-o,--output", hvg.out, "Output .h5ad, .zarr or .zarr.zip")->required();
  hvg_cmd->add_option("--flavor", hvg.flavor, "seurat or cell_ranger")
      ->required()
      ->check(CLI::IsMember({"seurat", "cell_ranger"}));
  hvg_cmd
      ->add_option("--n-top-genes", hvg.n_top_genes,
                   "Select this many genes (default: scanpy's mean and dispersion cutoffs)")
      ->check(CLI::PositiveNumber);
  hvg_cmd->add_option("--n-bins", hvg.n_bins, "Bins of the means (seurat; default 20)")
      ->check(CLI::PositiveNumber);
  hvg_cmd->add_option("--batch-key", hvg.batch_key,
                      "obs column of batches: select within each, then merge (scanpy's batch_key)");
  hvg_cmd->add_option("--layer", hvg.layer, "Use this layer instead of X");
  add_write_options(hvg_cmd, hvg.write);
  add_read_options(hvg_cmd, hvg.read);

  cli::SubsetArgs subset;
  auto* subset_cmd = app.add_subcommand(
      "subset", "Keep the selected cells and genes in every slot, as adata[cells, genes].copy()");
  subset_cmd->add_option("IN", subset.in, "Input .h5ad, .zarr, .zarr.zip or Cell Ranger .h5")
      ->required();
  subset_cmd->add_option("-o,--output", subset.out, "Output .h5ad, .zarr or .zarr.zip")->required();
  subset_cmd->add_option("--obs-mask", subset.obs_mask,
                         "Keep the cells where obs bool column COL is True");
  subset_cmd->add_option("--cells", subset.cells, "Keep the cells named in FILE (one per line)");
  subset_cmd->add_option("--genes", subset.genes, "Keep the genes named in FILE (one per line)");
  subset_cmd->add_flag("--highly-variable", subset.highly_variable,
                       "Keep the genes where var highly_variable is True (tessera hvg)");
  add_write_options(subset_cmd, subset.write);
  add_read_options(subset_cmd, subset.read);

  cli::DemoArgs demo;
  auto* demo_cmd =
      app.add_subcommand("demo",
                         "The seed walkthrough, cell by cell: two objects, concat, three "
                         "views, to_memory, h5ad and zarr; pictures and files in --out");
  // The seed's list view takes row 53 of the concatenation (two objects) and column 5.
  demo_cmd->add_option("--n-obs", demo.n_obs, "Rows of adata and adata2 (default 8192)")
      ->check(CLI::Range(tessera::index_t{27}, tessera::index_t{1} << 40));
  demo_cmd->add_option("--n-vars", demo.n_vars, "Columns (default 8192)")
      ->check(CLI::Range(tessera::index_t{6}, tessera::index_t{1} << 40));
  demo_cmd->add_option("--chunks", demo.chunks, "Chunk shape R,C (default 4096,4096)");
  demo_cmd->add_option("--out", demo.out,
                       "Folder for pictures and files (default tessera-demo-out)");
  bool no_files = false;
  demo_cmd->add_flag("--no-files", no_files,
                     "Skip the IO cells (writing and reading h5ad and zarr)");

  // MPI starts before parsing, so that under mpirun rank 0 alone reports a usage error and the
  // other ranks wait for it (see finish()).
  std::optional<tessera::Context> context;
  try {
    context.emplace();
  } catch (const std::exception& e) {
    std::cerr << "tessera: error: " + one_line(e.what()) + "\n" << std::flush;
    return 1;
  }
  tessera::Context& ctx = *context;

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      if (ctx.rank() == 0) app.exit(e);
      return finish(ctx, "", 0);
    }
    return finish(ctx, "tessera: error: " + one_line(e.what()) + " (see tessera --help)", 2);
  }
  demo.write_files = !no_files;

  try {
    cli::Progress progress(!quiet && (progress_flag || isatty(STDERR_FILENO) != 0), ctx.rank());
    if (*info_cmd) {
      cli::info(info, ctx);
    } else if (*convert_cmd) {
      cli::convert(convert, ctx, progress);
    } else if (*concat_cmd) {
      cli::concat(concat, ctx, progress);
    } else if (*reduce_cmd) {
      cli::reduce(reduce, ctx, progress);
    } else if (*graph_cmd) {
      cli::graph(graph, ctx);
    } else if (*qc_cmd) {
      cli::qc(qc, ctx, progress);
    } else if (*filter_cmd) {
      cli::filter(filter, ctx, progress);
    } else if (*normalize_cmd) {
      cli::normalize(normalize, ctx, progress);
    } else if (*hvg_cmd) {
      cli::hvg(hvg, ctx, progress);
    } else if (*subset_cmd) {
      cli::subset(subset, ctx, progress);
    } else if (*demo_cmd) {
      cli::demo(demo, ctx, progress);
    }
    return 0;
  } catch (const std::exception& e) {
    return finish(ctx, "tessera: error: " + one_line(e.what()), 1);
  }
}
