// SPDX-License-Identifier: Apache-2.0
// File: sched/agent_status.h
//
// What a running agent tells other commands (`syspgo sched top`, `sched
// status`): its rules' state and the tasks that keep undoing its changes.
// The agent rewrites STATE_DIR/agent-status.json (0600) every second and
// removes it when it stops; a reader takes it only while the agent that
// wrote it runs.
//
//   {"pid": 4242, "updated_unix": 1796000000,
//    "rules": [{"name": "protect-online", "engaged": true, "engagements": 3,
//               "escapes": 41}],
//    "escapes": [{"rule": "protect-online", "pid": 977, "tid": 977,
//                 "comm": "batch", "count": 41, "seconds_ago": 0}]}
#ifndef SYSPGO_SCHED_AGENT_STATUS_H_
#define SYSPGO_SCHED_AGENT_STATUS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace syspgo::sched {

struct AgentRuleStatus {
  std::string name;
  bool engaged = false;
  uint64_t engagements = 0;
  uint64_t escapes = 0;  // put-backs since the agent started
};

struct AgentEscapeStatus {
  std::string rule;
  pid_t pid = 0;
  pid_t tid = 0;
  std::string comm;
  uint64_t count = 0;
  uint64_t seconds_ago = 0;  // since the last put-back
};

struct AgentStatus {
  pid_t pid = 0;
  uint64_t updated_unix = 0;
  std::vector<AgentRuleStatus> rules;
  std::vector<AgentEscapeStatus> escapes;  // most put-backs first
};

std::string SerializeAgentStatus(const AgentStatus& status);
Result<AgentStatus> ParseAgentStatus(std::string_view text);

Status WriteAgentStatus(const std::string& state_dir, const AgentStatus& status);
// The running agent's status; nullopt when no agent runs (no file, or its
// writer is gone).
Result<std::optional<AgentStatus>> ReadAgentStatus(const std::string& state_dir);
void RemoveAgentStatus(const std::string& state_dir);
// `sched top`'s lines for it: the rules and the tasks that keep escaping
// (at most `max_tasks`); "" when nothing is engaged and nobody escaped.
std::string AgentStatusText(const AgentStatus& status, size_t max_tasks);

}  // namespace syspgo::sched

#endif  // SYSPGO_SCHED_AGENT_STATUS_H_
