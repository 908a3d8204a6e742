// OrderedMap: string keys in insertion order, like the Python dicts behind AnnData's mappings
// (obsm, layers, uns, a DataFrame's columns). Lookups of a missing key throw IndexError naming the
// mapping and the key.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/core/error.hpp"

namespace tessera {

template <typename V>
class OrderedMap {
 public:
  using value_type = std::pair<std::string, V>;

  explicit OrderedMap(std::string name = "mapping") : name_(std::move(name)) {}

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] bool contains(std::string_view key) const { return find(key) != items_.end(); }
  [[nodiscard]] const V& at(std::string_view key) const {
    auto it = find(key);
    if (it == items_.end()) throw IndexError(name_ + " has no key '" + std::string(key) + "'");
    return it->second;
  }
  [[nodiscard]] V& at(std::string_view key) {
    return const_cast<V&>(static_cast<const OrderedMap&>(*this).at(key));  // NOLINT: same object
  }
  // Inserts, or replaces the value in place (keeping the key's position), as dict assignment.
  void set(std::string key, V value) {
    auto it = find(key);
    if (it != items_.end()) {
      it->second = std::move(value);
    } else {
      items_.emplace_back(std::move(key), std::move(value));
    }
  }
  // Inserts a new key; ValueError if it is already there.
  void insert(std::string key, V value) {
    if (contains(key)) throw ValueError(name_ + ": duplicate key '" + key + "'");
    items_.emplace_back(std::move(key), std::move(value));
  }
  bool erase(std::string_view key) {
    auto it = find(key);
    if (it == items_.end()) return false;
    items_.erase(it);
    return true;
  }
  [[nodiscard]] std::vector<std::string> keys() const {
    std::vector<std::string> out;
    out.reserve(items_.size());
    for (const auto& [k, v] : items_)
      out.push_back(k);
    return out;
  }
  [[nodiscard]] std::size_t size() const { return items_.size(); }
  [[nodiscard]] bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }
  [[nodiscard]] auto begin() const { return items_.begin(); }
  [[nodiscard]] auto end() const { return items_.end(); }
  [[nodiscard]] auto begin() { return items_.begin(); }
  [[nodiscard]] auto end() { return items_.end(); }

 private:
  [[nodiscard]] auto find(std::string_view key) const {
    return std::find_if(items_.begin(), items_.end(),
                        [&](const value_type& kv) { return kv.first == key; });
  }
  [[nodiscard]] auto find(std::string_view key) {
    return std::find_if(items_.begin(), items_.end(),
                        [&](const value_type& kv) { return kv.first == key; });
  }

  std::string name_;
  std::vector<value_type> items_;
};

}  // namespace tessera
