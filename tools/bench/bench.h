/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench.h - pinfs-bench: what the subcommands share.
 *
 * A measurement is a struct series: one quantity (suite, metric) of one
 * variant ("pinfs", "noop", "kernel", "backing", ...) at one x (threads,
 * leases, holders...).  Each series keeps every sample, pooled over the
 * repetitions ("rounds"), and the median of each round apart, so that a
 * ratio against a baseline is computed round by round: pinfs of round r
 * over the baseline of round r, measured minutes apart at most.
 *
 * Everything runs in one thread of the bench process, except where a
 * subcommand starts its own workers; the result store is not locked.
 */
#ifndef PINFS_BENCH_H
#define PINFS_BENCH_H

#include <glib.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct bench_opts {
	char *outdir;
	char *pinfs_bin;
	char *tmpdir; /* where temporary backing dirs and mount points go */
	bool quick;
	int rounds; /* repetitions of every measurement */
	int iters;  /* operations per round in latency loops */
	int max_threads;
	int max_leases; /* 0: as many as RLIMIT_NOFILE allows */
	int max_holders;
	int max_parked;
	double io_runtime; /* seconds per fio job */
	int io_size_mb;
	int budget; /* seconds for 'all'; 0: none */
	bool no_plots;
};

extern struct bench_opts opt;

struct series {
	char *suite, *metric, *variant, *unit;
	double x;
	GArray *samples;       /* double, every sample of every round */
	GArray *round_medians; /* double, one per round */
	/* filled by series_finish() */
	double median, p99, mean, min, max;
};

/* A ratio of two series of the same suite, metric (or not) and x. */
struct ratio {
	char *suite, *name; /* e.g. "take/noop" */
	double x;
	double median;	   /* median over rounds of num_r / den_r */
	double p99;	   /* p99 of the per-round ratios */
	double of_medians; /* pooled median of num / pooled median of den */
	int n;
};

/* A performance target, with what was measured and whether it was met. */
struct target {
	char *what, *measured, *verdict;
};

/* Result store (bench.c). */
struct series *series_get(const char *suite, const char *metric, const char *variant,
			  double x, const char *unit);
void series_add(struct series *s, double v);
/* Close the current round of s: its median goes into round_medians. */
void series_end_round(struct series *s, guint first_sample);
/* A round of the series s[0..n) measured together: begin notes where it
 * starts in first[0..n), end closes it in each with series_end_round(). */
void series_rounds_begin(struct series *const *s, guint n, guint *first);
void series_rounds_end(struct series *const *s, guint n, const guint *first);
/* Compute median, p99, mean, min and max from the samples. */
void series_finish(struct series *s);
struct series *series_find(const char *suite, const char *metric, const char *variant,
			   double x);
struct ratio *ratio_add(const char *suite, const char *name, double x, struct series *num,
			struct series *den);
void target_add(const char *what, const char *verdict, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
void note_add(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void meta_set(const char *key, const char *value);
void meta_loadavg(const char *key);   /* /proc/loadavg into the metadata */
double quantile(GArray *a, double q); /* sorts a copy */

/* Progress on stderr. */
void progress(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Seconds left of the time budget (G_MAXDOUBLE without one). */
double budget_left(void);

/* Clock. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Mounts (mount.c, with tests/common/mount.h).  Every mount is undone at
 * exit, on SIGINT/SIGTERM and on a failed assertion. */
struct bmount {
	struct pm *pm; /* the pinfs mount, NULL for a plain directory */
	char *dir;     /* the plain directory, NULL for a mount */
	char *backing; /* the backing directory */
	char *mnt;     /* the pinfs mount point, or backing for plain dirs */
	char *opts;
	pid_t pid; /* the daemon, 0 for a plain directory */
};
void bm_init(void);
void bm_forked_child(void); /* call first in a forked child */
struct bmount *bm_mount(const char *opts);
struct bmount *bm_plain(void); /* a plain directory, no pinfs */
/* Another pinfs over an existing backing directory (e.g. m->backing). */
struct bmount *bm_mount_on(const char *backing, const char *opts);
/* Another FUSE daemon: bin -f -o opts -o source=BACKING MNT. */
struct bmount *bm_mount_peer(const char *bin, const char *opts);
void bm_unmount(struct bmount *m);
char *bm_path(struct bmount *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
long proc_status_kb(pid_t pid, const char *field); /* VmRSS, Threads... */
int raise_nofile(void);				   /* returns the new soft limit */

/* A lease holder in a forked child (holder.c), for the break and cluster
 * benchmarks: the bench writes one-byte commands to cmd and reads one-byte
 * answers from reply; the child stamps the break's times into shm. */
struct holder_shm {
	_Atomic uint64_t t_notify;  /* the break reached the holder; 0: not yet */
	_Atomic uint64_t t_release; /* the holder released its lease */
	_Atomic int blocking;	    /* the holder is about to sleep for the break */
};
struct holder_proc {
	pid_t pid;
	int cmd, reply; /* pipe ends in the bench */
	struct holder_shm *shm;
};
int holder_fork(struct holder_proc *p, void (*child)(void *arg, int cmd, int reply),
		void *arg);
int holder_open(const char *path); /* in the child */
void holder_catch_sigio(struct holder_shm *shm, sigset_t *old);
void holder_answer(struct holder_shm *shm, int reply, int r); /* in the child */
void holder_woken(struct holder_shm *shm);		      /* in the child */
int holder_take(struct holder_proc *p);
void holder_stop(struct holder_proc *p);
void holder_file(const char *path);

/* Lease ioctls (the ABI of lib/pinfs_abi.h). */
int ioc_noop(int fd);
int ioc_setlease(int fd, unsigned type); /* PINFS_LEASE_* */
int ioc_state(int fd);			 /* PINFS_STATE_*, or -errno */

/* Subcommands. */
int run_lease(void);
int run_break(void);
int run_scale(void);
int run_io(void);
int run_window(void);
int run_cluster(void);

/* Output (report.c). */
int report_write(const char *cmdline);

#endif /* PINFS_BENCH_H */
