/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* File: profile/profile.h
 *
 * The CPU sampler's ABI between profile.bpf.c and its loader (recorder.h):
 * samples are aggregated in the kernel, one counter per (process, user
 * stack, kernel stack, return address at the user stack pointer), not an
 * event per sample. */
#ifndef SYSPGO_PROFILE_PROFILE_H_
#define SYSPGO_PROFILE_PROFILE_H_

#define PROFILE_MAX_DEPTH 127       /* frames per stack */
#define PROFILE_MAX_STACKS 32768    /* distinct stacks */
#define PROFILE_MAX_KEYS 65536      /* distinct (pid, stacks) */
#define PROFILE_MAX_PIDS 16384      /* processes with samples */
/* A stack whose bucket in the stack map holds another one (the map hashes
 * stacks to buckets and does not chain) goes to a second, smaller map of
 * another size (so another bucket); its id then carries this bit. */
#define PROFILE_MAX_STACKS2 8192
#define PROFILE_SECOND_MAP (1 << 24)

struct profile_key {
	__u32 pid;          /* tgid, in the root PID namespace */
	__s32 user_stack;   /* id in stacks (or stacks2), < 0: none (kernel thread, or lost) */
	__s32 kernel_stack; /* id in stacks (or stacks2), < 0: none (user mode) */
	__u32 pad;
	/* The word at the user stack pointer when the sample hit user mode:
	 * the return address when the sampled function is a leaf that set up
	 * no frame (its caller is then missing from the frame-pointer stack). */
	__u64 sp_word;
};

struct profile_stats {
	__u64 samples;         /* samples taken of matching tasks */
	__u64 lost_user_stack; /* bpf_get_stackid failed (both buckets taken, or no stack) */
	__u64 lost_kernel_stack;
	__u64 lost_keys;       /* counts map full */
	__u64 idle;            /* samples of the idle task (not recorded) */
	__u64 lost_pids;       /* children the process tree map could not take */
};

#endif /* SYSPGO_PROFILE_PROFILE_H_ */
