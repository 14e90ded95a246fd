// SPDX-License-Identifier: Apache-2.0
#ifndef SYSPGO_COMMON_BASE64_H_
#define SYSPGO_COMMON_BASE64_H_

#include <optional>
#include <string>
#include <string_view>

namespace syspgo {

std::string Base64Encode(std::string_view data);
// Standard alphabet; padding optional; whitespace is not accepted.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace syspgo

#endif  // SYSPGO_COMMON_BASE64_H_
