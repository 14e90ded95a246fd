/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* File: bpf/task_filter.bpf.h
 *
 * Which tasks a syspgo BPF program looks at, shared by every program (the
 * role of libbpf-tools' shared helpers): a process tree (tgids in
 * tracked_pids, followed through fork and dropped at exit), a mount
 * namespace (a container), or a cgroup v2 (its id, as the unified
 * hierarchy numbers it; on hybrid hosts the v2 hierarchy exists without
 * controllers and still names every task's cgroup). Any that is set
 * matches; none set matches nothing. User space sets the targ_* globals
 * through the skeleton's .bss after load and fills tracked_pids
 * (bpf/bpf_util.h).
 *
 * Include after vmlinux.h and libbpf's bpf_helpers.h, bpf_core_read.h. */
#ifndef SYSPGO_BPF_TASK_FILTER_BPF_H_
#define SYSPGO_BPF_TASK_FILTER_BPF_H_

#ifndef TASK_FILTER_MAX_PIDS
#define TASK_FILTER_MAX_PIDS 16384
#endif
#ifndef E2BIG
#define E2BIG 7
#endif

__u64 targ_mntns = 0;  /* tasks in this mount namespace (0: off) */
__u32 targ_pids = 0;   /* tasks whose tgid is in tracked_pids */
__u64 targ_cgroup = 0; /* tasks in this cgroup v2 (its id; 0: off) */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TASK_FILTER_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} tracked_pids SEC(".maps");

static __always_inline __u64 task_filter_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

static __always_inline int task_filter_match(struct task_struct *task)
{
	if (targ_mntns) {
		__u64 inum = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
		if (inum == targ_mntns)
			return 1;
	}
	if (targ_pids) {
		__u32 tgid = BPF_CORE_READ(task, tgid);
		if (bpf_map_lookup_elem(&tracked_pids, &tgid))
			return 1;
	}
	if (targ_cgroup && task_filter_cgroup_id(task) == targ_cgroup)
		return 1;
	return 0;
}

/* From sched_process_fork: a tracked parent's child is tracked. Returns 1
 * when the child was added, 0 when it is not tracked, -E2BIG when the map
 * is full (the caller counts the loss). */
static __always_inline int task_filter_fork(struct task_struct *parent, struct task_struct *child)
{
	if (!targ_pids)
		return 0;
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	if (!bpf_map_lookup_elem(&tracked_pids, &ptgid))
		return 0;
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;
	if (bpf_map_update_elem(&tracked_pids, &ctgid, &one, BPF_ANY) == -E2BIG)
		return -E2BIG;
	return 1;
}

/* From sched_process_exit of a process (not a thread): it leaves the tree. */
static __always_inline void task_filter_exit(struct task_struct *p)
{
	if (!targ_pids)
		return;
	__u32 tgid = BPF_CORE_READ(p, tgid);
	bpf_map_delete_elem(&tracked_pids, &tgid);
}

/* The programs that keep a process tree current (fork, exit), for a BPF
 * object that does nothing else at those tracepoints; `lost` is a __u64 or
 * __u32 global counting children the map could not take. */
#define TASK_FILTER_FOLLOW_PROCESSES(lost)                                      \
	SEC("tp_btf/sched_process_fork")                                         \
	int BPF_PROG(task_filter_on_fork, struct task_struct *parent,           \
		     struct task_struct *child)                                  \
	{                                                                        \
		if (task_filter_fork(parent, child) == -E2BIG)                   \
			__sync_fetch_and_add(&(lost), 1);                        \
		return 0;                                                        \
	}                                                                        \
	SEC("tp_btf/sched_process_exit")                                         \
	int BPF_PROG(task_filter_on_exit, struct task_struct *p)                 \
	{                                                                        \
		if (BPF_CORE_READ(p, tgid) == BPF_CORE_READ(p, pid))             \
			task_filter_exit(p);                                     \
		return 0;                                                        \
	}

#endif /* SYSPGO_BPF_TASK_FILTER_BPF_H_ */
