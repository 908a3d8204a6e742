// Cell Ranger HDF5 matrices, after scanpy's read_10x_h5 / _read_v3_10x_h5 / _read_legacy_10x_h5.
// Small elements (shape, barcodes, features, indptr) are read whole and checked before the model
// sees them, so that a damaged file gives a FormatError naming the element instead of a ShapeError
// or a crash; the matrix is a lazy CSR source whose chunks check their own indices.
#include "encodings/cellranger.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "encodings/elements.hpp"
#include "encodings/sources.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail {
namespace {

// Every matrix of either layout has these; features/names are per layout.
constexpr const char* kMatrixArrays[] = {"data", "indices", "indptr", "shape", "barcodes"};
// features/* datasets scanpy does not copy into var as they are (they are var names, gene_ids,
// probe_ids, feature_types, or Cell Ranger's bookkeeping).
constexpr const char* kFeaturesNotColumns[] = {"name", "feature_type", "id", "gene_id",
                                               "_all_tag_keys"};
constexpr const char* kGeneExpression = "Gene Expression";

// Python's repr of a list of strings: ['a', 'b'] (what scanpy's messages show).
std::string python_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t n = 0; n < items.size(); ++n) {
    if (n > 0) out += ", ";
    out += python_repr(items[n]);
  }
  return out + "]";
}

// "file.h5" for a file's root ("file.h5:/"), for messages about the whole file.
std::string file_of(const Group& root) {
  std::string path = root.path();
  if (path.ends_with(":/")) path.resize(path.size() - 2);
  return path;
}

void require_array(const Group& g, const std::string& name, const std::string& what) {
  if (!g.has_array(name)) bad(g, name, "missing (" + what + ")");
}

// The matrix's shape dataset, [features, cells] as Cell Ranger stores it.
struct StoredShape {
  index_t features = 0;
  index_t cells = 0;
};

StoredShape read_shape(const Group& g) {
  const ArrayMeta meta = checked_meta(g, "shape");
  if (meta.is_string() || meta.is_compound() || meta.shape.size() != 1 ||
      !is_integer(*meta.dtype) || meta.shape[0] != 2) {
    bad(g, "shape", "must be two integers [features, cells]");
  }
  const std::vector<index_t> s = read_indices(g, "shape");
  if (s[0] < 0 || s[1] < 0) {
    bad(g, "shape",
        "must not be negative, got [" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + "]");
  }
  return {s[0], s[1]};
}

// A 1-D array of strings with `expected` entries (`what` says what they count).
std::vector<std::string> read_string_vector(const Group& g, const std::string& name,
                                            index_t expected, const std::string& what) {
  const ArrayMeta meta = checked_meta(g, name);
  if (!meta.is_string() || meta.shape.size() != 1)
    bad(g, name, "must be a one-dimensional array of strings");
  if (meta.shape[0] != expected) {
    bad(g, name,
        "has " + std::to_string(meta.shape[0]) + " entries but the matrix has " +
            std::to_string(expected) + " " + what);
  }
  std::vector<std::string> values = g.read_strings(name);
  if (static_cast<index_t>(values.size()) != expected)
    bad(g, name,
        "holds " + std::to_string(values.size()) + " strings, expected " +
            std::to_string(expected));
  return values;
}

// A features/* dataset as scanpy copies it into var: `astype(bool)` for bools, `astype(str)` for
// anything else (numbers as numpy prints them).
Column feature_column(const Group& features, const std::string& name, index_t n) {
  const ArrayMeta meta = checked_meta(features, name);
  if (meta.is_compound() || meta.shape.size() != 1)
    bad(features, name, "must be a one-dimensional array");
  if (meta.shape[0] != n) {
    bad(features, name,
        "has " + std::to_string(meta.shape[0]) + " entries but the matrix has " +
            std::to_string(n) + " features");
  }
  if (meta.is_string()) return Column::strings(read_string_vector(features, name, n, "features"));
  const Chunk values = features.read_all(name);
  if (*meta.dtype == DType::boolean) return Column::values(values);
  const Column numbers = Column::values(values);
  std::vector<std::string> text;
  text.reserve(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i)
    text.push_back(numbers.text_at(i));
  return Column::strings(std::move(text));
}

