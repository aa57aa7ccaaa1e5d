//===- JsonReader.h - JSON fields read with path-named errors ---*- C++ -*-===//
//
// The strategy, plan and machine readers report a problem with the JSON path
// of the field ("$.ops[3].config.batch: must be an integer") and stop at the
// first one. nlohmann/json's own errors name no path, and its getters throw,
// which must not cross the libraries' APIs (LLVM is built without
// exceptions): every check here is explicit.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SUPPORT_JSONREADER_H
#define SOAP_SUPPORT_JSONREADER_H

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace soap {

/// Reads fields of an object; the first problem goes to `error`. A missing
/// optional field (required = false) leaves `out` as it is and succeeds.
struct JsonReader {
  using ordered_json = nlohmann::ordered_json;

  std::string error;

  bool fail(const std::string &path, const std::string &what) {
    if (error.empty())
      error = path + ": " + what;
    return false;
  }
  const ordered_json *field(const ordered_json &obj, const std::string &path,
                            const char *key, bool required = true) {
    if (!obj.is_object()) {
      fail(path, "must be an object");
      return nullptr;
    }
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required)
        fail(path + "." + key, "is missing");
      return nullptr;
    }
    return &*it;
  }
  bool str(const ordered_json &obj, const std::string &path, const char *key,
           std::string &out, bool required = true) {
    const ordered_json *v = field(obj, path, key, required);
    if (!v)
      return !required && error.empty();
    if (!v->is_string())
      return fail(path + "." + key, "must be a string");
    out = v->get<std::string>();
    return true;
  }
  template <typename T>
  bool integer(const ordered_json &obj, const std::string &path,
               const char *key, T &out, bool required = true) {
    const ordered_json *v = field(obj, path, key, required);
    if (!v)
      return !required && error.empty();
    if (!v->is_number_integer())
      return fail(path + "." + key, "must be an integer");
    out = static_cast<T>(v->get<int64_t>());
    return true;
  }
  bool numberValue(const ordered_json &v, const std::string &path,
                   double &out) {
    if (v.is_number()) {
      out = v.get<double>();
      return true;
    }
    if (v.is_string()) {
      std::string s = v.get<std::string>();
      if (s == "nan") {
        out = NAN;
        return true;
      }
      if (s == "inf" || s == "-inf") {
        out = s == "inf" ? INFINITY : -INFINITY;
        return true;
      }
    }
    return fail(path, "must be a number");
  }
  bool real(const ordered_json &obj, const std::string &path, const char *key,
            double &out, bool required = true) {
    const ordered_json *v = field(obj, path, key, required);
    if (!v)
      return !required && error.empty();
    return numberValue(*v, path + "." + key, out);
  }
  bool boolean(const ordered_json &obj, const std::string &path,
               const char *key, bool &out, bool required = true) {
    const ordered_json *v = field(obj, path, key, required);
    if (!v)
      return !required && error.empty();
    if (!v->is_boolean())
      return fail(path + "." + key, "must be true or false");
    out = v->get<bool>();
    return true;
  }
  template <typename T>
  bool ints(const ordered_json &obj, const std::string &path, const char *key,
            std::vector<T> &out, bool required = true) {
    const ordered_json *v = field(obj, path, key, required);
    if (!v)
      return !required && error.empty();
    std::string p = path + "." + key;
    if (!v->is_array())
      return fail(p, "must be an array of integers");
    out.clear();
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_number_integer())
        return fail(p + "[" + std::to_string(i) + "]", "must be an integer");
      out.push_back(static_cast<T>((*v)[i].get<int64_t>()));
    }
    return true;
  }
  bool reals(const ordered_json &obj, const std::string &path, const char *key,
             std::vector<double> &out, bool required = true) {
    const ordered_json *v = field(obj, path, key, required);
    if (!v)
      return !required && error.empty();
    std::string p = path + "." + key;
    if (!v->is_array())
      return fail(p, "must be an array of numbers");
    out.clear();
    out.reserve(v->size());
    for (size_t i = 0; i < v->size(); ++i) {
      double d;
      if (!numberValue((*v)[i], p + "[" + std::to_string(i) + "]", d))
        return false;
      out.push_back(d);
    }
    return true;
  }
  const ordered_json *array(const ordered_json &obj, const std::string &path,
                            const char *key, bool required = true) {
    const ordered_json *v = field(obj, path, key, required);
    if (!v)
      return nullptr;
    if (!v->is_array()) {
      fail(path + "." + key, "must be an array");
      return nullptr;
    }
    return v;
  }
  bool integer(const ordered_json &v, const std::string &path, int64_t &out) {
    if (!v.is_number_integer())
      return fail(path, "must be an integer");
    out = v.get<int64_t>();
    return true;
  }
  /// A JSON number only (no "nan"/"inf" strings, which `real` accepts).
  bool number(const ordered_json &obj, const std::string &path, const char *key,
              double &out) {
    const ordered_json *v = field(obj, path, key);
    if (!v)
      return false;
    if (!v->is_number())
      return fail(path + "." + key, "must be a number");
    out = v->get<double>();
    return true;
  }
};

} // namespace soap

#endif // SOAP_SUPPORT_JSONREADER_H
