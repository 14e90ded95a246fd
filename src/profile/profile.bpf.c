// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* File: profile/profile.bpf.c
 *
 * CPU sampling: a perf_event program on the cpu-clock software event of
 * every CPU (the only sampling event on hosts without a PMU). For a task
 * the task filter matches (or every task with targ_all), the user and
 * kernel stacks (frame pointers) go into a stack map and the sample is
 * counted per (tgid, user stack, kernel stack, word at the stack pointer). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "profile.h"
#include "bpf/task_filter.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u32 targ_all = 0;  /* every task (the whole system) */
__u32 armed = 0;
struct profile_stats stats = {};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, PROFILE_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PROFILE_MAX_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, PROFILE_MAX_STACKS2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PROFILE_MAX_DEPTH * sizeof(__u64));
} stacks2 SEC(".maps");

/* A stack id in stacks, else (its bucket holds another stack: -EEXIST) in
 * stacks2, marked with PROFILE_SECOND_MAP. */
static __always_inline long stack_id(struct bpf_perf_event_data *ctx, __u64 flags)
{
	long id = bpf_get_stackid(ctx, &stacks, flags);
	if (id != -17 /* EEXIST */)
		return id;
	id = bpf_get_stackid(ctx, &stacks2, flags);
	return id >= 0 ? (id | PROFILE_SECOND_MAP) : id;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_KEYS);
	__type(key, struct profile_key);
	__type(value, __u64);
} counts SEC(".maps");

/* Processes with samples: user space reads their mappings (a small map to
 * scan every 100 ms, where counts grows with every new stack). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	if (!armed)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tgid = task->tgid;
	if (tgid == 0) {
		__sync_fetch_and_add(&stats.idle, 1);
		return 0;
	}
	if (!targ_all && !task_filter_match(task))
		return 0;
	__sync_fetch_and_add(&stats.samples, 1);
	struct profile_key key = {};
	key.pid = tgid;
	key.kernel_stack = stack_id(ctx, 0);
	key.user_stack = -1;
	if (!(task->flags & 0x00200000 /* PF_KTHREAD */)) {
		key.user_stack = stack_id(ctx, BPF_F_USER_STACK);
		if (key.user_stack < 0)
			__sync_fetch_and_add(&stats.lost_user_stack, 1);
	}
	/* In user mode the kernel stack is empty (-EFAULT): not a loss. */
	if (key.kernel_stack < 0 && key.kernel_stack != -14)
		__sync_fetch_and_add(&stats.lost_kernel_stack, 1);
	if (key.kernel_stack < 0) {
		/* Sampled in user mode: the word at the user stack pointer. */
		__u64 sp = PT_REGS_SP(&ctx->regs);
		bpf_probe_read_user(&key.sp_word, sizeof(key.sp_word), (void *)sp);
	}
	__u64 one = 1, *n = bpf_map_lookup_elem(&counts, &key);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return 0;
	}
	__u8 yes = 1;
	bpf_map_update_elem(&pids, &tgid, &yes, BPF_ANY);
	if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) != 0) {
		n = bpf_map_lookup_elem(&counts, &key);
		if (n)
			__sync_fetch_and_add(n, 1);
		else
			__sync_fetch_and_add(&stats.lost_keys, 1);
	}
	return 0;
}

/* --pid and -- CMD: the process tree, followed through fork and exit. */
TASK_FILTER_FOLLOW_PROCESSES(stats.lost_pids)
