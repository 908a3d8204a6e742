// Cell Ranger's HDF5 matrices (10x Genomics `.h5`, FORMATS.md §6) read as scanpy's read_10x_h5
// reads them: X cells × features CSR, read lazily by cell rows from the file's CSC matrix of
// features × cells (which is the CSR matrix of cells × features), obs named by barcode, var by
// feature name with scanpy's columns. Two layouts: Cell Ranger ≥ 3 (`/matrix` with `features/`)
// and Cell Ranger 1–2 (one group per genome).
#pragma once

#include <cstdint>
#include <memory>

#include "tessera/anndata/anndata.hpp"
#include "tessera/io/options.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io::detail {

enum class CellRangerLayout : std::uint8_t {
  none,    // not Cell Ranger output
  v3,      // Cell Ranger >= 3: /matrix/{data,indices,indptr,shape,barcodes,features/...}
  legacy,  // Cell Ranger 1-2: /<genome>/{data,indices,indptr,shape,barcodes,gene_names,genes}
};

// Which layout the root of an HDF5 file has, from its structure alone (nothing is read). An
// AnnData file (an 'obs' group) is never Cell Ranger output. The test is loose on purpose (scanpy
// itself only asks whether '/matrix' exists): a damaged Cell Ranger file is still recognised, so
// that read_cellranger can name the element that is missing or wrong.
CellRangerLayout cellranger_layout(const Group& root);

// The AnnData scanpy's read_10x_h5(path, genome=options.genome, gex_only=options.gex_only) gives,
// with X lazy. FormatError naming file and element for anything malformed, for a legacy file of
// several genomes without options.genome (listing them), and for a genome that is not there
// (listing those that are).
AnnData read_cellranger(const std::shared_ptr<const Group>& root, const ReadOptions& options);

// The reader of an HDF5 file's root: Cell Ranger output by read_cellranger, anything else by
// read_root (elements.hpp).
AnnData read_hdf5_root(const std::shared_ptr<const Group>& root, const ReadOptions& options);

}  // namespace tessera::io::detail
