// HDF5 files as storage Groups (storage.hpp), serial or parallel. A serial file uses HDF5's default
// driver in one process; a parallel file is opened by every rank of a communicator with the MPI-IO
// driver, and each rank writes its own blocks of an array in one collective call (write_blocks).
// The file stays open while any Group of it lives, or until close_h5().
//
// Layout written (what h5py/anndata 0.8 read and write): numbers as little-endian integers and
// IEEE floats, bools as h5py's enum {FALSE = 0, TRUE = 1} over int8, strings as variable-length
// UTF-8, string attributes as scalars, lists as 1-D arrays (an empty list as an empty float64
// array, as anndata writes an empty column-order). Compression: Codec::zlib is gzip, Codec::blosc
// is filter 32001 with hdf5plugin's parameters, Codec::zstd is filter 32015; Tessera registers
// these filters itself, and reads LZF (32000) too. Groups are listed in creation order when the
// file tracks it, else in name order (as h5py iterates).
//
// Parallel files (MPI-IO). HDF5 makes every call that changes the file's structure or metadata
// collective: create_group, create_array, set_attribute, flush and close must be made by all
// ranks of the communicator, in the same order, with the same arguments (metadata-only writers
// can instead use a serial file opened by one rank before the parallel phase). write_blocks is
// collective too (one H5Dwrite for all ranks; a rank without blocks still calls it) and is the
// only way to write compressed arrays in parallel. write() is an independent write of one
// uncompressed box. Variable-length strings cannot be written through MPI-IO (HDF5 1.10: "Parallel
// IO does not support writing VL datatypes"), so write_strings throws IoError there: write the
// structure, strings and small elements from one rank into a serial file first, close it, then
// open it in parallel for the big arrays (design card §4). Reading is independent.
//
// A parallel file closes collectively: every rank must drop its last Group of the file (or call
// close_h5) at the same point, and before MPI is finalized.
//
// Thread safety: every HDF5 call in Tessera runs under one process-wide lock (the Debian HDF5 is
// not thread-safe), so Groups may be read from several threads at once; calls are serialized.
// Reads from executor worker threads should use a serial handle (open_h5 on each rank): through
// MPI-IO they would make MPI calls from threads other than the main one (MPI_THREAD_FUNNELED).
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "tessera/io/storage.hpp"

namespace tessera {
class Comm;
}

namespace tessera::io {

// A new file at `path`, replacing any file there. IoError naming the path when it cannot be made.
std::unique_ptr<Group> create_h5(const std::string& path);
// An existing file (read-only unless `writable`). IoError when it cannot be opened (missing,
// permissions), FormatError when it is not a valid HDF5 file (garbage, truncated).
std::unique_ptr<Group> open_h5(const std::string& path, bool writable = false);

// The same, collective over `comm` with the MPI-IO driver (MPI must be initialized; Tessera keeps
// a private duplicate of the communicator).
std::unique_ptr<Group> create_h5_parallel(const std::string& path, MPI_Comm comm);
std::unique_ptr<Group> open_h5_parallel(const std::string& path, MPI_Comm comm,
                                        bool writable = false);
// Over a Tessera Comm: parallel through its native() communicator, or serial for the serial
// stand-in (Comm::serial(), or no mpirun).
std::unique_ptr<Group> create_h5(const std::string& path, const Comm& comm);
std::unique_ptr<Group> open_h5(const std::string& path, const Comm& comm, bool writable = false);

// True when `path` is a readable file that starts like HDF5 (the signature, at any superblock
// offset HDF5 tries). Never throws.
bool is_h5_file(const std::string& path) noexcept;

// True when `group` belongs to an HDF5 file opened with the MPI-IO driver.
bool is_parallel_h5(const Group& group);

// Closes the file of `group` now (collective for parallel files), reporting failures that a
// destructor would have to swallow (IoError naming the file). Every Group of that file becomes
// unusable (IoError "closed"). ValueError when `group` is not an HDF5 group.
void close_h5(Group& group);

}  // namespace tessera::io
