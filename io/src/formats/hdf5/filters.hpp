// HDF5 filters Tessera registers itself (H5Zregister), so compressed datasets work without
// HDF5_PLUGIN_PATH and under the MPI-IO driver: Blosc (32001, the hdf5-blosc / hdf5plugin
// layout), Zstandard (32015, hdf5plugin's Zstd) and LZF (32000, h5py's, decoding only). Every
// decoder validates sizes before it allocates or copies, so a corrupt chunk is an HDF5 read error,
// never a crash.
#pragma once

#include <hdf5.h>

#include <string>
#include <vector>

namespace tessera::io::detail::h5 {

inline constexpr H5Z_filter_t kLzfFilter = 32000;
inline constexpr H5Z_filter_t kBloscFilter = 32001;
inline constexpr H5Z_filter_t kZstdFilter = 32015;

// Called once by initialize(), under the lock.
void register_filters();

// The client values hdf5plugin.Blosc(cname, clevel, shuffle) stores: {0, 0, 0, 0, clevel,
// shuffle, compressor code}. Slots 0-3 (filter revision, Blosc format, type size, chunk bytes)
// are filled when the dataset is created (the filter's set_local). ValueError for a compressor
// this libblosc lacks, a level outside 0-9 or a shuffle outside 0-2.
std::vector<unsigned> blosc_cd_values(const std::string& cname, int level, int shuffle);

}  // namespace tessera::io::detail::h5
