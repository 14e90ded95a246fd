// SPDX-License-Identifier: Apache-2.0
// Unit tests of scheduling: histogram buckets and quantiles, durations,
// policies, the tag store and effective tags, and the enforcer's journal:
// changes made, undone, and undone by the next start after a SIGKILL.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>

#include "common/file_util.h"
#include "common/procfs.h"
#include "sched/agent.h"
#include "sched/agent_status.h"
#include "sched/enforcer.h"
#include "sched/histogram.h"
#include "sched/policy.h"
#include "sched/report.h"
#include "sched/tags.h"

namespace syspgo::sched {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/sched_test.XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d ? d : "";
}

TEST(Histogram, BucketsCoverEveryValueOnce) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = rng() >> (rng() % 60);
    const uint32_t b = BucketOf(v);
    ASSERT_LT(b, static_cast<uint32_t>(SCHED_HIST_BUCKETS));
    if (b + 1 < SCHED_HIST_BUCKETS) {
      EXPECT_LE(BucketLower(b), v) << v;
      EXPECT_LT(v, BucketUpper(b)) << v;
    }
  }
  for (uint64_t v : {0ull, 3ull, 4ull, 5ull, 7ull, 8ull, 1000ull, 1023ull, 1024ull, 200000ull}) {
    const uint32_t b = BucketOf(v);
    EXPECT_LE(BucketLower(b), v);
    EXPECT_LT(v, BucketUpper(b));
    // at most 25% wide
    if (v >= 8) {
      EXPECT_LE(BucketUpper(b) - BucketLower(b), BucketLower(b) / 4 + 1);
    }
  }
  EXPECT_EQ(BucketOf(4), 8u);
  EXPECT_EQ(BucketUpper(8), 5u);
}

