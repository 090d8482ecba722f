#pragma once
// A strict little XML well-formedness check for the SVGs cigl writes:
// every element closed in order, attributes quoted, only the five
// predefined entities. Enough to catch a broken writer without a parser
// dependency.
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

namespace cigl::test {

inline bool well_formed_xml(const std::string& s) {
  std::vector<std::string> open;
  std::size_t i = 0;
  bool root_seen = false;
  auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
           c == '_' || c == ':' || c == '.';
  };
  while (i < s.size()) {
    if (s[i] == '&') {
      static const char* const kEntities[] = {"&amp;", "&lt;", "&gt;", "&quot;",
                                              "&apos;"};
      bool ok = false;
      for (const char* e : kEntities)
        ok |= s.compare(i, std::strlen(e), e) == 0;
      if (!ok) return false;
      ++i;
      continue;
    }
    if (s[i] != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(s[i]))) {
        return false;  // text outside the root
      }
      ++i;
      continue;
    }
    if (s.compare(i, 5, "<?xml") == 0) {
      auto end = s.find("?>", i);
      if (end == std::string::npos) return false;
      i = end + 2;
      continue;
    }
    if (s.compare(i, 4, "<!--") == 0) {
      auto end = s.find("-->", i);
      if (end == std::string::npos) return false;
      i = end + 3;
      continue;
    }
    const bool closing = s.compare(i, 2, "</") == 0;
    i += closing ? 2 : 1;
    std::size_t start = i;
    while (i < s.size() && name_char(s[i])) ++i;
    std::string name = s.substr(start, i - start);
    if (name.empty()) return false;
    if (closing) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
        ++i;
      if (i >= s.size() || s[i] != '>' || open.empty() || open.back() != name) {
        return false;
      }
      open.pop_back();
      ++i;
      continue;
    }
    // Attributes: name="value" pairs until > or />.
    for (;;) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
        ++i;
      if (i >= s.size()) return false;
      if (s[i] == '>') {
        if (open.empty() && root_seen) return false;
        root_seen = true;
        open.push_back(name);
        ++i;
        break;
      }
      if (s.compare(i, 2, "/>") == 0) {
        if (open.empty()) return false;
        i += 2;
        break;
      }
      std::size_t a = i;
      while (i < s.size() && name_char(s[i])) ++i;
      if (i == a || i >= s.size() || s[i] != '=') return false;
      ++i;
      if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return false;
      const char quote = s[i++];
      auto end = s.find(quote, i);
      if (end == std::string::npos) return false;
      if (s.substr(i, end - i).find('<') != std::string::npos) return false;
      i = end + 1;
    }
  }
  return open.empty() && root_seen;
}

}  // namespace cigl::test
