/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* File: tests/bpf/filter_probe.bpf.c
 *
 * A probe of the shared eBPF core for its test: every exec of a task the
 * task filter matches is counted per tgid and sent on a ring buffer. One
 * program is attached to a tracepoint no kernel has, so that leaving out
 * missing tracepoints is tested too. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "bpf/task_filter.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u64 fork_overflow = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} execs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

TASK_FILTER_FOLLOW_PROCESSES(fork_overflow)

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (!task_filter_match(p))
		return 0;
	__u32 tgid = BPF_CORE_READ(p, tgid);
	__u64 one = 1, *n = bpf_map_lookup_elem(&execs, &tgid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&execs, &tgid, &one, BPF_ANY);
	bpf_ringbuf_output(&events, &tgid, sizeof(tgid), 0);
	return 0;
}

SEC("tp_btf/syspgo_no_such_tracepoint")
int BPF_PROG(on_missing)
{
	return 0;
}
