// SPDX-License-Identifier: Apache-2.0
#include "run/bundle.h"

#include <sys/resource.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/file_util.h"

namespace syspgo::run {
namespace {

using Json = nlohmann::json;

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

bool ParseId(const std::string& s, uint32_t* out) {
  if (s.empty() || s.size() > 10 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  uint64_t v = std::stoull(s);
  if (v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// Lines of a colon-separated database file in the rootfs (missing: empty).
std::vector<std::vector<std::string>> ReadDb(const std::string& rootfs, const char* file) {
  std::vector<std::vector<std::string>> rows;
  auto text = ReadFileToString(JoinPath(rootfs, file), 4 << 20);
  if (!text.ok()) return rows;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    rows.push_back(Split(line, ':'));
  }
  return rows;
}

}  // namespace

Result<ProcessUser> ResolveUser(const std::string& spec, const std::string& rootfs) {
  ProcessUser user;
  if (spec.empty()) return user;
  std::string user_part = spec, group_part;
  if (size_t colon = spec.find(':'); colon != std::string::npos) {
    user_part = spec.substr(0, colon);
    group_part = spec.substr(colon + 1);
  }
  auto passwd = ReadDb(rootfs, "etc/passwd");
  std::string user_name;
  bool found = false;
  if (ParseId(user_part, &user.uid)) {
    found = true;
    for (const auto& row : passwd) {
      uint32_t id;
      if (row.size() >= 4 && ParseId(row[2], &id) && id == user.uid) {
        user_name = row[0];
        if (!ParseId(row[3], &user.gid)) user.gid = 0;
        break;
      }
    }
  } else {
    for (const auto& row : passwd) {
      if (row.size() >= 4 && row[0] == user_part && ParseId(row[2], &user.uid) &&
          ParseId(row[3], &user.gid)) {
        user_name = row[0];
        found = true;
        break;
      }
    }
  }
  if (!found) {
    return NotFound("user '" + user_part + "' is not in the image's /etc/passwd");
  }
  auto group = ReadDb(rootfs, "etc/group");
  if (!group_part.empty()) {
    if (!ParseId(group_part, &user.gid)) {
      bool group_found = false;
      for (const auto& row : group) {
        if (row.size() >= 3 && row[0] == group_part && ParseId(row[2], &user.gid)) {
          group_found = true;
          break;
        }
      }
      if (!group_found) {
        return NotFound("group '" + group_part + "' is not in the image's /etc/group");
      }
    }
  }
  if (!user_name.empty()) {
    for (const auto& row : group) {
      if (row.size() < 4) continue;
      uint32_t gid;
      if (!ParseId(row[2], &gid) || gid == user.gid) continue;
      for (const std::string& member : Split(row[3], ',')) {
        if (member == user_name) user.additional_gids.push_back(gid);
      }
    }
  }
  return user;
}

Result<ContainerSpec> MakeContainerSpec(const oci::ImageConfig& config,
                                        const std::vector<std::string>& command,
                                        const std::optional<std::vector<std::string>>& entrypoint,
                                        const std::vector<std::string>& extra_env,
                                        const std::string& rootfs) {
  ContainerSpec spec;
  spec.args = entrypoint ? *entrypoint : config.entrypoint;
  const auto& cmd = command.empty() ? config.cmd : command;
  spec.args.insert(spec.args.end(), cmd.begin(), cmd.end());
  if (spec.args.empty()) {
    return InvalidArgument("the image has no Entrypoint or Cmd; give a command after --");
  }
  // Later entries win; keep the first position of each name.
  std::vector<std::string> env = config.env;
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  auto name_of = [](const std::string& e) { return e.substr(0, e.find('=')); };
  for (const std::string& e : env) {
    auto it = std::find_if(spec.env.begin(), spec.env.end(),
                           [&](const std::string& x) { return name_of(x) == name_of(e); });
    if (it != spec.env.end()) {
      *it = e;
    } else {
      spec.env.push_back(e);
    }
  }
  if (std::none_of(spec.env.begin(), spec.env.end(),
                   [&](const std::string& e) { return name_of(e) == "PATH"; })) {
    spec.env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  spec.env.push_back("HOSTNAME=" + spec.hostname);
  spec.cwd = config.working_dir.empty() ? "/" : config.working_dir;
  if (spec.cwd.front() != '/') spec.cwd = "/" + spec.cwd;
  ASSIGN_OR_RETURN(spec.user, ResolveUser(config.user, rootfs));
  // As many open files as we may have ourselves (the kernel caps the hard
  // limit at fs.nr_open, which differs between hosts).
  struct rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_max != RLIM_INFINITY) {
    spec.nofile_limit = limit.rlim_max;
  }
  return spec;
}

std::string RuntimeSpecJson(const ContainerSpec& spec) {
  const std::vector<std::string> caps = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE"};
  Json user = {{"uid", spec.user.uid}, {"gid", spec.user.gid}};
  if (!spec.user.additional_gids.empty()) {
    user["additionalGids"] = spec.user.additional_gids;
  }
  Json process = {
      {"terminal", false},
      {"user", user},
      {"args", spec.args},
      {"env", spec.env},
      {"cwd", spec.cwd},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"rlimits", Json::array({{{"type", "RLIMIT_NOFILE"},
                                {"hard", spec.nofile_limit},
                                {"soft", spec.nofile_limit}}})},
      {"noNewPrivileges", false},
  };
  Json mounts = Json::array({
      {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/sys"},
       {"type", "sysfs"},
       {"source", "sysfs"},
       {"options", {"nosuid", "noexec", "nodev", "ro"}}},
  });
  // Host network: the host's name resolution files, read-only.
  for (const char* file : {"/etc/resolv.conf", "/etc/hosts"}) {
    if (PathExists(file)) {
      mounts.push_back({{"destination", file},
                        {"type", "bind"},
                        {"source", file},
                        {"options", {"rbind", "ro", "nosuid", "nodev", "noexec"}}});
    }
  }
  Json linux_section = {
      {"namespaces",
       Json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}})},
      {"resources", {{"devices", Json::array({{{"allow", false}, {"access", "rwm"}}})}}},
      {"maskedPaths",
       {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
        "/sys/firmware"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
  };
  if (!spec.cgroups_path.empty()) linux_section["cgroupsPath"] = spec.cgroups_path;
  Json doc = {
      {"ociVersion", "1.0.2"},
      {"process", process},
      {"root", {{"path", "rootfs"}, {"readonly", false}}},
      {"hostname", spec.hostname},
      {"mounts", mounts},
      {"linux", linux_section},
  };
  return doc.dump(2);
}

}  // namespace syspgo::run
