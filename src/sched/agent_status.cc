// SPDX-License-Identifier: Apache-2.0
#include "sched/agent_status.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/file_util.h"
#include "common/json_fields.h"

namespace syspgo::sched {
namespace {

constexpr char kStatusFile[] = "agent-status.json";

}  // namespace

std::string SerializeAgentStatus(const AgentStatus& status) {
  Json rules = Json::array();
  for (const AgentRuleStatus& r : status.rules) {
    rules.push_back({{"name", r.name},
                     {"engaged", r.engaged},
                     {"engagements", r.engagements},
                     {"escapes", r.escapes}});
  }
  Json escapes = Json::array();
  for (const AgentEscapeStatus& e : status.escapes) {
    escapes.push_back({{"rule", e.rule},
                       {"pid", e.pid},
                       {"tid", e.tid},
                       {"comm", e.comm},
                       {"count", e.count},
                       {"seconds_ago", e.seconds_ago}});
  }
  Json j = {{"pid", status.pid},
            {"updated_unix", status.updated_unix},
            {"rules", std::move(rules)},
            {"escapes", std::move(escapes)}};
  return j.dump(1) + "\n";
}

Result<AgentStatus> ParseAgentStatus(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseJsonObject(text, kStatusFile));
  AgentStatus st;
  ASSIGN_OR_RETURN(uint64_t pid, GetUint64(j, "pid", true));
  if (pid == 0 || pid > INT32_MAX) return Corruption(std::string(kStatusFile) + ": bad pid");
  st.pid = static_cast<pid_t>(pid);
  ASSIGN_OR_RETURN(st.updated_unix, GetUint64(j, "updated_unix"));
  auto array = [&](const char* key) -> Result<const Json*> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return static_cast<const Json*>(nullptr);
    if (!it->is_array()) return Corruption(std::string(kStatusFile) + ": " + key + " is no array");
    return &*it;
  };
  ASSIGN_OR_RETURN(const Json* rules, array("rules"));
  for (size_t i = 0; rules && i < rules->size(); ++i) {
    const Json& r = (*rules)[i];
    AgentRuleStatus rs;
    ASSIGN_OR_RETURN(rs.name, GetString(r, "name", true));
    ASSIGN_OR_RETURN(rs.engaged, GetBool(r, "engaged"));
    ASSIGN_OR_RETURN(rs.engagements, GetUint64(r, "engagements"));
    ASSIGN_OR_RETURN(rs.escapes, GetUint64(r, "escapes"));
    st.rules.push_back(std::move(rs));
  }
  ASSIGN_OR_RETURN(const Json* escapes, array("escapes"));
  for (size_t i = 0; escapes && i < escapes->size(); ++i) {
    const Json& e = (*escapes)[i];
    AgentEscapeStatus es;
    ASSIGN_OR_RETURN(es.rule, GetString(e, "rule", true));
    ASSIGN_OR_RETURN(uint64_t p, GetUint64(e, "pid"));
    ASSIGN_OR_RETURN(uint64_t t, GetUint64(e, "tid"));
    if (p > INT32_MAX || t > INT32_MAX) return Corruption(std::string(kStatusFile) + ": bad pid");
    es.pid = static_cast<pid_t>(p);
    es.tid = static_cast<pid_t>(t);
    ASSIGN_OR_RETURN(es.comm, GetString(e, "comm"));
    ASSIGN_OR_RETURN(es.count, GetUint64(e, "count"));
    ASSIGN_OR_RETURN(es.seconds_ago, GetUint64(e, "seconds_ago"));
    st.escapes.push_back(std::move(es));
  }
  return st;
}

Status WriteAgentStatus(const std::string& state_dir, const AgentStatus& status) {
  return WriteFileAtomic(JoinPath(state_dir, kStatusFile), SerializeAgentStatus(status), 0600,
                         false);
}

Result<std::optional<AgentStatus>> ReadAgentStatus(const std::string& state_dir) {
  auto text = ReadFileToString(JoinPath(state_dir, kStatusFile), 1 << 20);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::optional<AgentStatus>();
    return text.status();
  }
  ASSIGN_OR_RETURN(AgentStatus st, ParseAgentStatus(*text));
  // A status left by an agent that was killed says nothing now.
  if (::kill(st.pid, 0) != 0 && errno == ESRCH) return std::optional<AgentStatus>();
  return std::optional<AgentStatus>(std::move(st));
}

void RemoveAgentStatus(const std::string& state_dir) {
  ::unlink(JoinPath(state_dir, kStatusFile).c_str());
}

std::string AgentStatusText(const AgentStatus& status, size_t max_tasks) {
  bool any = !status.escapes.empty();
  for (const AgentRuleStatus& r : status.rules) any = any || r.engaged;
  if (!any) return "";
  std::string out = "agent (pid " + std::to_string(status.pid) + "):";
  for (const AgentRuleStatus& r : status.rules) {
    out += " " + r.name + (r.engaged ? " engaged" : " idle");
    if (r.escapes) out += " (" + std::to_string(r.escapes) + " put-backs)";
    out += ";";
  }
  out.back() = '\n';
  if (!status.escapes.empty()) {
    out += "tasks undoing the agent's changes (put back each time):\n";
    char line[160];
    std::snprintf(line, sizeof(line), "  %-20s %-8s %-8s %-16s %8s %s\n", "RULE", "PID", "TID",
                  "COMM", "ESCAPES", "LAST");
    out += line;
    for (size_t i = 0; i < status.escapes.size() && i < max_tasks; ++i) {
      const AgentEscapeStatus& e = status.escapes[i];
      std::snprintf(line, sizeof(line), "  %-20.20s %-8d %-8d %-16.16s %8llu %llus ago\n",
                    e.rule.c_str(), e.pid, e.tid, e.comm.c_str(),
                    static_cast<unsigned long long>(e.count),
                    static_cast<unsigned long long>(e.seconds_ago));
      out += line;
    }
  }
  return out;
}

}  // namespace syspgo::sched
