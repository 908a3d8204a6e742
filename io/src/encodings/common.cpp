// What every encoding family shares: reading the encoding attributes, checking names, and the
// one place that decides what happens to an element no reader knows.
#include <string>

#include "encodings/elements.hpp"
#include "encodings/sources.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail {

std::string Encoding::text() const {
  if (type.empty()) return "no encoding-type";
  return type + " " + (version.empty() ? std::string("(no encoding-version)") : version);
}

std::string text_attribute(const Json& attrs, const char* key, const Group& parent,
                           const std::string& name) {
  if (!attrs.contains(key)) bad(parent, name, std::string("missing attribute '") + key + "'");
  const Json& v = attrs.at(key);
  if (!v.is_string())
    bad(parent, name, std::string("attribute '") + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}

Shape shape_attribute(const Json& attrs, const char* key, const Group& parent,
                      const std::string& name) {
  if (!attrs.contains(key)) bad(parent, name, std::string("missing attribute '") + key + "'");
  const Json& s = attrs.at(key);
  if (!s.is_array() || s.size() != 2 || !s[0].is_number_integer() || !s[1].is_number_integer()) {
    bad(parent, name, std::string("attribute '") + key + "' must be two integers, got " + s.dump());
  }
  const auto r = s[0].get<std::int64_t>(), c = s[1].get<std::int64_t>();
  if (r < 0 || c < 0)
    bad(parent, name, std::string("attribute '") + key + "' must not be negative, got " + s.dump());
  return {r, c};
}

Encoding encoding_of(const Group& parent, const std::string& name) {
  Json attrs;
  if (parent.has_group(name)) {
    attrs = parent.group(name)->attributes();
  } else if (parent.has_array(name)) {
    attrs = parent.attributes(name);
  } else {
    bad(parent, name, "no such element");
  }
  Encoding e;
  if (attrs.contains("encoding-type"))
    e.type = text_attribute(attrs, "encoding-type", parent, name);
  if (attrs.contains("encoding-version"))
    e.version = text_attribute(attrs, "encoding-version", parent, name);
  return e;
}

void set_encoding(Group& parent, const std::string& name, bool is_group, const std::string& type,
                  const std::string& version) {
  if (is_group) {
    auto g = parent.group(name);
    g->set_attribute("encoding-type", type);
    g->set_attribute("encoding-version", version);
  } else {
    parent.set_attribute("encoding-type", type, name);
    parent.set_attribute("encoding-version", version, name);
  }
}

bool skip_unknown(const Group& parent, const std::string& name, const Encoding& e,
                  const ReadOptions& options, const std::string& role) {
  const std::string what =
      where(parent, name) + ": " +
      (e.empty() ? std::string("an element without encoding-type")
                 : "encoding-type '" + e.type + "' encoding-version '" + e.version + "'") +
      " is not known to Tessera as a " + role;
  if (!options.skip_unknown) throw FormatError(what + " (--skip-unknown drops such elements)");
  if (options.warn) options.warn(what + "; dropped");
  return true;
}

void check_writable_name(const Group& parent, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    throw ValueError(where(parent, name) + ": cannot write an element named '" + name +
                     "' (names must not be empty, '.' or '..', nor hold '/' or NUL)");
  }
}

}  // namespace tessera::io::detail
