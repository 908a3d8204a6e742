// tessera info / convert / concat: whole files in, whole files out. Inputs are opened lazily
// (each rank reads the chunks it will own) and outputs are written chunk by chunk by the ranks
// that own them, under a temporary name renamed into place only when every rank succeeded.
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "tessera/anndata/concat.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/render.hpp"
#include "tessera/io/anndata_io.hpp"

namespace tessera::cli {
namespace {

std::string describe(const AnnData& a) {
  std::ostringstream out;
  out << a.repr() << "\n";
  const auto table = [&](const std::string& name, const Array& x) {
    out << "\n" << name << "\n" << chunk_table(x);
  };
  if (a.X()) table("X", *a.X());
  const std::pair<const char*, const AlignedArrays*> maps[] = {{"layers", &a.layers()},
                                                               {"obsm", &a.obsm()},
                                                               {"varm", &a.varm()},
                                                               {"obsp", &a.obsp()},
                                                               {"varp", &a.varp()}};
  // Data frames and elements kept as stored have no chunk table: one line each says what they are.
  const auto others = [&](const std::string& name, const AlignedArrays& m) {
    for (const auto& [k, frame] : m.frames()) {
      out << "\n"
          << name << "[" << python_repr(k) << "]\n    data frame: " << frame.size()
          << " rows, columns:";
      for (const auto& column : frame.columns().keys())
        out << " " << python_repr(column);
      out << "\n";
    }
    for (const auto& [k, element] : m.stored()) {
      out << "\n"
          << name << "[" << python_repr(k) << "]\n    " << element.encoding
          << ", kept as stored and written back unchanged";
      if (element.length >= 0) out << " (length " << element.length << ")";
      out << "\n";
    }
  };
  for (const auto& [name, m] : maps) {
    for (const auto& [k, v] : *m)
      table(std::string(name) + "[" + python_repr(k) + "]", v);
    others(name, *m);
  }
  if (a.raw() && a.raw()->X) table("raw.X", *a.raw()->X);
  if (a.raw()) others("raw.varm", a.raw()->varm);
  return out.str();
}

}  // namespace

void check_output(const std::string& out, const std::vector<std::string>& inputs) {
  io::format_of(out);
  std::error_code error;
  for (const auto& in : inputs) {
    if (std::filesystem::equivalent(in, out, error)) {
      throw ValueError("the output " + out + " is also an input; write to another path");
    }
  }
}

void info(const InfoArgs& args, Context& ctx) {
  const AnnData a = io::read(args.path, ctx, read_options(args.read, ctx));
  if (ctx.rank() == 0) std::cout << describe(a) << std::flush;
}

void convert(const ConvertArgs& args, Context& ctx, Progress& progress) {
  const io::WriteOptions options = write_options(args.write, progress);
  check_output(args.out, {args.in});
  const AnnData a = io::read(args.in, ctx, read_options(args.read, ctx));
  progress.start("convert", 0);
  io::write(a, args.out, ctx, options);
  progress.finish();
}

void concat(const ConcatArgs& args, Context& ctx, Progress& progress) {
  ConcatOptions options;
  options.join = join_from_name(args.join);
  options.merge = merge_from_name(args.merge);
  options.index_unique = args.index_unique;
  options.label = args.label;
  options.keys = split_list(args.keys);
  if (!options.keys.empty() && options.keys.size() != args.inputs.size()) {
    throw ValueError("--keys has " + std::to_string(options.keys.size()) + " names for " +
                     std::to_string(args.inputs.size()) + " inputs");
  }
  const io::WriteOptions write = write_options(args.write, progress);
  check_output(args.out, args.inputs);

  std::vector<AnnData> objects;
  objects.reserve(args.inputs.size());
  for (const auto& in : args.inputs)
    objects.push_back(io::read(in, ctx, read_options(args.read, ctx)));
  const AnnData joined = tessera::concat(objects, options);
  progress.start("concat", 0);
  io::write(joined, args.out, ctx, write);
  progress.finish();
}

}  // namespace tessera::cli
