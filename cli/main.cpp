// The tessera command: everyday jobs on h5ad and zarr files without writing C++. Runs the same
// with or without `mpirun -np K` and prints the same (rank 0 prints; every rank works).
//
//   tessera info PATH
//   tessera convert IN OUT [--chunks R[,C]] [--compressor lz4|zstd|zlib|none]
#include <CLI/CLI.hpp>

#include <iostream>
#include <sstream>
#include <string>

#include "tessera/anndata/anndata.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/render.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/io/anndata_io.hpp"

namespace {

constexpr const char* kVersion = "0.1.0";

tessera::ChunkSpec parse_chunks(const std::string& text) {
  const auto comma = text.find(',');
  const auto number = [&](const std::string& part) -> tessera::index_t {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || (v < 1 && v != -1)) {
      throw tessera::ValueError(
          "--chunks needs R or R,C with positive whole numbers (or -1), got '" + text + "'");
    }
    return v;
  };
  if (comma == std::string::npos) return {number(text), tessera::index_t{-1}};
  return {number(text.substr(0, comma)), number(text.substr(comma + 1))};
}

std::string info(const tessera::AnnData& a) {
  std::ostringstream out;
  out << a.repr() << "\n";
  const auto table = [&](const std::string& name, const tessera::Array& x) {
    out << "\n" << name << "\n" << tessera::chunk_table(x);
  };
  if (a.X()) table("X", *a.X());
  const std::pair<const char*, const tessera::AlignedArrays*> maps[] = {{"layers", &a.layers()},
                                                                        {"obsm", &a.obsm()},
                                                                        {"varm", &a.varm()},
                                                                        {"obsp", &a.obsp()},
                                                                        {"varp", &a.varp()}};
  for (const auto& [name, m] : maps) {
    for (const auto& [k, v] : *m)
      table(std::string(name) + "[" + tessera::python_repr(k) + "]", v);
  }
  if (a.raw() && a.raw()->X) table("raw.X", *a.raw()->X);
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tessera: lazy, chunked, distributed AnnData (h5ad and zarr)", "tessera"};
  app.set_version_flag("--version", std::string("tessera ") + kVersion);
  app.require_subcommand(1);

  std::string info_path;
  auto* info_cmd =
      app.add_subcommand("info", "Print the object (as anndata does) and each array's chunk table");
  info_cmd->add_option("PATH", info_path, "An .h5ad file or .zarr directory")->required();

  std::string in, out, chunks, compressor = "none";
  auto* convert_cmd =
      app.add_subcommand("convert", "Convert between h5ad and zarr (by suffix), chunk by chunk");
  convert_cmd->add_option("IN", in, "Input .h5ad or .zarr")->required();
  convert_cmd->add_option("OUT", out, "Output .h5ad or .zarr")->required();
  convert_cmd->add_option("--chunks", chunks, "Chunks of X and layers in the output: R or R,C");
  convert_cmd->add_option("--compressor", compressor, "lz4, zstd, zlib or none (lz4/zstd: Blosc)")
      ->check(CLI::IsMember({"lz4", "lz4hc", "zstd", "zlib", "blosclz", "none"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  int rank = 0;
  try {
    tessera::Context ctx;
    rank = ctx.rank();
    if (*info_cmd) {
      const tessera::AnnData a = tessera::io::read(info_path, ctx);
      if (rank == 0) std::cout << info(a) << std::flush;
    } else if (*convert_cmd) {
      tessera::io::WriteOptions options;
      options.compression = tessera::io::Compression::from_name(compressor);
      if (!chunks.empty()) options.chunks = parse_chunks(chunks);
      tessera::io::format_of(out);  // a bad output name fails before any work
      const tessera::AnnData a = tessera::io::read(in, ctx);
      tessera::io::write(a, out, ctx, options);
    }
    return 0;
  } catch (const std::exception& e) {
    std::string message = e.what();
    for (auto& c : message) {
      if (c == '\n') c = ' ';
    }
    if (rank == 0) std::cerr << "tessera: error: " << message << std::endl;
    return 1;
  }
}
