// SPDX-License-Identifier: Apache-2.0
#include "common/json_fields.h"

namespace syspgo {
namespace {

Status Missing(const char* key) { return Corruption(std::string("missing field '") + key + "'"); }
Status NotA(const char* key, const char* type) {
  return Corruption(std::string("field '") + key + "' is not " + type);
}

// The field, or nullptr when it is missing or null.
const Json* Find(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

Result<Json> ParseJsonObject(std::string_view text, std::string_view what) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corruption(std::string(what) + " is not valid JSON");
  if (!j.is_object()) return Corruption(std::string(what) + " is not a JSON object");
  return j;
}

Result<std::string> GetString(const Json& obj, const char* key, bool required) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return required ? Result<std::string>(Missing(key)) : std::string();
  if (!v->is_string()) return NotA(key, "a string");
  return v->get<std::string>();
}

Result<uint64_t> GetUint64(const Json& obj, const char* key, bool required) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return required ? Result<uint64_t>(Missing(key)) : uint64_t{0};
  if (!v->is_number_unsigned()) return NotA(key, "a whole number of 0 or more");
  return v->get<uint64_t>();
}

Result<int64_t> GetInt64(const Json& obj, const char* key, bool required) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return required ? Result<int64_t>(Missing(key)) : int64_t{0};
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{INT64_MAX}) {
      return NotA(key, "a whole number in range");
    }
    return v->get<int64_t>();
  }
  return NotA(key, "a whole number");
}

Result<double> GetDouble(const Json& obj, const char* key, bool required) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return required ? Result<double>(Missing(key)) : 0.0;
  if (!v->is_number()) return NotA(key, "a number");
  return v->get<double>();
}

Result<bool> GetBool(const Json& obj, const char* key, bool required) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return required ? Result<bool>(Missing(key)) : false;
  if (!v->is_boolean()) return NotA(key, "true or false");
  return v->get<bool>();
}

Result<std::vector<std::string>> GetStringArray(const Json& obj, const char* key, bool required) {
  std::vector<std::string> out;
  const Json* v = Find(obj, key);
  if (v == nullptr) {
    if (required) return Missing(key);
    return out;
  }
  if (!v->is_array()) return NotA(key, "an array");
  for (const Json& e : *v) {
    if (!e.is_string()) return Corruption(std::string("field '") + key + "' holds a non-string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<std::map<std::string, std::string>> GetStringMap(const Json& obj, const char* key) {
  std::map<std::string, std::string> out;
  const Json* v = Find(obj, key);
  if (v == nullptr) return out;
  if (!v->is_object()) return NotA(key, "an object");
  for (auto kv = v->begin(); kv != v->end(); ++kv) {
    if (!kv.value().is_string()) {
      return Corruption(std::string("field '") + key + "." + kv.key() + "' is not a string");
    }
    out[kv.key()] = kv.value().get<std::string>();
  }
  return out;
}

}  // namespace syspgo
