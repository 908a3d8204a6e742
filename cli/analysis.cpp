// tessera qc / filter / normalize / hvg / subset: scanpy's preprocessing on files. Each reads IN
// lazily, runs the analysis library's collective passes (each chunk read once per pass, on the rank
// that owns it), and writes OUT with the streaming writer, atomically. A one-line summary goes to
// stdout from rank 0.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli.hpp"
#include "tessera/analysis/filter.hpp"
#include "tessera/analysis/hvg.hpp"
#include "tessera/analysis/normalize.hpp"
#include "tessera/analysis/qc.hpp"
#include "tessera/analysis/subset.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/anndata_io.hpp"

namespace tessera::cli {
namespace {

// "NAME=VALUE" -> (NAME, VALUE); ValueError naming the option otherwise.
std::pair<std::string, std::string> split_pair(const std::string& item, const std::string& option) {
  const auto eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ValueError(option + " takes NAME=VALUE, got '" + item + "'");
  }
  return {item.substr(0, eq), item.substr(eq + 1)};
}

double parse_number(const std::string& text, const std::string& option) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw ValueError(option + " takes a number, got '" + text + "'");
  return value;
}

void say(const Context& ctx, const std::string& line) {
  if (ctx.rank() == 0) std::cout << line << "\n" << std::flush;
}

std::string number_text(double v) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

void write_out(const AnnData& a, const std::string& out, const char* what, Context& ctx,
               const io::WriteOptions& options, Progress& progress) {
  progress.start(what, 0);
  io::write(a, out, ctx, options);
  progress.finish();
}

// Names one per line (a trailing '\r' dropped, empty lines skipped), read on every rank.
std::vector<std::string> names_in(const std::string& path, const std::string& option) {
  std::ifstream in(path);
  if (!in) throw IoError(option + " " + path + ": cannot open the file");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (in.bad()) throw IoError(option + " " + path + ": reading failed");
  return names;
}

}  // namespace

void qc(const QcArgs& args, Context& ctx, Progress& progress) {
  const io::WriteOptions write = write_options(args.write, progress);
  check_output(args.out, {args.in});
  analysis::QcOptions options;
  options.layer = args.layer;
  options.log1p = args.log1p;
  options.percent_top.clear();
  for (const auto& item : split_list(args.percent_top)) {
    const double n = parse_number(item, "--percent-top");
    if (n != static_cast<double>(static_cast<index_t>(n)))
      throw ValueError("--percent-top takes whole numbers, got '" + item + "'");
    options.percent_top.push_back(static_cast<index_t>(n));
  }
  AnnData a = io::read(args.in, ctx, read_options(args.read, ctx));
  for (const auto& item : split_list(args.qc_vars)) {
    if (item.find('=') == std::string::npos) {
      options.qc_vars.push_back(item);  // an existing bool var column
      continue;
    }
    const auto [name, prefix] = split_pair(item, "--qc-vars");
    analysis::mark_var_prefix(a, name, prefix);
    options.qc_vars.push_back(name);
  }
  analysis::calculate_qc_metrics(a, ctx, options);
  write_out(a, args.out, "qc", ctx, write, progress);
  say(ctx, "qc: " + std::to_string(a.n_obs()) + " cells, " + std::to_string(a.n_vars()) + " genes");
}

void filter(const FilterArgs& args, Context& ctx, Progress& progress) {
  const io::WriteOptions write = write_options(args.write, progress);
  check_output(args.out, {args.in});
  analysis::FilterOptions options;
  options.min_genes = args.min_genes;
  options.max_genes = args.max_genes;
  options.min_counts = args.min_counts;
  options.max_counts = args.max_counts;
  options.min_cells = args.min_cells;
  for (const auto& list : args.max_pct) {
    for (const auto& item : split_list(list)) {
      const auto [name, value] = split_pair(item, "--max-pct");
      options.max_pct.emplace_back(name, parse_number(value, "--max-pct " + name));
    }
  }
  const AnnData a = io::read(args.in, ctx, read_options(args.read, ctx));
  analysis::FilterStats stats;
  const AnnData kept = analysis::filter(a, ctx, options, &stats);
  write_out(kept, args.out, "filter", ctx, write, progress);
  say(ctx, "filter: kept " + std::to_string(stats.cells_kept) + " of " +
               std::to_string(stats.cells_before) + " cells, " + std::to_string(stats.genes_kept) +
               " of " + std::to_string(stats.genes_before) + " genes");
}

void normalize(const NormalizeArgs& args, Context& ctx, Progress& progress) {
  const io::WriteOptions write = write_options(args.write, progress);
  check_output(args.out, {args.in});
  analysis::NormalizeOptions options;
  options.target_sum = args.target_sum;
  options.layer = args.layer;
  options.keep_counts = args.keep_counts;
  options.log1p = args.log1p;
  AnnData a = io::read(args.in, ctx, read_options(args.read, ctx));
  const analysis::NormalizeStats stats = analysis::normalize_total(a, ctx, options);
  if (stats.zero_cells > 0 && ctx.rank() == 0) {
    std::cerr << "tessera: warning: " << stats.zero_cells
              << " cells have zero counts (left as they are)\n"
              << std::flush;
  }
  write_out(a, args.out, "normalize", ctx, write, progress);
  say(ctx, "normalize: " + std::to_string(a.n_obs()) + " cells to a total of " +
               number_text(stats.target_sum) + (args.log1p ? ", then log1p" : ""));
}

void hvg(const HvgArgs& args, Context& ctx, Progress& progress) {
  const io::WriteOptions write = write_options(args.write, progress);
  check_output(args.out, {args.in});
  analysis::HvgOptions options;
  options.flavor =
      args.flavor == "cell_ranger" ? analysis::HvgFlavor::cell_ranger : analysis::HvgFlavor::seurat;
  options.n_top_genes = args.n_top_genes;
  options.n_bins = args.n_bins;
  options.batch_key = args.batch_key;
  options.layer = args.layer;
  AnnData a = io::read(args.in, ctx, read_options(args.read, ctx));
  const analysis::HvgStats stats = analysis::highly_variable_genes(a, ctx, options);
  write_out(a, args.out, "hvg", ctx, write, progress);
  say(ctx, "hvg: " + std::to_string(stats.selected) + " of " + std::to_string(a.n_vars()) +
               " genes highly variable (" + args.flavor +
               (stats.batches > 1 || !args.batch_key.empty()
                    ? ", " + std::to_string(stats.batches) + " batches"
                    : std::string()) +
               ")");
}

void subset(const SubsetArgs& args, Context& ctx, Progress& progress) {
  const io::WriteOptions write = write_options(args.write, progress);
  check_output(args.out, {args.in});
  analysis::SubsetOptions options;
  if (!args.obs_mask.empty()) options.obs_mask = args.obs_mask;
  if (!args.cells.empty()) options.cells = names_in(args.cells, "--cells");
  if (!args.genes.empty()) options.genes = names_in(args.genes, "--genes");
  options.highly_variable = args.highly_variable;
  const AnnData a = io::read(args.in, ctx, read_options(args.read, ctx));
  const AnnData kept = analysis::subset(a, options);
  write_out(kept, args.out, "subset", ctx, write, progress);
  say(ctx, "subset: kept " + std::to_string(kept.n_obs()) + " of " + std::to_string(a.n_obs()) +
               " cells, " + std::to_string(kept.n_vars()) + " of " + std::to_string(a.n_vars()) +
               " genes");
}

}  // namespace tessera::cli