// X from the file's CSC matrix of features × cells, i.e. the CSR matrix of cells × features.
// int32 counts become float32 as scanpy makes them; other dtypes are kept.
Array read_counts(const std::shared_ptr<const Group>& g, StoredShape shape,
                  const ReadOptions& options) {
  const ArrayMeta data = g->array_meta("data");
  if (data.is_string() || data.is_compound())
    bad(*g, "data", "must be a one-dimensional numeric array");
  const std::optional<DType> dtype =
      data.dtype == DType::int32 ? std::optional(DType::float32) : std::nullopt;
  return lazy_csr(g, Shape{shape.cells, shape.features}, dtype, options, " cellranger", {},
                  "read-cellranger");
}

// Positions whose mask entry is true.
std::vector<index_t> kept(const std::vector<bool>& mask) {
  std::vector<index_t> out;
  for (std::size_t i = 0; i < mask.size(); ++i) {
    if (mask[i]) out.push_back(static_cast<index_t>(i));
  }
  return out;
}

AnnData read_v3(const std::shared_ptr<const Group>& root, const ReadOptions& options) {
  const std::shared_ptr<const Group> m = root->group("matrix");
  for (const char* name : kMatrixArrays)
    require_array(*m, name, "every Cell Ranger matrix has one");
  if (!m->has_group("features")) bad(*m, "features", "missing (10x h5 has no features group)");
  const std::shared_ptr<const Group> f = m->group("features");
  for (const char* name : {"id", "name", "feature_type"})
    require_array(*f, name, "every Cell Ranger feature table has one");

  const StoredShape shape = read_shape(*m);
  Array X = read_counts(m, shape, options);

  DataFrame obs(read_string_vector(*m, "barcodes", shape.cells, "cells"), "obs");
  if (m->has_array("filtered_barcodes")) {
    const ArrayMeta meta = checked_meta(*m, "filtered_barcodes");
    if (meta.is_string() || meta.is_compound() || meta.shape.size() != 1)
      bad(*m, "filtered_barcodes", "must be a one-dimensional numeric or bool array");
    if (meta.shape[0] != shape.cells) {
      bad(*m, "filtered_barcodes",
          "has " + std::to_string(meta.shape[0]) + " entries but the matrix has " +
              std::to_string(shape.cells) + " cells");
    }
    obs.set("filtered_barcodes",
            Column::values(m->read_all("filtered_barcodes").astype(DType::boolean)));
  }

  const index_t n = shape.features;
  DataFrame var(read_string_vector(*f, "name", n, "features"), "var");
  if (f->has_array("gene_id")) {  // a probe-barcode matrix: id is the probe's
    var.set("gene_ids", Column::strings(read_string_vector(*f, "gene_id", n, "features")));
    var.set("probe_ids", Column::strings(read_string_vector(*f, "id", n, "features")));
  } else {
    var.set("gene_ids", Column::strings(read_string_vector(*f, "id", n, "features")));
  }
  var.set("feature_types", Column::strings(read_string_vector(*f, "feature_type", n, "features")));
  for (const std::string& name : f->children()) {
    if (!f->has_array(name) ||
        std::ranges::find(kFeaturesNotColumns, name) != std::end(kFeaturesNotColumns)) {
      continue;
    }
    var.set(name, feature_column(*f, name, n));
  }

  // scanpy's filters: features of the chosen genome, then gene expression only.
  std::vector<bool> keep(static_cast<std::size_t>(n), true);
  if (!options.genome.empty()) {
    if (!var.contains("genome"))
      bad(*f, "genome", "missing, so features cannot be chosen by genome '" + options.genome + "'");
    const Column& genomes = var["genome"];
    const std::vector<bool> match = genomes == options.genome;
    if (std::ranges::find(match, true) == match.end()) {
      std::vector<std::string> available;
      for (index_t i = 0; i < n; ++i) {
        std::string g = genomes.text_at(i);
        if (std::ranges::find(available, g) == available.end()) available.push_back(std::move(g));
      }
      throw FormatError(file_of(*root) + ": could not find data corresponding to genome " +
                        python_repr(options.genome) +
                        ". Available genomes are: " + python_list(available));
    }
    for (std::size_t i = 0; i < keep.size(); ++i)
      keep[i] = keep[i] && match[i];
  }
  if (options.gex_only) {
    const std::vector<bool> gex = var["feature_types"] == kGeneExpression;
    for (std::size_t i = 0; i < keep.size(); ++i)
      keep[i] = keep[i] && gex[i];
  }
  if (std::ranges::find(keep, false) != keep.end()) {
    // A column selection of the lazy matrix: each rank still reads only its own cell rows.
    const std::vector<index_t> columns = kept(keep);
    X = X.select(1, Selector::take(columns));
    var = var.take(columns);
  }
  return AnnData(std::move(X), std::move(obs), std::move(var));
}

