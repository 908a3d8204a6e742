// Hdf5Group: tessera::io::Group over an open HDF5 file. A group is the file (shared by every group
// of it) plus an absolute HDF5 path; objects are opened for the duration of each call, so no
// HDF5 object outlives a call and the file can be closed at any time.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/hdf5/h5_api.hpp"
#include "tessera/distributed/comm.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io::detail::h5 {

// One open file. For parallel files, `comm` is a private duplicate of the file's communicator
// (the error agreement of write_blocks runs on it); it is freed after the file is closed.
struct FileState {
  std::string filename;
  bool writable = false;
  std::optional<Comm> comm;
  FileId file;

  [[nodiscard]] bool parallel() const { return comm.has_value(); }
  // The file's id; IoError once the file was closed.
  [[nodiscard]] hid_t id() const;
};

class Hdf5Group final : public Group {
 public:
  Hdf5Group(std::shared_ptr<FileState> file, std::string name);

  [[nodiscard]] std::string path() const override;
  [[nodiscard]] std::string location() const override { return name_; }
  [[nodiscard]] std::vector<std::string> children() const override;
  [[nodiscard]] bool has_group(const std::string& name) const override;
  [[nodiscard]] bool has_array(const std::string& name) const override;
  [[nodiscard]] std::unique_ptr<Group> group(const std::string& name) const override;
  std::unique_ptr<Group> create_group(const std::string& name) override;

  [[nodiscard]] Json attributes(const std::string& array) const override;
  void set_attribute(const std::string& key, const Json& value, const std::string& array) override;

  [[nodiscard]] ArrayMeta array_meta(const std::string& name) const override;
  [[nodiscard]] Chunk read(const std::string& name, const Box& box) const override;
  [[nodiscard]] std::vector<std::string> read_strings(const std::string& name) const override;
  [[nodiscard]] FieldValues read_field(const std::string& name,
                                       const std::string& field) const override;
  void write_compound(const std::string& name, const std::vector<FieldValues>& fields,
                      index_t n) override;
  void create_null(const std::string& name) override;

  void create_array(const std::string& name, const ArrayMeta& meta,
                    const Compression& compression) override;
  void write(const std::string& name, const Box& box, const Chunk& data) override;
  void write_blocks(const std::string& name,
                    const std::vector<std::pair<Box, Chunk>>& blocks) override;
  void write_strings(const std::string& name, const std::vector<std::string>& values,
                     const std::vector<index_t>& shape, const Compression& compression) override;
  void flush() override;

  [[nodiscard]] const std::shared_ptr<FileState>& file() const { return file_; }

 private:
  enum class Kind : std::uint8_t { missing, group, dataset, other };

  // The absolute HDF5 path of child `name` ("a" or "a/b"); ValueError for malformed names.
  [[nodiscard]] std::string child(const std::string& name) const;
  // "file.h5:/obs/x", the prefix of every message about that object.
  [[nodiscard]] std::string where(const std::string& h5path) const;
  [[nodiscard]] Kind kind_of(const std::string& h5path) const;
  [[nodiscard]] DatasetId open_dataset(const std::string& h5path) const;
  void require_writable(const std::string& h5path) const;
  void require_absent(const std::string& h5path) const;

  std::shared_ptr<FileState> file_;
  std::string name_;  // absolute HDF5 path: "/" or "/obs"
};

}  // namespace tessera::io::detail::h5
