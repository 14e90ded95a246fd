// SPDX-License-Identifier: Apache-2.0
// File: common/json_fields.h
//
// Reading JSON that came from elsewhere (a registry, a file another host
// wrote) without trusting its types: every accessor checks the type and
// returns a Status naming the field, never throws (nlohmann's get<T>() and
// value() throw on a mismatch, which aborted `syspgo profile pull` on a
// number where a string belonged).
//
//   ASSIGN_OR_RETURN(Json j, ParseJsonObject(text, "profiles.json"));
//   ASSIGN_OR_RETURN(std::string id, GetString(j, "build_id", /*required=*/true));
//   ASSIGN_OR_RETURN(uint64_t n, GetUint64(j, "samples"));  // 0 when missing
#ifndef SYSPGO_COMMON_JSON_FIELDS_H_
#define SYSPGO_COMMON_JSON_FIELDS_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace syspgo {

using Json = nlohmann::json;

// `text` as a JSON object; Corruption naming `what` otherwise.
Result<Json> ParseJsonObject(std::string_view text, std::string_view what);

// A missing (or null) field is "" / 0 / false / empty unless `required`.
Result<std::string> GetString(const Json& obj, const char* key, bool required = false);
Result<uint64_t> GetUint64(const Json& obj, const char* key, bool required = false);
Result<int64_t> GetInt64(const Json& obj, const char* key, bool required = false);
Result<double> GetDouble(const Json& obj, const char* key, bool required = false);
Result<bool> GetBool(const Json& obj, const char* key, bool required = false);
Result<std::vector<std::string>> GetStringArray(const Json& obj, const char* key,
                                                bool required = false);
Result<std::map<std::string, std::string>> GetStringMap(const Json& obj, const char* key);

}  // namespace syspgo

#endif  // SYSPGO_COMMON_JSON_FIELDS_H_
