// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* File: sched/sched.bpf.c
 *
 * Scheduling observation on a stock kernel (tp_btf, task storage; no
 * sched_ext, no kprobes): run-queue latency (wakeup or involuntary
 * preemption to running) as histograms per tag and per cgroup v2, CPU time
 * per tag and cgroup, and who preempted whom by tag. Tags come from the
 * pinned maps of sched.h and follow fork. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sched.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TASK_RUNNING 0

struct sched_counters counters = {};

/* NSEC_PER_SEC / USER_HZ, set by the loader: a task's start time in the
 * clock ticks /proc/ID/stat gives (nsec_to_clock_t of start_boottime). */
const volatile __u64 ns_per_tick = 10000000;

/* Tags (shared: pinned by name under the loader's pin root). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_MAX_TASK_TAGS);
	__type(key, struct sched_task_key);
	__type(value, struct sched_tag_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sched_task_tags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_MAX_CGROUP_TAGS);
	__type(key, __u64);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sched_cgroup_tags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sched_tag_generation SEC(".maps");

/* Per task: when it became runnable, when it went on a CPU, its tag as of
 * a tag generation. */
struct task_state {
	__u64 enqueued_ns;
	__u64 oncpu_ns;
	__u64 generation;
	__u32 tag;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_MAX_STATS);
	__type(key, struct sched_stats_key);
	__type(value, struct sched_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_MAX_PAIRS);
	__type(key, struct sched_pair_key);
	__type(value, __u64);
} preemptions SEC(".maps");

static __always_inline __u64 generation(void)
{
	__u32 zero = 0;
	__u64 *g = bpf_map_lookup_elem(&sched_tag_generation, &zero);
	return g ? *g : 0;
}

/* A task's start time in clock ticks since boot, as /proc/ID/stat's field
 * 22 (start_boottime: kernel 5.5, commit cf25e24db61c). */
static __always_inline __u64 start_ticks(__u64 start_boottime_ns)
{
	return ns_per_tick ? start_boottime_ns / ns_per_tick : 0;
}

static __always_inline __u32 lookup_task_tag(struct task_struct *t)
{
	struct sched_task_key key = {.id = t->pid, .kind = SCHED_KIND_THREAD};
	struct sched_tag_value *v = bpf_map_lookup_elem(&sched_task_tags, &key);
	/* Only the task the tag was set on (or passed to): not a later task
	 * with the same pid. */
	if (v && v->start_time == start_ticks(t->start_boottime))
		return v->tag;
	key.id = t->tgid;
	key.kind = SCHED_KIND_PROCESS;
	v = bpf_map_lookup_elem(&sched_task_tags, &key);
	if (v && v->start_time == start_ticks(BPF_CORE_READ(t, group_leader, start_boottime)))
		return v->tag;
	/* The task's cgroup v2, then its ancestors (probe reads: the walk is
	 * through parent pointers the verifier cannot follow). */
	struct cgroup *cg = BPF_CORE_READ(t, cgroups, dfl_cgrp);
	for (int i = 0; i < SCHED_CGROUP_DEPTH && cg; i++) {
		__u64 id = BPF_CORE_READ(cg, kn, id);
		__u32 *tag = bpf_map_lookup_elem(&sched_cgroup_tags, &id);
		if (tag)
			return *tag;
		cg = (struct cgroup *)BPF_CORE_READ(cg, self.parent);
	}
	return 0;
}

/* The task's tag, cached in its storage until the tags change. */
static __always_inline __u32 task_tag(struct task_struct *t, struct task_state *s, __u64 gen)
{
	if (s && s->generation == gen && gen != 0)
		return s->tag;
	__u32 tag = lookup_task_tag(t);
	if (s) {
		s->tag = tag;
		s->generation = gen;
	}
	return tag;
}

static __always_inline struct sched_stats *stats_of(__u32 kind, __u64 id)
{
	struct sched_stats_key key = {.kind = kind, .id = id};
	struct sched_stats *s = bpf_map_lookup_elem(&stats, &key);
	if (s)
		return s;
	static const struct sched_stats zero = {};
	if (bpf_map_update_elem(&stats, &key, &zero, BPF_NOEXIST) == -7 /* E2BIG */)
		__sync_fetch_and_add(&counters.lost_stats, 1);
	return bpf_map_lookup_elem(&stats, &key);
}

static __always_inline __u32 bucket_of(__u64 v)
{
	if (v < 4)
		return (__u32)v;
	__u64 x = v;
	__u32 b = 0, shift;
	shift = (x > 0xFFFFFFFFULL) << 5; x >>= shift; b |= shift;
	shift = (x > 0xFFFF) << 4; x >>= shift; b |= shift;
	shift = (x > 0xFF) << 3; x >>= shift; b |= shift;
	shift = (x > 0xF) << 2; x >>= shift; b |= shift;
	shift = (x > 0x3) << 1; x >>= shift; b |= shift;
	b |= (__u32)(x >> 1);
	__u32 idx = 4 * b + (__u32)((v >> (b - 2)) & 3);
	return idx < SCHED_HIST_BUCKETS ? idx : SCHED_HIST_BUCKETS - 1;
}

static __always_inline void add_runq(struct sched_stats *s, __u64 delta)
{
	if (!s)
		return;
	__sync_fetch_and_add(&s->runq_count, 1);
	__sync_fetch_and_add(&s->runq_sum_ns, delta);
	if (delta > s->runq_max_ns)
		s->runq_max_ns = delta; /* racy max: good enough for a report */
	__u32 idx = bucket_of(delta);
	if (idx < SCHED_HIST_BUCKETS)
		__sync_fetch_and_add(&s->hist[idx], 1);
}