AnnData read_legacy(const std::shared_ptr<const Group>& root, const ReadOptions& options) {
  const std::vector<std::string> genomes = root->children();
  std::string genome = options.genome;
  if (genome.empty()) {
    if (genomes.size() > 1) {
      throw FormatError(file_of(*root) +
                        ": contains more than one genome. For legacy 10x h5 files you must "
                        "specify the genome (--genome) if more than one is present. Available "
                        "genomes are: " +
                        python_list(genomes));
    }
    genome = genomes.front();  // cellranger_layout found at least one
  } else if (std::ranges::find(genomes, genome) == genomes.end()) {
    throw FormatError(file_of(*root) + ": could not find genome " + python_repr(genome) +
                      ". Available genomes are: " + python_list(genomes));
  }
  const std::shared_ptr<const Group> g = root->group(genome);
  for (const char* name : kMatrixArrays)
    require_array(*g, name, "every Cell Ranger matrix has one");
  for (const char* name : {"gene_names", "genes"})
    require_array(*g, name, "every Cell Ranger 1-2 matrix has one");

  const StoredShape shape = read_shape(*g);
  Array X = read_counts(g, shape, options);
  DataFrame obs(read_string_vector(*g, "barcodes", shape.cells, "cells"), "obs");
  DataFrame var(read_string_vector(*g, "gene_names", shape.features, "genes"), "var");
  var.set("gene_ids", Column::strings(read_string_vector(*g, "genes", shape.features, "genes")));
  return AnnData(std::move(X), std::move(obs), std::move(var));
}

}  // namespace

CellRangerLayout cellranger_layout(const Group& root) {
  if (root.has_group("obs")) return CellRangerLayout::none;
  if (root.has_group("matrix")) return CellRangerLayout::v3;
  // Cell Ranger 1-2: nothing but genome groups, each with the gene tables AnnData never has.
  const std::vector<std::string> children = root.children();
  if (children.empty()) return CellRangerLayout::none;
  for (const std::string& name : children) {
    if (!root.has_group(name)) return CellRangerLayout::none;
    const std::unique_ptr<Group> g = root.group(name);
    if (!g->has_array("gene_names") && !g->has_array("genes")) return CellRangerLayout::none;
  }
  return CellRangerLayout::legacy;
}

AnnData read_cellranger(const std::shared_ptr<const Group>& root, const ReadOptions& options) {
  switch (cellranger_layout(*root)) {
    case CellRangerLayout::v3:
      return read_v3(root, options);
    case CellRangerLayout::legacy:
      return read_legacy(root, options);
    case CellRangerLayout::none:
      break;
  }
  throw FormatError(file_of(*root) +
                    ": not a Cell Ranger matrix (no '/matrix' group and no genome groups)");
}

AnnData read_hdf5_root(const std::shared_ptr<const Group>& root, const ReadOptions& options) {
  if (cellranger_layout(*root) != CellRangerLayout::none) return read_cellranger(root, options);
  return read_root(root, options);
}

}  // namespace tessera::io::detail