TEST(Histogram, QuantilesAndWindows) {
  Histogram h;
  for (int i = 0; i < 990; ++i) h.Add(10'000);    // 10 us
  for (int i = 0; i < 10; ++i) h.Add(1'000'000);  // 1 ms
  EXPECT_EQ(h.count, 1000u);
  EXPECT_GE(h.Quantile(0.5), 10'000u);
  EXPECT_LE(h.Quantile(0.5), 12'500u);
  EXPECT_LE(h.Quantile(0.99), 12'500u);  // the 990th sample is still 10 us
  EXPECT_GE(h.Quantile(0.999), 1'000'000u);
  EXPECT_LE(h.Quantile(0.999), 1'000'000u);  // capped at the max
  Histogram later = h;
  for (int i = 0; i < 100; ++i) later.Add(500'000);
  const Histogram w = later.Minus(h);
  EXPECT_EQ(w.count, 100u);
  EXPECT_GE(w.Quantile(0.5), 500'000u);
  EXPECT_LE(w.Quantile(0.99), 625'000u);  // bounded by the window's own buckets
  EXPECT_EQ(Histogram().Quantile(0.99), 0u);
  EXPECT_EQ(h.CountAtMost(12'500), 990u);
  EXPECT_EQ(h.CountAtMost(5'000), 0u);
}

TEST(Duration, ParsesUnitsAndRefusesBareNumbers) {
  uint64_t ns = 0;
  ASSERT_TRUE(ParseDurationNs("200us", &ns));
  EXPECT_EQ(ns, 200'000u);
  ASSERT_TRUE(ParseDurationNs("1.5ms", &ns));
  EXPECT_EQ(ns, 1'500'000u);
  ASSERT_TRUE(ParseDurationNs("2s", &ns));
  EXPECT_EQ(ns, 2'000'000'000u);
  EXPECT_FALSE(ParseDurationNs("200", &ns));
  EXPECT_FALSE(ParseDurationNs("-1ms", &ns));
  EXPECT_FALSE(ParseDurationNs("ms", &ns));
  EXPECT_FALSE(ParseDurationNs("5 minutes", &ns));
  EXPECT_EQ(FormatNs(1'500'000), "1.5ms");
  EXPECT_EQ(FormatNs(87'000), "87us");
}

constexpr char kPolicy[] = R"(# the benchmark's policy
[rule protect-online]
watch = online
when = runq_p99 > 200us   # per window
window = 100ms
min_samples = 5
target = batch
action = sched_idle
restore_below = 100us
restore_after = 2s
restore_cpu_below = 5%

[rule pin]
watch = latency:200us
when = runq_max > 1ms
target = batch
action = affinity 1,3-4
restore_below = 500us
)";

TEST(Policy, ParsesRules) {
  auto p = ParsePolicy(kPolicy, "test.policy");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->rules.size(), 2u);
  const Rule& r = p->rules[0];
  EXPECT_EQ(r.name, "protect-online");
  EXPECT_EQ(r.watch, "online");
  EXPECT_EQ(r.metric, Metric::kP99);
  EXPECT_EQ(r.above_ns, 200'000u);
  EXPECT_EQ(r.window_ns, 100'000'000u);
  EXPECT_EQ(r.min_samples, 5u);
  EXPECT_EQ(r.action, ActionKind::kSchedIdle);
  EXPECT_EQ(r.restore_below_ns, 100'000u);
  EXPECT_EQ(r.restore_after_ns, 2'000'000'000u);
  ASSERT_TRUE(r.restore_cpu_below.has_value());
  EXPECT_DOUBLE_EQ(*r.restore_cpu_below, 0.05);
  const Rule& q = p->rules[1];
  EXPECT_EQ(q.metric, Metric::kMax);
  EXPECT_EQ(q.action, ActionKind::kAffinity);
  EXPECT_EQ(q.cpus, (std::vector<int>{1, 3, 4}));
  EXPECT_FALSE(q.restore_cpu_below.has_value());
  EXPECT_NE(r.Describe().find("online"), std::string::npos);
}

TEST(Policy, RefusesMistakesNamingTheLine) {
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {"watch = a\n", ":1: a key before any [rule NAME]"},
      {"[rule r]\nwatch = a\nwhen = runq_p99 > 200\ntarget = b\naction = sched_idle\nrestore_below "
       "= 1us\n",
       ":3:"},
      {"[rule r]\nwatch = a\nwhen = p99 > 200us\n", "unknown metric"},
      {"[rule r]\nwatch = a\nwhen = runq_p99 > 200us\ntarget = b\naction = nice\n",
       "unknown action"},
      {"[rule r]\nwatch = a\nwhen = runq_p99 > 200us\ntarget = b\naction = sched_idle\n",
       "no 'restore_below'"},
      {"[rule r]\nwatch = a\nwhen = runq_p99 > 200us\ntarget = a\naction = "
       "sched_idle\nrestore_below = 1us\n",
       "same tag"},
      {"[rule r]\nwatch = a\nwhen = runq_p99 > 200us\ntarget = b\naction = "
       "sched_idle\nrestore_below = 1ms\n",
       "above the 'when'"},
      {"[rule r]\nwatch = A\n", "lower-case"},
      {"[rule r]\nwatch = a\nwatch = b\n", "given twice"},
      {"[rule r]\ncolour = red\n", "unknown key"},
      {"", "no [rule NAME]"},
      {"[rule r]\nwatch = a\nwhen = runq_p99 > 200us\ntarget = b\naction = affinity 3-1\n",
       "bad CPU list"},
  };
  for (const Case& c : cases) {
    auto p = ParsePolicy(c.text, "p");
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_NE(p.status().ToString().find(c.says), std::string::npos) << p.status().ToString();
  }
}

TEST(Policy, TheShippedExampleParses) {
  auto p = LoadPolicy(std::string(SYSPGO_SOURCE_DIR) + "/examples/sched/online-batch.policy");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->rules[0].watch, "online");
  EXPECT_EQ(p->rules[0].target, "batch");
}

TEST(Tags, NamesAreChecked) {
  EXPECT_TRUE(ValidateTagName("online").ok());
  EXPECT_TRUE(ValidateTagName("latency:200us").ok());
  EXPECT_TRUE(ValidateTagName("a.b_c-d").ok());
  EXPECT_FALSE(ValidateTagName("").ok());
  EXPECT_FALSE(ValidateTagName("Online").ok());
  EXPECT_FALSE(ValidateTagName("-x").ok());
  EXPECT_FALSE(ValidateTagName("a b").ok());
  EXPECT_FALSE(ValidateTagName(std::string(64, 'a')).ok());
}

TEST(Tags, StorePersistsPrunesAndPassesTagsToChildren) {
  const std::string dir = TempDir();
  Target self;
  self.kind = TargetKind::kProcess;
  self.id = ::getpid();
  self.start_time = *ProcStartTime(self.id);
  // A child that exits at once: its entry is dropped when the store is written.
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  Target dead = self;
  dead.id = gone;
  dead.start_time = *ProcStartTime(gone);
  ::waitpid(gone, nullptr, 0);
  auto s = TagStore::Update(dir, [&](TagStore* st) {
    st->Set(self, "online");
    st->Set(dead, "batch");
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->entries().size(), 1u);
  struct stat st;
  ASSERT_EQ(::stat((dir + "/tags.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = TagStore::Load(dir);
  ASSERT_TRUE(loaded.ok());
  ASSERT_NE(loaded->Find(self), nullptr);
  EXPECT_EQ(loaded->Find(self)->tag, "online");
  const uint32_t online = *loaded->FindId("online");
  const uint32_t batch = *loaded->FindId("batch");  // ids are never reused
  EXPECT_NE(online, batch);
  EXPECT_EQ(loaded->NameOf(online), "online");
  EXPECT_EQ(loaded->NameOf(0), "");

  // A child process takes its parent's tag; a pid with another start time does not.
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    char c;
    (void)!::read(pipefd[0], &c, 1);
    ::_exit(0);
  }
  std::string why;
  EXPECT_EQ(EffectiveTag(*loaded, child, child, &why), "online");
  EXPECT_NE(why.find("inherited from pid"), std::string::npos) << why;
  Target other = self;
  other.start_time += 1;
  EXPECT_EQ(loaded->Find(other), nullptr);
  EXPECT_FALSE(TargetAlive(other));
  (void)!::write(pipefd[1], "x", 1);
  ::waitpid(child, nullptr, 0);
  ::close(pipefd[0]);
  ::close(pipefd[1]);
  EXPECT_TRUE(RemoveTree(dir).ok());
}

TEST(Journal, RecordsRoundTrip) {
  JournalRecord r{"protect-online", "sched", 42, 12345, "0 0 0 0"};
  auto d = JournalRecord::Decode(r.Encode().substr(0, r.Encode().size() - 1));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->rule, r.rule);
  EXPECT_EQ(d->kind, r.kind);
  EXPECT_EQ(d->id, 42);
  EXPECT_EQ(d->start_time, 12345u);
  EXPECT_EQ(d->value, r.value);
  EXPECT_FALSE(JournalRecord::Decode("half a line").ok());
}

// A process that sleeps until killed, with two threads.
pid_t StartSleeper() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::pause();
    ::_exit(0);
  }
  return pid;
}

int PolicyOf(pid_t tid) { return ::sched_getscheduler(tid); }

Rule IdleRule(const std::string& name) {
  Rule r;
  r.name = name;
  r.watch = "online";
  r.target = "batch";
  r.action = ActionKind::kSchedIdle;
  return r;
}

TEST(Enforcer, AppliesAndUndoes) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (SCHED_IDLE back to SCHED_OTHER)";
  const std::string dir = TempDir();
  const pid_t a = StartSleeper();
  size_t recovered = 99;
  auto e = Enforcer::Open(dir, nullptr, &recovered);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(recovered, 0u);
  // One agent per node.
  size_t r2 = 0;
  auto second = Enforcer::Open(dir, nullptr, &r2);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().ToString().find("another syspgo sched agent"), std::string::npos);

  const Rule rule = IdleRule("r1");
  auto n = (*e)->Apply(rule, {{a, a}});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(PolicyOf(a), SCHED_IDLE);
  EXPECT_EQ(*(*e)->Apply(rule, {{a, a}}), 0u);  // once per task
  EXPECT_TRUE((*e)->Engaged("r1"));
  // The journal says how to undo it, and is private.
  auto text = ReadFileToString(dir + "/journal");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("r1\tsched\t" + std::to_string(a)), std::string::npos) << *text;
  struct stat st;
  ASSERT_EQ(::stat((dir + "/journal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto undone = (*e)->Undo("r1");
  ASSERT_TRUE(undone.ok()) << undone.status().ToString();
  EXPECT_EQ(*undone, 1u);
  EXPECT_EQ(PolicyOf(a), SCHED_OTHER);
  EXPECT_FALSE((*e)->Engaged("r1"));

  // Affinity, then UndoAll.
  Rule pin = IdleRule("r2");
  pin.action = ActionKind::kAffinity;
  pin.cpus = {0};
  cpu_set_t before;
  ASSERT_EQ(::sched_getaffinity(a, sizeof(before), &before), 0);
  ASSERT_TRUE((*e)->Apply(pin, {{a, a}}).ok());
  cpu_set_t now;
  ASSERT_EQ(::sched_getaffinity(a, sizeof(now), &now), 0);
  EXPECT_EQ(CPU_COUNT(&now), 1);
  ASSERT_TRUE((*e)->UndoAll().ok());
  ASSERT_EQ(::sched_getaffinity(a, sizeof(now), &now), 0);
  EXPECT_TRUE(CPU_EQUAL(&now, &before));
  EXPECT_FALSE(PathExists(dir + "/journal"));
  ::kill(a, SIGKILL);
  ::waitpid(a, nullptr, 0);
  e->reset();
  EXPECT_TRUE(RemoveTree(dir).ok());
}

TEST(Enforcer, TheNextStartUndoesWhatAKilledAgentLeft) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (SCHED_IDLE back to SCHED_OTHER)";
  const std::string dir = TempDir();
  const pid_t a = StartSleeper();
  const pid_t b = StartSleeper();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t agent = ::fork();
  if (agent == 0) {
    size_t rec = 0;
    auto e = Enforcer::Open(dir, nullptr, &rec);
    if (!e.ok() || !(*e)->Apply(IdleRule("r"), {{a, a}, {b, b}}).ok()) ::_exit(1);
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  EXPECT_EQ(PolicyOf(a), SCHED_IDLE);
  EXPECT_EQ(PolicyOf(b), SCHED_IDLE);
  ::kill(agent, SIGKILL);
  ::waitpid(agent, nullptr, 0);
  EXPECT_EQ(PolicyOf(a), SCHED_IDLE);  // nothing undid it yet
  // b exits and its pid may be reused: the undo must not touch another task.
  ::kill(b, SIGKILL);
  ::waitpid(b, nullptr, 0);
  size_t recovered = 0;
  auto e = Enforcer::Open(dir, nullptr, &recovered);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(recovered, 2u);  // a restored; b's record skipped as gone (counted: nothing to do)
  EXPECT_EQ(PolicyOf(a), SCHED_OTHER);
  ::kill(a, SIGKILL);
  ::waitpid(a, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  e->reset();
  EXPECT_TRUE(RemoveTree(dir).ok());
}

// Issue 25: a record for a live task whose attributes cannot be read
// stopped every later agent. It is set aside in journal.bad with the
// reason; the rest is undone; the agent opens.
TEST(Enforcer, ACorruptJournalRecordIsSetAsideNotFatal) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (SCHED_IDLE back to SCHED_OTHER)";
  const std::string dir = TempDir();
  ASSERT_TRUE(MakePrivateDir(dir).ok());
  const pid_t a = StartSleeper();
  const pid_t b = StartSleeper();
  sched_param none{};
  ASSERT_EQ(::sched_setscheduler(a, SCHED_IDLE, &none), 0);
  const std::string journal =
      JournalRecord{"r", "sched", a, *ProcStartTime(a), "0 0 0 0"}.Encode() +
      JournalRecord{"r", "sched", b, *ProcStartTime(b), "not attributes"}.Encode() +
      "r\tsched\tnot-a-pid\t1\t0 0 0 0\n" + "r\tsched\t1\t1";  // a torn last line
  ASSERT_TRUE(WriteFileAtomic(dir + "/journal", journal, 0600).ok());
  size_t recovered = 0;
  auto e = Enforcer::Open(dir, nullptr, &recovered);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(recovered, 1u);
  EXPECT_EQ(PolicyOf(a), SCHED_OTHER) << "the good record is undone";
  auto bad = ReadFileToString(dir + "/journal.bad");
  ASSERT_TRUE(bad.ok());
  EXPECT_NE(bad->find("not attributes"), std::string::npos) << *bad;
  EXPECT_NE(bad->find("not-a-pid"), std::string::npos) << *bad;
  EXPECT_NE(bad->find("# corruption: "), std::string::npos) << *bad;
  EXPECT_EQ(bad->find("r\tsched\t1\t1\n"), std::string::npos) << "a torn last line is dropped";
  // The next start has nothing to undo.
  e->reset();
  size_t again = 99;
  auto next = Enforcer::Open(dir, nullptr, &again);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(again, 0u);
  for (pid_t p : {a, b}) {
    ::kill(p, SIGKILL);
    ::waitpid(p, nullptr, 0);
  }
  next->reset();
  EXPECT_TRUE(RemoveTree(dir).ok());
}

// Issue 25: a demoted task that sets its own policy or affinity back is
// put back at the next Enforce, counted, and its original kept for the
// undo; one that exited is dropped.
TEST(Enforcer, TasksThatUndoTheChangeArePutBack) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (SCHED_IDLE back to SCHED_OTHER)";
  const std::string dir = TempDir();
  const pid_t a = StartSleeper();
  size_t recovered = 0;
  auto e = Enforcer::Open(dir, nullptr, &recovered);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const Rule rule = IdleRule("r");
  ASSERT_EQ(*(*e)->Apply(rule, {{a, a}}), 1u);
  EXPECT_EQ(*(*e)->Enforce(rule, 1), 0u) << "nothing escaped";
  sched_param none{};
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(::sched_setscheduler(a, SCHED_OTHER, &none), 0);  // as the task would
    EXPECT_EQ(*(*e)->Enforce(rule, 1 + static_cast<uint64_t>(i)), 1u);
    EXPECT_EQ(PolicyOf(a), SCHED_IDLE);
  }
  EXPECT_EQ((*e)->EscapesTotal("r"), 3u);
  auto escapes = (*e)->Escapes();
  ASSERT_EQ(escapes.size(), 1u);
  EXPECT_EQ(escapes[0].tid, a);
  EXPECT_EQ(escapes[0].count, 3u);
  // Affinity, the same way.
  Rule pin = IdleRule("pin");
  pin.action = ActionKind::kAffinity;
  pin.cpus = {0};
  cpu_set_t before;
  ASSERT_EQ(::sched_getaffinity(a, sizeof(before), &before), 0);
  ASSERT_EQ(*(*e)->Apply(pin, {{a, a}}), 1u);
  ASSERT_EQ(::sched_setaffinity(a, sizeof(before), &before), 0);
  if (CPU_COUNT(&before) > 1) {
    EXPECT_EQ(*(*e)->Enforce(pin, 10), 1u);
    cpu_set_t now;
    ASSERT_EQ(::sched_getaffinity(a, sizeof(now), &now), 0);
    EXPECT_EQ(CPU_COUNT(&now), 1);
  }
  // The undo restores what the task had before the first change.
  ASSERT_TRUE((*e)->Undo("pin").ok());
  ASSERT_TRUE((*e)->Undo("r").ok());
  EXPECT_EQ(PolicyOf(a), SCHED_OTHER);
  cpu_set_t now;
  ASSERT_EQ(::sched_getaffinity(a, sizeof(now), &now), 0);
  EXPECT_TRUE(CPU_EQUAL(&now, &before));
  // An exited task is dropped, not an error.
  ASSERT_EQ(*(*e)->Apply(rule, {{a, a}}), 1u);
  ::kill(a, SIGKILL);
  ::waitpid(a, nullptr, 0);
  EXPECT_EQ(*(*e)->Enforce(rule, 20), 0u);
  EXPECT_TRUE((*e)->Escapes().empty());
  e->reset();
  EXPECT_TRUE(RemoveTree(dir).ok());
}

TEST(AgentStatusTest, RoundTripAndText) {
  AgentStatus st;
  st.pid = 42;
  st.updated_unix = 7;
  st.rules.push_back({"protect", true, 2, 5});
  st.escapes.push_back({"protect", 100, 101, "batch\"x", 5, 0});
  auto parsed = ParseAgentStatus(SerializeAgentStatus(st));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->pid, 42);
  ASSERT_EQ(parsed->escapes.size(), 1u);
  EXPECT_EQ(parsed->escapes[0].comm, "batch\"x");
  const std::string text = AgentStatusText(*parsed, 10);
  EXPECT_NE(text.find("protect engaged (5 put-backs)"), std::string::npos) << text;
  EXPECT_NE(text.find("tasks undoing the agent's changes"), std::string::npos) << text;
  EXPECT_FALSE(ParseAgentStatus(R"({"pid": "x"})").ok());
  EXPECT_FALSE(ParseAgentStatus(R"({"pid": 1, "escapes": [{"rule": 5}]})").ok());
}

TEST(Report, PrometheusTextHasHistogramsPerTag) {
  Snapshot s;
  Stats st;
  for (int i = 0; i < 10; ++i) st.runq.Add(30'000);
  st.cpu_ns = 2'000'000'000;
  s.tags[0] = st;
  s.tags[1] = st;
  s.preemptions[{1, 0}] = 7;
  TagStore store;
  const std::string text = PrometheusText(s, store);
  EXPECT_NE(text.find("syspgo_sched_runq_latency_seconds_bucket{tag=\"(none)\",le=\"5e-05\"} 10"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("syspgo_sched_runq_latency_seconds_bucket{tag=\"#1\",le=\"2.5e-05\"} 0"),
            std::string::npos);
  EXPECT_NE(text.find("syspgo_sched_cpu_seconds_total{tag=\"#1\"} 2"), std::string::npos);
  EXPECT_NE(text.find("syspgo_sched_preemptions_total{victim=\"#1\",by=\"(none)\"} 7"),
            std::string::npos);
  const std::string table = TopTable(s, 1'000'000'000, store, {}, 5);
  EXPECT_NE(table.find("RUNQ-P99"), std::string::npos);
  EXPECT_NE(table.find("200.0"), std::string::npos);  // 2 s of CPU in 1 s: two CPUs
}

}  // namespace
}  // namespace syspgo::sched
