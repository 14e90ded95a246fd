/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* File: trace/iotrace.h
 *
 * The ABI shared by iotrace.bpf.c and its C++ loader: fixed-size types only.
 * Page accesses are aggregated in the kernel into per-file bitmaps of
 * IOTRACE_CHUNK_PAGES pages; only rare events (exec, exit, listen) use the
 * ring buffer. */
#ifndef SYSPGO_TRACE_IOTRACE_H_
#define SYSPGO_TRACE_IOTRACE_H_

#define IOTRACE_CHUNK_PAGES 512
#define IOTRACE_CHUNK_WORDS (IOTRACE_CHUNK_PAGES / 64)
#define IOTRACE_MAX_CHUNKS 131072
#define IOTRACE_MAX_FILES 65536
#define IOTRACE_MAX_PIDS 16384
#define IOTRACE_FILENAME_LEN 256

/* What touched a page. */
enum iotrace_kind {
	IOTRACE_READ = 0,   /* read(2)/pread(2): filemap_get_pages */
	IOTRACE_FAULT = 1,  /* an mmap page fault: filemap_fault */
	IOTRACE_AROUND = 2, /* fault-around mapping of cached pages */
	IOTRACE_KINDS = 3,
};

/* Per-file flags. */
#define IOTRACE_FILE_EXEC 1u /* the file was exec'd */

struct iotrace_file_key {
	__u64 ino;
	__u32 dev; /* the kernel's dev_t: major << 20 | minor */
	__u32 pad;
};

struct iotrace_file {
	__u64 first_ns;   /* bpf_ktime_get_ns() of the first access */
	__u64 seq;        /* order of first access among files */
	__u64 size;       /* i_size at first access */
	__u32 generation; /* i_generation, for open_by_handle_at */
	__u32 flags;      /* IOTRACE_FILE_* */
};

struct iotrace_chunk_key {
	__u64 ino;
	__u32 dev;
	__u32 chunk; /* page index / IOTRACE_CHUNK_PAGES */
};

struct iotrace_chunk {
	__u64 bits[IOTRACE_KINDS][IOTRACE_CHUNK_WORDS];
};

enum iotrace_event_type {
	IOTRACE_EV_EXEC = 1,
	IOTRACE_EV_EXIT = 2,
	IOTRACE_EV_LISTEN = 3,
};

struct iotrace_event {
	__u32 type;
	__u32 pid;
	__u64 ts_ns;
	__s32 exit_code; /* EXIT: the wait status */
	__u16 port;      /* LISTEN: local port */
	__u16 pad;
	__u64 ino;       /* EXEC: the program file */
	__u32 dev;
	__u32 pad2;
	char comm[16];
	char filename[IOTRACE_FILENAME_LEN]; /* EXEC */
};

/* Counters the loader reads at the end; non-zero overflow means records
 * were lost, which the trace reports. */
struct iotrace_stats {
	__u64 chunk_overflow;
	__u64 file_overflow;
	__u64 pid_overflow;
	__u64 events_dropped;
	__u64 accesses;
};

#endif /* SYSPGO_TRACE_IOTRACE_H_ */
