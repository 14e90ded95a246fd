/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* File: sched/sched.h
 *
 * The scheduling observer's ABI between sched.bpf.c and its loader
 * (sched/observer.h), and the tag maps every BPF program of the project
 * may read (pinned under /sys/fs/bpf/syspgo/).
 *
 * Tags: a small integer per tag name (sched/tags.h keeps the names). A
 * task's tag is, first found: its thread's tag, its process's tag, the tag
 * of its cgroup v2 or of the nearest tagged ancestor cgroup; else 0
 * (untagged). Tags on threads and processes pass to the children they fork
 * (in the kernel, at sched_process_fork), and apply only to the task that
 * had the pid when the tag was set (struct sched_tag_value's start_time). */
#ifndef SYSPGO_SCHED_SCHED_H_
#define SYSPGO_SCHED_SCHED_H_

#define SCHED_MAX_TASK_TAGS 65536   /* tagged threads and processes */
#define SCHED_MAX_CGROUP_TAGS 4096  /* tagged cgroups */
#define SCHED_MAX_STATS 4096        /* distinct tags + cgroups with statistics */
#define SCHED_MAX_PAIRS 4096        /* distinct (victim, preempter) tag pairs */
#define SCHED_CGROUP_DEPTH 8        /* ancestors looked at for a cgroup tag */

/* Run-queue latency histogram: log-linear, four buckets per power of two
 * of nanoseconds (25% wide). Values 0-3 ns have buckets 0-3; a value v >= 4
 * with its highest set bit b is in bucket 4*b + (the two bits below b).
 * Buckets 4-7 are unused; the last bucket takes everything above ~1100 s. */
#define SCHED_HIST_BUCKETS 164

enum sched_task_kind {
	SCHED_KIND_PROCESS = 0, /* id is a tgid */
	SCHED_KIND_THREAD = 1,  /* id is a tid */
};

struct sched_task_key {
	__u32 id;
	__u32 kind; /* enum sched_task_kind */
};

#define SCHED_TAG_INHERITED 1 /* set by the kernel side at fork */

/* A tag is kept with the start time of the task its key names (a thread:
 * its own; a process: its leader's), in clock ticks since boot as
 * /proc/ID/stat's field 22 gives it: an entry whose task is gone (its exit
 * unseen while nothing was loaded) never passes to a task that reuses the
 * pid. */
struct sched_tag_value {
	__u32 tag;
	__u32 flags;
	__u64 start_time;
};

enum sched_stats_kind {
	SCHED_STATS_TAG = 0,    /* id is a tag (0: untagged tasks) */
	SCHED_STATS_CGROUP = 1, /* id is a cgroup v2 id */
};

struct sched_stats_key {
	__u32 kind; /* enum sched_stats_kind */
	__u32 pad;
	__u64 id;
};

struct sched_stats {
	__u64 runq_count;    /* wakeup (or preemption) to running, counted */
	__u64 runq_sum_ns;
	__u64 runq_max_ns;
	__u64 cpu_ns;        /* time on a CPU */
	__u64 switches_in;   /* times put on a CPU */
	__u64 preempted;     /* switched out while still runnable (involuntary) */
	__u64 hist[SCHED_HIST_BUCKETS];
};

/* Involuntary preemptions: victim tag, the tag of the task that ran next. */
struct sched_pair_key {
	__u32 victim;
	__u32 by;
};

struct sched_counters {
	__u64 lost_stats;     /* stats map full */
	__u64 lost_tags;      /* inherited tags the task tag map could not take */
	__u64 lost_pairs;
	__u64 no_storage;     /* task storage could not be created */
};

/* The tag generation, slot 0 of the pinned tag_generation array: user space
 * adds one after every change to the tag maps, and the kernel side drops
 * the tags it cached in task storage under an older generation. */

#endif /* SYSPGO_SCHED_SCHED_H_ */
