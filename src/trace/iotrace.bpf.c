// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* File: trace/iotrace.bpf.c
 *
 * Page-level file access tracing of one process tree or one mount namespace.
 * Read ranges come from filemap:mm_filemap_get_pages (also when the pages
 * are already cached), mmap faults from mm_filemap_fault, fault-around from
 * mm_filemap_map_pages. Everything is aggregated here into per-file page
 * bitmaps; user space reads the maps once at the end. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "iotrace.h"

#define TASK_FILTER_MAX_PIDS IOTRACE_MAX_PIDS
#include "bpf/task_filter.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TCP_LISTEN_STATE 10

/* Set by user space through the mmap'd .bss, after load (and the task
 * filter's targ_* of bpf/task_filter.bpf.h). */
__u32 armed = 0;       /* recording on */
__u64 file_seq = 0;
struct iotrace_stats stats = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IOTRACE_MAX_FILES);
	__type(key, struct iotrace_file_key);
	__type(value, struct iotrace_file);
} files SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IOTRACE_MAX_CHUNKS);
	__type(key, struct iotrace_chunk_key);
	__type(value, struct iotrace_chunk);
} chunks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static const struct iotrace_chunk zero_chunk = {};

static __always_inline int task_is_traced(struct task_struct *task)
{
	return task_filter_match(task);
}

static __always_inline int current_is_traced(void)
{
	if (!armed)
		return 0;
	return task_is_traced((struct task_struct *)bpf_get_current_task_btf());
}

static __always_inline void note_file(struct inode *inode, __u32 flags)
{
	struct iotrace_file_key key = {};
	struct iotrace_file *f;

	key.ino = BPF_CORE_READ(inode, i_ino);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	f = bpf_map_lookup_elem(&files, &key);
	if (f) {
		if (flags)
			__sync_fetch_and_or(&f->flags, flags);
		return;
	}
	struct iotrace_file nf = {};
	nf.first_ns = bpf_ktime_get_ns();
	nf.seq = __sync_fetch_and_add(&file_seq, 1);
	nf.size = BPF_CORE_READ(inode, i_size);
	nf.generation = BPF_CORE_READ(inode, i_generation);
	nf.flags = flags;
	if (bpf_map_update_elem(&files, &key, &nf, BPF_NOEXIST) == -E2BIG)
		__sync_fetch_and_add(&stats.file_overflow, 1);
}

struct mark_ctx {
	__u64 ino;
	__u32 dev;
	__u32 kind;
	__u64 first; /* first page */
	__u64 last;  /* last page, inclusive */
};

/* One 64-page word of the range per call. */
static long mark_word(__u64 i, struct mark_ctx *c)
{
	__u64 word_start = ((c->first >> 6) + i) << 6;
	__u64 lo = word_start > c->first ? word_start : c->first;
	__u64 hi = word_start + 63 < c->last ? word_start + 63 : c->last;
	if (lo > hi)
		return 1;
	struct iotrace_chunk_key key = {};
	key.ino = c->ino;
	key.dev = c->dev;
	key.chunk = lo / IOTRACE_CHUNK_PAGES;
	struct iotrace_chunk *ch = bpf_map_lookup_elem(&chunks, &key);
	if (!ch) {
		if (bpf_map_update_elem(&chunks, &key, &zero_chunk, BPF_NOEXIST) == -E2BIG) {
			__sync_fetch_and_add(&stats.chunk_overflow, 1);
			return 1;
		}
		ch = bpf_map_lookup_elem(&chunks, &key);
		if (!ch)
			return 1;
	}
	__u64 n = hi - lo + 1;
	__u64 mask = n >= 64 ? ~0ULL : ((1ULL << n) - 1) << (lo & 63);
	__u32 word = (lo % IOTRACE_CHUNK_PAGES) >> 6;
	__u32 kind = c->kind;
	if (word >= IOTRACE_CHUNK_WORDS || kind >= IOTRACE_KINDS)
		return 1;
	__sync_fetch_and_or(&ch->bits[kind][word], mask);
	return 0;
}

static __always_inline void record(struct address_space *mapping, __u64 first,
				   __u64 last, __u32 kind)
{
	if (!current_is_traced())
		return;
	struct inode *inode = BPF_CORE_READ(mapping, host);
	if (!inode)
		return;
	note_file(inode, 0);
	struct mark_ctx c = {};
	c.ino = BPF_CORE_READ(inode, i_ino);
	c.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	c.kind = kind;
	c.first = first;
	c.last = last;
	__u64 words = (last >> 6) - (first >> 6) + 1;
	if (last < first || words > (1 << 20))
		return;
	__sync_fetch_and_add(&stats.accesses, 1);
	bpf_loop(words, mark_word, &c, 0);
}

/* A zeroed ring-buffer event, or NULL (counted) when the buffer is full. */
static __always_inline struct iotrace_event *new_event(__u32 type, __u32 pid)
{
	struct iotrace_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&stats.events_dropped, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->pid = pid;
	e->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(on_get_pages, struct address_space *mapping, unsigned long index,
	     unsigned long last_index)
{
	record(mapping, index, last_index, IOTRACE_READ);
	return 0;
}

SEC("tp_btf/mm_filemap_fault")
int BPF_PROG(on_fault, struct address_space *mapping, unsigned long index)
{
	record(mapping, index, index, IOTRACE_FAULT);
	return 0;
}

SEC("tp_btf/mm_filemap_map_pages")
int BPF_PROG(on_map_pages, struct address_space *mapping, unsigned long index,
	     unsigned long last_index)
{
	record(mapping, index, last_index, IOTRACE_AROUND);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	if (task_filter_fork(parent, child) == -E2BIG)
		__sync_fetch_and_add(&stats.pid_overflow, 1);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (!armed || !task_is_traced(p))
		return 0;
	struct file *file = BPF_CORE_READ(bprm, file);
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	if (inode)
		note_file(inode, IOTRACE_FILE_EXEC);
	struct iotrace_event *e = new_event(IOTRACE_EV_EXEC, BPF_CORE_READ(p, tgid));
	if (!e)
		return 0;
	if (inode) {
		e->ino = BPF_CORE_READ(inode, i_ino);
		e->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	}
	const char *filename = BPF_CORE_READ(bprm, filename);
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	__u32 tid = BPF_CORE_READ(p, pid);
	if (tgid != tid) /* a thread, not the process */
		return 0;
	int traced = armed && task_is_traced(p);
	task_filter_exit(p);
	if (!traced)
		return 0;
	struct iotrace_event *e = new_event(IOTRACE_EV_EXIT, tgid);
	if (!e)
		return 0;
	e->exit_code = BPF_CORE_READ(p, exit_code);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_sock_state, const struct sock *sk, int oldstate, int newstate)
{
	if (newstate != TCP_LISTEN_STATE || !current_is_traced())
		return 0;
	struct iotrace_event *e = new_event(IOTRACE_EV_LISTEN, bpf_get_current_pid_tgid() >> 32);
	if (!e)
		return 0;
	e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