static __always_inline struct task_state *state_of(struct task_struct *t, int create)
{
	if (t->pid == 0) /* the idle tasks */
		return 0;
	struct task_state *s = bpf_task_storage_get(&task_states, t, 0,
						    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (!s && create)
		__sync_fetch_and_add(&counters.no_storage, 1);
	return s;
}

static __always_inline int on_runnable(struct task_struct *p)
{
	struct task_state *s = state_of(p, 1);
	if (s)
		s->enqueued_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	return on_runnable(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	return on_runnable(p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 gen = generation();
	__u32 prev_tag = 0, next_tag = 0;
	struct task_state *ps = state_of(prev, 1);
	struct task_state *ns = state_of(next, 1);
	if (prev->pid != 0) {
		prev_tag = task_tag(prev, ps, gen);
		__u64 ran = (ps && ps->oncpu_ns && now > ps->oncpu_ns) ? now - ps->oncpu_ns : 0;
		__u64 cg = prev->cgroups->dfl_cgrp->kn->id;
		struct sched_stats *st = stats_of(SCHED_STATS_TAG, prev_tag);
		struct sched_stats *sc = stats_of(SCHED_STATS_CGROUP, cg);
		if (st)
			__sync_fetch_and_add(&st->cpu_ns, ran);
		if (sc)
			__sync_fetch_and_add(&sc->cpu_ns, ran);
		if (ps)
			ps->oncpu_ns = 0;
		if (prev_state == TASK_RUNNING) {
			/* preempted: still runnable, waits on the run queue again */
			if (ps)
				ps->enqueued_ns = now;
			if (st)
				__sync_fetch_and_add(&st->preempted, 1);
			if (sc)
				__sync_fetch_and_add(&sc->preempted, 1);
			if (next->pid != 0) {
				next_tag = task_tag(next, ns, gen);
				struct sched_pair_key pk = {.victim = prev_tag, .by = next_tag};
				__u64 *n = bpf_map_lookup_elem(&preemptions, &pk);
				if (n) {
					__sync_fetch_and_add(n, 1);
				} else {
					__u64 one = 1;
					if (bpf_map_update_elem(&preemptions, &pk, &one, BPF_NOEXIST) == -7)
						__sync_fetch_and_add(&counters.lost_pairs, 1);
				}
			}
		}
	}
	if (next->pid == 0 || !ns)
		return 0;
	next_tag = task_tag(next, ns, gen);
	ns->oncpu_ns = now;
	__u64 cg = next->cgroups->dfl_cgrp->kn->id;
	struct sched_stats *st = stats_of(SCHED_STATS_TAG, next_tag);
	struct sched_stats *sc = stats_of(SCHED_STATS_CGROUP, cg);
	if (st)
		__sync_fetch_and_add(&st->switches_in, 1);
	if (sc)
		__sync_fetch_and_add(&sc->switches_in, 1);
	if (ns->enqueued_ns && now > ns->enqueued_ns) {
		__u64 delta = now - ns->enqueued_ns;
		add_runq(st, delta);
		add_runq(sc, delta);
	}
	ns->enqueued_ns = 0;
	return 0;
}

/* Tags follow fork: a child thread or process takes its parent thread's
 * and process's tags (as it takes their scheduling policy). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	struct sched_task_key key = {.id = parent->pid, .kind = SCHED_KIND_THREAD};
	struct sched_tag_value *v = bpf_map_lookup_elem(&sched_task_tags, &key);
	__u64 child_start = start_ticks(child->start_boottime);
	if (v && v->start_time == start_ticks(parent->start_boottime)) {
		struct sched_tag_value nv = {.tag = v->tag, .flags = SCHED_TAG_INHERITED,
					     .start_time = child_start};
		struct sched_task_key ck = {.id = child->pid, .kind = SCHED_KIND_THREAD};
		if (bpf_map_update_elem(&sched_task_tags, &ck, &nv, BPF_ANY) == -7)
			__sync_fetch_and_add(&counters.lost_tags, 1);
	}
	if (child->tgid == parent->tgid)
		return 0; /* a thread: its process's tag covers it */
	key.id = parent->tgid;
	key.kind = SCHED_KIND_PROCESS;
	v = bpf_map_lookup_elem(&sched_task_tags, &key);
	if (v && v->start_time == start_ticks(BPF_CORE_READ(parent, group_leader, start_boottime))) {
		struct sched_tag_value nv = {.tag = v->tag, .flags = SCHED_TAG_INHERITED,
					     .start_time = child_start};
		struct sched_task_key ck = {.id = child->tgid, .kind = SCHED_KIND_PROCESS};
		if (bpf_map_update_elem(&sched_task_tags, &ck, &nv, BPF_ANY) == -7)
			__sync_fetch_and_add(&counters.lost_tags, 1);
	}
	return 0;
}

/* Tags leave with their task: a thread's at its exit, a process's when its
 * last thread exits. (Exits while nothing is loaded are not seen: the
 * start time in each entry keeps those from a reused pid.) */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p)
{
	struct sched_task_key key = {.id = p->pid, .kind = SCHED_KIND_THREAD};
	bpf_map_delete_elem(&sched_task_tags, &key);
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	key.id = p->tgid;
	key.kind = SCHED_KIND_PROCESS;
	bpf_map_delete_elem(&sched_task_tags, &key);
	return 0;
}
