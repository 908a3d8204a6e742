#include "formats/zarr/json_files.hpp"

#include <cmath>
#include <limits>
#include <string_view>

#include "tessera/core/error.hpp"

namespace tessera::io::detail {
namespace {

constexpr const char* kNaNToken = "\x01tessera-nan\x01";
constexpr const char* kPosInfToken = "\x01tessera-inf\x01";
constexpr const char* kNegInfToken = "\x01tessera-neginf\x01";

// Replaces the bare tokens NaN, Infinity, -Infinity outside string literals by placeholder strings.
std::string quote_nonfinite_tokens(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out.push_back(c);
    } else if (text.substr(i, 3) == "NaN") {
      out += Json(kNaNToken).dump();
      i += 2;
    } else if (text.substr(i, 8) == "Infinity") {
      out += Json(kPosInfToken).dump();
      i += 7;
    } else if (text.substr(i, 9) == "-Infinity") {
      out += Json(kNegInfToken).dump();
      i += 8;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void restore_nonfinite(Json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == kNaNToken) {
      j = std::numeric_limits<double>::quiet_NaN();
    } else if (s == kPosInfToken) {
      j = std::numeric_limits<double>::infinity();
    } else if (s == kNegInfToken) {
      j = -std::numeric_limits<double>::infinity();
    }
  } else if (j.is_structured()) {
    for (auto& v : j)
      restore_nonfinite(v);
  }
}

bool has_nonfinite(const Json& j) {
  if (j.is_number_float()) return !std::isfinite(j.get<double>());
  if (j.is_structured()) {
    for (const auto& v : j) {
      if (has_nonfinite(v)) return true;
    }
  }
  return false;
}

void mark_nonfinite(Json& j) {
  if (j.is_number_float()) {
    const double x = j.get<double>();
    if (std::isnan(x)) {
      j = kNaNToken;
    } else if (std::isinf(x)) {
      j = x > 0 ? kPosInfToken : kNegInfToken;
    }
  } else if (j.is_structured()) {
    for (auto& v : j)
      mark_nonfinite(v);
  }
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos;
       pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

}  // namespace

// nlohmann's objects are sorted; zarr-python decodes its JSON files as ASCII.
std::string dump_json(Json j) {
  if (!has_nonfinite(j)) return j.dump(4, ' ', true);
  mark_nonfinite(j);
  std::string text = j.dump(4, ' ', true);
  // The placeholders' \x01 bytes are dumped as \u0001.
  auto dumped = [](const char* token) { return Json(token).dump(-1, ' ', true); };
  replace_all(text, dumped(kNaNToken), "NaN");
  replace_all(text, dumped(kPosInfToken), "Infinity");
  replace_all(text, dumped(kNegInfToken), "-Infinity");
  return text;
}

Json parse_json_file(std::span<const std::byte> bytes, const std::string& where) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    doc = Json::parse(quote_nonfinite_tokens(text), nullptr, false);
    if (!doc.is_discarded()) restore_nonfinite(doc);
  }
  if (doc.is_discarded()) throw FormatError("zarr: malformed JSON in " + where);
  return doc;
}

}  // namespace tessera::io::detail
