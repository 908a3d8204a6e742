// HDF5 attributes as JSON values, the way h5py and anndata 0.8 store them: strings as scalar
// variable-length UTF-8, integers as int64, floats as float64, bools as h5py's enum over int8,
// lists as 1-D arrays (strings, bools or numbers; an empty list as an empty float64 array).
// Callers hold the HDF5 lock.
#pragma once

#include <hdf5.h>

#include <optional>
#include <string>
#include <vector>

#include "tessera/io/storage.hpp"

namespace tessera::io::detail::h5 {

// Attribute names of `object`, in name order (as h5py lists them).
std::vector<std::string> attribute_names(hid_t object, const std::string& where);

// The value of an open attribute: a scalar, or a flat array for any other shape; null for a null
// dataspace (h5py.Empty). nullopt when the element type has no JSON form (compound, reference, …):
// the caller skips it.
std::optional<Json> read_attribute(hid_t attribute, const std::string& where);

// Creates or replaces attribute `key` of `object`. ValueError for null, objects, nested or mixed
// arrays.
void write_attribute(hid_t object, const std::string& key, const Json& value,
                     const std::string& where);

}  // namespace tessera::io::detail::h5
