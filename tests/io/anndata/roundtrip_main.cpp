// tessera_io_roundtrip IN OUT [--eager] [--compressor NAME] [--chunks R,C] [--chunk-bytes N]
//                      [--band-bytes N] [--stats] [--no-metadata-check]
//
// Reads IN (h5ad or zarr, by suffix) and writes OUT (by suffix) through tessera::io, on every rank
// of the context: the interop tests run it with and without mpirun and compare OUT with the input
// using the reference anndata. Lazy by default (chunks read on the rank that owns them);
// --chunk-bytes makes the lazy chunks small so that several ranks own some. On any error: one
// line on stderr ("tessera_io_roundtrip: [rank r] <message>") and exit status 1. --band-bytes
// sets the writer's band (WriteOptions::band_bytes); --stats prints each rank's WriteStats on
// stderr; --no-metadata-check reads h5ad without the crash-isolating check of its structure
// (ReadOptions::check_hdf5_metadata), to measure what the check prevents.
#include <charconv>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/io/anndata_io.hpp"

namespace {

struct Arguments {
  std::string in;
  std::string out;
  bool eager = false;
  std::string compressor = "none";
  std::optional<std::pair<tessera::index_t, tessera::index_t>> chunks;
  std::optional<tessera::index_t> chunk_bytes;
  std::optional<tessera::index_t> band_bytes;
  bool stats = false;
  bool metadata_check = true;
};

tessera::index_t parse_index(std::string_view text, const char* what) {
  tessera::index_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw tessera::ValueError(std::string(what) + ": not an integer: '" + std::string(text) + "'");
  }
  return value;
}

Arguments parse(int argc, char** argv) {
  Arguments a;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw tessera::ValueError(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--eager") {
      a.eager = true;
    } else if (arg == "--compressor") {
      a.compressor = value();
    } else if (arg == "--chunks") {
      const std::string v = value();
      const auto comma = v.find(',');
      if (comma == std::string::npos)
        throw tessera::ValueError("--chunks needs R,C, got '" + v + "'");
      a.chunks = {parse_index(std::string_view(v).substr(0, comma), "--chunks"),
                  parse_index(std::string_view(v).substr(comma + 1), "--chunks")};
    } else if (arg == "--chunk-bytes") {
      a.chunk_bytes = parse_index(value(), "--chunk-bytes");
    } else if (arg == "--band-bytes") {
      a.band_bytes = parse_index(value(), "--band-bytes");
    } else if (arg == "--stats") {
      a.stats = true;
    } else if (arg == "--no-metadata-check") {
      a.metadata_check = false;
    } else if (arg.starts_with("--")) {
      throw tessera::ValueError("unknown option " + std::string(arg));
    } else {
      positional.emplace_back(arg);
    }
  }
  if (positional.size() != 2) {
    throw tessera::ValueError(
        "usage: tessera_io_roundtrip IN OUT [--eager] [--compressor NAME] [--chunks R,C] "
        "[--chunk-bytes N] [--band-bytes N] [--stats] [--no-metadata-check]");
  }
  a.in = positional[0];
  a.out = positional[1];
  return a;
}

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  tessera::Context ctx;
  try {
    const Arguments args = parse(argc, argv);
    tessera::io::ReadOptions read_options;
    read_options.lazy = !args.eager;
    if (args.chunk_bytes) read_options.chunk_bytes = *args.chunk_bytes;
    read_options.check_hdf5_metadata = args.metadata_check;
    tessera::io::WriteOptions write_options;
    write_options.compression = tessera::io::Compression::from_name(args.compressor);
    if (args.chunks)
      write_options.chunks = tessera::ChunkSpec(args.chunks->first, args.chunks->second);
    if (args.band_bytes) write_options.band_bytes = *args.band_bytes;
    tessera::io::WriteStats stats;
    write_options.stats = &stats;

    const tessera::AnnData adata = tessera::io::read(args.in, ctx, read_options);
    tessera::io::write(adata, args.out, ctx, write_options);
    if (args.stats) {
      // One write per line: std::cerr is unbuffered, and piece by piece the ranks' lines would
      // interleave on the shared stderr.
      const std::string line = "tessera_io_roundtrip: [rank " + std::to_string(ctx.rank()) +
                               "] bands " + std::to_string(stats.bands) + " peak_bytes_held " +
                               std::to_string(stats.peak_bytes_held) + " bytes_written " +
                               std::to_string(stats.bytes_written) + "\n";
      std::cerr << line << std::flush;
    }
  } catch (const std::exception& e) {
    const std::string line = "tessera_io_roundtrip: [rank " + std::to_string(ctx.rank()) + "] " +
                             one_line(e.what()) + "\n";
    std::cerr << line << std::flush;
    return 1;
  }
  return 0;
}
