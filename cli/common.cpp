#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>

#include "cli.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/render.hpp"
#include "tessera/distributed/collective.hpp"

namespace tessera::cli {

io::WriteOptions write_options(const WriteArgs& args, Progress& progress) {
  io::WriteOptions options;
  if (!args.compressor.empty()) options.compression = io::Compression::from_name(args.compressor);
  if (!args.chunks.empty()) options.chunks = parse_chunks(args.chunks);
  options.zarr_format = args.zarr_format;
  if (!args.shards.empty()) {
    if (args.zarr_format != 3) throw ValueError("--shards needs --zarr-format 3");
    options.shards = parse_chunks(args.shards, "--shards");
  }
  options.consolidated = args.consolidated;
  options.progress = progress.callback();
  return options;
}

ChunkSpec parse_chunks(const std::string& text, const std::string& option) {
  const auto number = [&](const std::string& part) -> index_t {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || (v < 1 && v != -1)) {
      throw ValueError(option + " needs R or R,C with positive whole numbers (or -1), got '" +
                       text + "'");
    }
    return v;
  };
  const auto comma = text.find(',');
  if (comma == std::string::npos) return {number(text), index_t{-1}};
  return {number(text.substr(0, comma)), number(text.substr(comma + 1))};
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  if (text.empty()) return items;
  std::size_t begin = 0;
  while (true) {
    const auto comma = text.find(',', begin);
    items.push_back(text.substr(begin, comma - begin));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return items;
}

Progress::Progress(bool enabled, int rank)
    : enabled_(enabled && rank == 0), terminal_(isatty(STDERR_FILENO) != 0) {}

void Progress::start(std::string what, std::int64_t total) {
  if (!enabled_) return;
  what_ = std::move(what);
  total_ = total;
  done_ = 0;
  started_ = drawn_ = std::chrono::steady_clock::now();
  if (total_ > 0) draw(false);  // a total learnt later (from a writer) is drawn on its update
}

void Progress::update(std::int64_t done) {
  if (!enabled_) return;
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  // A terminal line is redrawn ten times a second; a log gets a line every five seconds.
  const auto every = terminal_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - drawn_ >= every) draw(false);
}

void Progress::finish() {
  if (!enabled_ || what_.empty()) return;
  done_ = total_;
  draw(true);
  what_.clear();
}

std::function<void(std::int64_t, std::int64_t)> Progress::callback() {
  if (!enabled_) return {};
  return [this](std::int64_t done, std::int64_t total) {
    total_ = total;
    update(done);
  };
}

namespace {

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  char text[32];
  std::snprintf(text, sizeof text, "%lld:%02lld", s / 60, s % 60);
  return text;
}

}  // namespace

void Progress::draw(bool final) {
  const auto now = std::chrono::steady_clock::now();
  drawn_ = now;
  const double elapsed = std::chrono::duration<double>(now - started_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double percent = total_ > 0 ? 100.0 * static_cast<double>(done_) / total_ : 100.0;
  std::string line = what_;
  line.append("  ")
      .append(format_bytes(done_))
      .append(" / ")
      .append(format_bytes(total_))
      .append("  ")
      .append(std::to_string(static_cast<int>(percent)))
      .append("%  ")
      .append(format_bytes(static_cast<index_t>(rate)))
      .append("/s  ");
  if (final) {
    line.append(clock_text(elapsed)).append(" elapsed");
  } else {
    const double left = rate > 0 ? static_cast<double>(total_ - done_) / rate : NAN;
    line.append(clock_text(left)).append(" left");
  }
  if (terminal_) {
    std::cerr << "\r\033[K" << line << (final ? "\n" : "") << std::flush;
  } else {
    std::cerr << line << "\n" << std::flush;
  }
}

io::ReadOptions read_options(const ReadArgs& args, const Context& ctx) {
  io::ReadOptions options;
  options.genome = args.genome;
  options.skip_unknown = args.skip_unknown;
  options.gex_only = !args.all_features;
  if (args.chunk_bytes > 0) options.chunk_bytes = args.chunk_bytes;
  const int rank = ctx.rank();
  options.warn = [rank](const std::string& line) {
    if (rank == 0) std::cerr << "tessera: warning: " << line << "\n" << std::flush;
  };
  return options;
}

void write_text(Context& ctx, const std::string& path, const std::string& text) {
  on_root(ctx.comm(), 0, "writing a text output", [&] {
    if (path == "-") {
      std::cout << text << std::flush;
      if (!std::cout) throw IoError("cannot write to standard output");
      return;
    }
    const std::filesystem::path target(path);
    std::filesystem::path temp = target;
    temp += ".tessera-tmp-" + std::to_string(std::random_device{}());
    std::error_code error;
    {
      std::ofstream out(temp, std::ios::binary);
      out << text;
      out.flush();
      if (!out) {
        std::filesystem::remove(temp, error);
        throw IoError("cannot write " + path);
      }
    }
    std::filesystem::rename(temp, target, error);
    if (error) {
      std::filesystem::remove(temp, error);
      throw IoError("cannot write " + path + ": " + error.message());
    }
  });
}

Array pick_array(const AnnData& a, const std::string& path, const std::string& layer) {
  if (layer.empty()) {
    if (!a.X()) throw ValueError(path + " has no X (use --layer NAME)");
    return *a.X();
  }
  if (a.layers().contains(layer)) return a.layers()[layer];
  std::string names;
  for (const auto& [name, array] : a.layers()) {
    if (!names.empty()) names.append(", ");
    names.append(python_repr(name));
  }
  std::string message = path;
  message.append(" has no layer ")
      .append(python_repr(layer))
      .append(" (layers: ")
      .append(names.empty() ? "none" : names)
      .append(")");
  throw ValueError(message);
}

}  // namespace tessera::cli
