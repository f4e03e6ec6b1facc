// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pinfs-pin - take a layout lease on a range of a pinfs file, map it, pin
 * it with a DMA backend (pin.h), play a device writing into it, and on a
 * lease break release promptly, after a delay, or not at all.  Every step
 * is printed with its wall-clock time and the time since start:
 *
 *   2026-11-24T17:01:02.123456Z +0.000123 lease granted id=3 type=read range=0-4095
 *
 * See pinfs-pin(8) and docs/pinning.md.  Leases and pin registration go
 * through libpinfs (lib/pinfs.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "pin.h"
#include "pinfs.h"

/* Exit statuses (pinfs-pin(8)). */
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_UNAVAILABLE 3

enum on_break { BREAK_RELEASE, BREAK_DELAY, BREAK_IGNORE };

static struct {
	char *backend;
	gint64 offset;
	gint64 length;
	char *lease;
	gboolean exclusive;
	char *on_break;
	gint writes;
	char *pattern;
	gint write_delay;
	gdouble hold;
	char *signal;
	gboolean poll;
	gboolean register_pin;
	gboolean verify;
} opt = {
    .writes = 1,
    .hold = -1,
};

static GOptionEntry entries[] = {
    {"backend", 'b', 0, G_OPTION_ARG_STRING, &opt.backend,
     "kmod, rdma[:DEVICE], iouring, mlock or auto (default: auto)", "NAME"},
    {"offset", 'o', 0, G_OPTION_ARG_INT64, &opt.offset, "start of the range (default 0)",
     "N"},
    {"length", 'l', 0, G_OPTION_ARG_INT64, &opt.length,
     "length of the range (default 0: to the end of the file)", "N"},
    {"lease", 0, 0, G_OPTION_ARG_STRING, &opt.lease,
     "layout lease type: read, write or none (default: read)", "TYPE"},
    {"exclusive", 'x', 0, G_OPTION_ARG_NONE, &opt.exclusive,
     "unbreakable lease (F_EXCLUSIVE)", NULL},
    {"on-break", 0, 0, G_OPTION_ARG_STRING, &opt.on_break,
     "release, delay=MS or ignore (default: release)", "ACTION"},
    {"writes", 'n', 0, G_OPTION_ARG_INT, &opt.writes,
     "device writes, splitting the range (default 1)", "N"},
    {"pattern", 'p', 0, G_OPTION_ARG_STRING, &opt.pattern,
     "byte the device writes (default 0xa5)", "BYTE"},
    {"write-delay", 'd', 0, G_OPTION_ARG_INT, &opt.write_delay,
     "write i lands (i+1)*MS after it is issued (default 0: at once)", "MS"},
    {"hold", 't', 0, G_OPTION_ARG_DOUBLE, &opt.hold,
     "release after SECONDS (default: hold until a break or SIGINT/SIGTERM)", "SECONDS"},
    {"signal", 's', 0, G_OPTION_ARG_STRING, &opt.signal,
     "break signal set with F_SETSIG (default: SIGIO)", "SIG"},
    {"poll", 0, 0, G_OPTION_ARG_NONE, &opt.poll, "wait for the break with poll() POLLPRI",
     NULL},
    {"register-pin", 'r', 0, G_OPTION_ARG_NONE, &opt.register_pin,
     "register the pin with PINFS_IOC_PIN (rule 13)", NULL},
    {"verify", 0, 0, G_OPTION_ARG_NONE, &opt.verify,
     "read the range back through the device before unpinning", NULL},
    G_OPTION_ENTRY_NULL};

static struct timespec t0;

/* Print one timeline line: wall clock (UTC, microseconds), then +seconds. */
static void G_GNUC_PRINTF(1, 2) say(const char *fmt, ...)
{
	struct timespec rt, mono;
	struct tm tm;
	char date[32];
	long ds, dns;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	gmtime_r(&rt.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	ds = mono.tv_sec - t0.tv_sec;
	dns = mono.tv_nsec - t0.tv_nsec;
	if (dns < 0) {
		ds--;
		dns += 1000000000L;
	}
	printf("%s.%06ldZ +%ld.%06ld ", date, rt.tv_nsec / 1000, ds, dns / 1000);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void G_GNUC_PRINTF(1, 2) complain(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("pinfs-pin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "?";
}

/* "SIGUSR1", "USR1", "RTMIN+2", "10": a signal number, or 0. */
static int parse_signal(const char *s)
{
	char *end;
	long n;

	if (g_ascii_isdigit(*s)) {
		n = strtol(s, &end, 10);
		return *end || n <= 0 || n >= NSIG ? 0 : (int)n;
	}
	if (!g_ascii_strncasecmp(s, "SIG", 3))
		s += 3;
	if (!g_ascii_strncasecmp(s, "RTMIN", 5) || !g_ascii_strncasecmp(s, "RTMAX", 5)) {
		gboolean max = g_ascii_toupper(s[4]) == 'X';

		n = 0;
		if (s[5]) {
			n = strtol(s + 5, &end, 10);
			if (*end || (max ? n > 0 : n < 0))
				return 0;
		}
		n += max ? SIGRTMAX : SIGRTMIN;
		return n < SIGRTMIN || n > SIGRTMAX ? 0 : (int)n;
	}
	for (int i = 1; i < SIGRTMIN; i++) {
		const char *abbr = sigabbrev_np(i);

		if (abbr && !g_ascii_strcasecmp(s, abbr))
			return i;
	}
	return 0;
}

static const char *signame(int sig)
{
	static char buf[16];
	const char *abbr = sig < SIGRTMIN ? sigabbrev_np(sig) : NULL;

	if (abbr)
		snprintf(buf, sizeof(buf), "SIG%s", abbr);
	else
		snprintf(buf, sizeof(buf), "SIGRTMIN+%d", sig - SIGRTMIN);
	return buf;
}

/* "0-4095", or "0-EOF" for a lease to the end of the file. */
static char *range_str(uint64_t off, uint64_t len)
{
	if (len == PINFS_LEN_EOF)
		return g_strdup_printf("%" G_GUINT64_FORMAT "-EOF", off);
	return g_strdup_printf("%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT, off,
			       off + len - 1);
}

/* Everything the run holds, so that every exit path can undo it. */
struct run {
	const char *path;
	int fd;
	gboolean pinfs;	 /* PINFS_IOC_VERSION answered */
	gboolean leased; /* we took a lease and have not released it */
	uint64_t lease_id;
	void *map; /* mmap of [map_off, map_off + map_len) */
	size_t map_len;
	uint8_t *addr; /* the range inside the map */
	size_t len;
	struct pin_backend *be;
	struct pin_region *region;
	gboolean registered; /* PINFS_IOC_PIN done */
	uint64_t pin_id;
	uint8_t pattern;
	gboolean broke; /* a break was seen */
	gboolean verify_failed;
};

/*
 * Undo in the order a well-behaved holder does on a break: let the device
 * finish its writes, unpin, unregister the pin, release the lease.  Returns
 * FALSE if a step failed (later steps still run).
 */
static gboolean release_all(struct run *r)
{
	g_autoptr(GError) err = NULL;
	gboolean ok = TRUE;

	if (r->region) {
		uint64_t done = 0, pending = 0;

		if (!pin_dma_wait(r->region, &err)) {
			complain("device writes: %s", err->message);
			g_clear_error(&err);
			ok = FALSE;
		}
		pin_dma_counts(r->region, &done, &pending);
		say("device writes finished: %" G_GUINT64_FORMAT
		    " landed, %" G_GUINT64_FORMAT " pending",
		    done, pending);
		if (opt.verify) {
			uint64_t bad = 0;
			int64_t first = -1;

			if (pin_dma_verify(r->region, 0, r->len, r->pattern, &bad, &first,
					   &err)) {
				say("verify: %" G_GUINT64_FORMAT
				    " of %zu bytes differ from "
				    "0x%02x (first at %" G_GINT64_FORMAT ")",
				    bad, r->len, r->pattern, first);
				r->verify_failed = bad > 0;
			} else {
				complain("verify: %s", err->message);
				g_clear_error(&err);
				ok = FALSE;
			}
		}
		if (pin_release(r->region, &err)) {
			say("unpinned (%s)", pin_backend_name(r->be));
		} else {
			complain("unpin: %s", err->message);
			g_clear_error(&err);
			ok = FALSE;
		}
		r->region = NULL;
	}
	if (r->registered) {
		if (pinfs_unpin(r->fd, r->pin_id) == 0) {
			say("pin unregistered id=%" G_GUINT64_FORMAT, r->pin_id);
		} else {
			complain("pinfs_unpin: %s (%s)", g_strerror(errno),
				 errname(errno));
			ok = FALSE;
		}
		r->registered = FALSE;
	}
	if (r->leased) {
		struct pinfs_lease_status st;

		if (pinfs_getlease(r->fd, &st) == 0 && st.state != PINFS_STATE_ACTIVE &&
		    st.state != PINFS_STATE_BREAKING)
			say("lease id=%" G_GUINT64_FORMAT
			    " already ended: state=%s end=%s",
			    r->lease_id, pinfs_state_str(st.state),
			    pinfs_end_reason_str(st.end_reason));
		say("releasing lease id=%" G_GUINT64_FORMAT, r->lease_id);
		if (pinfs_release(r->fd) == 0) {
			say("lease released id=%" G_GUINT64_FORMAT, r->lease_id);
		} else {
			complain("releasing the lease: %s (%s)", g_strerror(errno),
				 errname(errno));
			ok = FALSE;
		}
		r->leased = FALSE;
	}
	return ok;
}

static void cleanup(struct run *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
	if (r->be)
		pin_backend_close(r->be);
	if (r->fd >= 0)
		close(r->fd);
}

/* Open FILE, check it is on pinfs, take the lease, map the range. */
static int setup_file(struct run *r, int lease_type, int sig)
{
	struct pinfs_version v;
	struct stat sb;
	long page = sysconf(_SC_PAGESIZE);
	off_t map_off;

	r->fd = open(r->path, O_RDWR | O_CLOEXEC);
	if (r->fd < 0) {
		complain("%s: %s", r->path, g_strerror(errno));
		return EXIT_FAIL;
	}
	if (fstat(r->fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		complain("%s: not a regular file", r->path);
		return EXIT_FAIL;
	}
	if (pinfs_probe(r->fd, &v) == 0) {
		r->pinfs = TRUE;
		say("opened %s fd=%d size=%jd: pinfs abi=%u leases=%s", r->path, r->fd,
		    (intmax_t)sb.st_size, v.abi_version,
		    v.features & PINFS_FEAT_LEASES ? "on" : "off");
	} else if (lease_type < 0 && !opt.register_pin) {
		say("opened %s fd=%d size=%jd: not pinfs (%s): no lease, no protection",
		    r->path, r->fd, (intmax_t)sb.st_size, errname(errno));
	} else {
		complain("%s is not a file on a pinfs mount (pinfs_probe: %s); "
			 "use --lease none without --register-pin on other files",
			 r->path, g_strerror(errno));
		return EXIT_FAIL;
	}

	if (sig > 0) {
		if (pinfs_setsig(r->fd, sig) < 0) {
			complain("pinfs_setsig %s: %s", signame(sig), g_strerror(errno));
			return EXIT_FAIL;
		}
		say("break signal %s (F_SETSIG) fd=%d", signame(sig), r->fd);
	}

	if (lease_type >= 0) {
		struct pinfs_lease_status st;
		g_autofree char *rs = NULL;

		if (pinfs_setlease(r->fd, lease_type,
				   opt.exclusive ? PINFS_LEASE_EXCLUSIVE : 0, opt.offset,
				   opt.length) < 0) {
			complain("taking a %s layout lease on %s: %s (%s)", opt.lease,
				 r->path, g_strerror(errno), errname(errno));
			return EXIT_FAIL;
		}
		r->leased = TRUE;
		if (pinfs_getlease(r->fd, &st) < 0) {
			complain("pinfs_getlease: %s", g_strerror(errno));
			return EXIT_FAIL;
		}
		r->lease_id = st.lease_id;
		rs = range_str(st.offset, st.length);
		say("lease granted id=%llu type=%s%s range=%s",
		    (unsigned long long)st.lease_id, opt.lease,
		    st.flags & PINFS_LEASE_EXCLUSIVE ? " exclusive" : "", rs);
	}

	/* The range to map and pin: to EOF when no length was given. */
	if (opt.length == 0) {
		if (sb.st_size <= opt.offset) {
			complain("%s: nothing to map at offset %" G_GINT64_FORMAT
				 " (size %jd); give --length or a larger file",
				 r->path, opt.offset, (intmax_t)sb.st_size);
			return EXIT_FAIL;
		}
		r->len = sb.st_size - opt.offset;
	} else {
		if (opt.offset + opt.length > sb.st_size) {
			complain("%s: range %" G_GINT64_FORMAT "+%" G_GINT64_FORMAT
				 " goes past the end of the file (size %jd)",
				 r->path, opt.offset, opt.length, (intmax_t)sb.st_size);
			return EXIT_FAIL;
		}
		r->len = opt.length;
	}
	map_off = opt.offset & ~(off_t)(page - 1);
	r->map_len = r->len + (opt.offset - map_off);
	r->map =
	    mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, map_off);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		complain("mmap %s: %s", r->path, g_strerror(errno));
		return EXIT_FAIL;
	}
	r->addr = (uint8_t *)r->map + (opt.offset - map_off);
	say("mapped range=%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT " at %p (MAP_SHARED)",
	    opt.offset, opt.offset + (gint64)r->len - 1, (void *)r->addr);
	return 0;
}

/* Find the backend (before anything else, so that "unavailable" is cheap). */
static int open_backend(struct run *r)
{
	g_autoptr(GError) err = NULL;

	r->be = pin_backend_open(opt.backend, &err);
	if (!r->be) {
		if (!g_error_matches(err, PIN_ERROR, PIN_ERROR_UNAVAILABLE)) {
			complain("--backend: %s", err->message);
			return EXIT_USAGE;
		}
		complain("backend %s unavailable: %s", opt.backend, err->message);
		return EXIT_UNAVAILABLE;
	}
	say("backend %s", pin_backend_describe(r->be));
	return 0;
}

/* Pin with the backend, register the pin, queue the device writes. */
static int setup_pin(struct run *r)
{
	g_autoptr(GError) err = NULL;
	size_t piece;

	r->region = pin_region(r->be, r->addr, r->len, 0, &err);
	if (!r->region) {
		complain("pinning %zu bytes with %s: %s", r->len, pin_backend_name(r->be),
			 err->message);
		return EXIT_FAIL;
	}
	say("pinned %zu bytes with %s%s", r->len, pin_backend_name(r->be),
	    pin_backend_is_dma(r->be) ? "" : " (NOT a DMA pin)");

	if (opt.register_pin) {
		if (pinfs_pin(r->fd, opt.offset, r->len, &r->pin_id) < 0) {
			complain("pinfs_pin %" G_GINT64_FORMAT "+%zu: %s (%s)%s",
				 opt.offset, r->len, g_strerror(errno), errname(errno),
				 errno == EPERM
				     ? ": no active lease covers the range (rule 13)"
				     : "");
			return EXIT_FAIL;
		}
		r->registered = TRUE;
		say("pin registered id=%" G_GUINT64_FORMAT " range=%" G_GINT64_FORMAT
		    "-%" G_GINT64_FORMAT,
		    r->pin_id, opt.offset, opt.offset + (gint64)r->len - 1);
	}

	if (opt.writes == 0)
		return 0;
	piece = r->len / opt.writes;
	for (int i = 0; i < opt.writes; i++) {
		size_t off = i * piece;
		size_t len = i == opt.writes - 1 ? r->len - off : piece;
		unsigned delay = (unsigned)opt.write_delay * (i + 1);

		if (!pin_dma_write(r->region, off, len, r->pattern, delay, &err)) {
			complain("device write %d: %s", i + 1, err->message);
			return EXIT_FAIL;
		}
		if (delay)
			say("device write %d/%d queued: range=%" G_GINT64_FORMAT
			    "-%" G_GINT64_FORMAT " byte=0x%02x lands in %u ms",
			    i + 1, opt.writes, opt.offset + (gint64)off,
			    opt.offset + (gint64)(off + len) - 1, r->pattern, delay);
		else
			say("device write %d/%d done: range=%" G_GINT64_FORMAT
			    "-%" G_GINT64_FORMAT " byte=0x%02x",
			    i + 1, opt.writes, opt.offset + (gint64)off,
			    opt.offset + (gint64)(off + len) - 1, r->pattern);
	}
	return 0;
}

/*
 * si_fd of a break signal read from a signalfd.  The kernel's own lease
 * breaks (si_code POLL_MSG) fill ssi_fd; pinfs queues its signal from user
 * space (si_code SI_QUEUE, rt_sigqueueinfo()), and for those signalfd
 * copies the sigval instead, which overlays si_fd in siginfo_t: ssi_int.
 * (An SA_SIGINFO handler reads info->si_fd in both cases.)
 */
static int signal_fd(const struct signalfd_siginfo *si)
{
	return si->ssi_code == SI_QUEUE ? si->ssi_int : (int)si->ssi_fd;
}

static gboolean lease_ended_or_breaking(struct run *r)
{
	struct pinfs_lease_status st;

	return r->leased && pinfs_getlease(r->fd, &st) == 0 &&
	       st.state != PINFS_STATE_ACTIVE;
}

/* A break was seen: say what the lease looks like now. */
static void report_break(struct run *r, const char *how)
{
	struct pinfs_lease_status st;

	if (pinfs_getlease(r->fd, &st) == 0)
		say("lease break: %s state=%s id=%llu", how, pinfs_state_str(st.state),
		    (unsigned long long)st.lease_id);
	else
		say("lease break: %s (pinfs_getlease: %s)", how, errname(errno));
}

/*
 * Hold until a break (signal or POLLPRI), the end of --hold, or SIGINT /
 * SIGTERM.  Returns once it is time to release.
 */
static int hold(struct run *r, int sfd, int break_sig, enum on_break action,
		unsigned delay_ms)
{
	gint64 deadline =
	    opt.hold >= 0 ? g_get_monotonic_time() + opt.hold * G_USEC_PER_SEC : -1;
	struct pollfd pfd[2] = {
	    {.fd = sfd, .events = POLLIN},
	    {.fd = opt.poll ? r->fd : -1, .events = POLLPRI},
	};

	say("holding%s: waiting for a lease break%s", opt.hold >= 0 ? " (--hold)" : "",
	    opt.poll ? " (poll POLLPRI)" : "");
	for (;;) {
		int timeout = -1, n;
		gboolean breaking = FALSE;
		g_autofree char *how = NULL;

		if (deadline >= 0) {
			gint64 left = deadline - g_get_monotonic_time();

			if (left <= 0) {
				say("hold time over");
				return 0;
			}
			timeout = (int)((left + 999) / 1000);
		}
		n = poll(pfd, 2, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			complain("poll: %s", g_strerror(errno));
			return EXIT_FAIL;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if ((int)si.ssi_signo == SIGINT || (int)si.ssi_signo == SIGTERM) {
				say("%s: releasing", signame(si.ssi_signo));
				return 0;
			}
			if ((int)si.ssi_signo != break_sig || opt.poll) {
				say("%s received from pid %u (not the break signal here)",
				    signame(si.ssi_signo), si.ssi_pid);
			} else if (break_sig == SIGIO) {
				breaking = TRUE;
				how = g_strdup("SIGIO");
			} else {
				int sfd_fd = signal_fd(&si);

				/* Another descriptor's break is not ours, unless
				 * our own lease says it is breaking too. */
				breaking = sfd_fd == r->fd || lease_ended_or_breaking(r);
				how = g_strdup_printf("%s si_fd=%d", signame(break_sig),
						      sfd_fd);
				if (!breaking)
					say("%s for another descriptor (ours: fd=%d)",
					    how, r->fd);
			}
		}
		if (pfd[1].revents & POLLPRI) {
			breaking = TRUE;
			how = g_strdup("POLLPRI");
			pfd[1].fd = -1; /* it stays set while breaking */
		}
		if (!breaking)
			continue;
		if (r->broke) {
			say("another break notification (%s)", how);
			continue;
		}
		r->broke = TRUE;
		report_break(r, how);
		switch (action) {
		case BREAK_RELEASE:
			return 0;
		case BREAK_DELAY:
			say("releasing in %u ms (--on-break delay)", delay_ms);
			g_usleep((gulong)delay_ms * 1000);
			return 0;
		case BREAK_IGNORE:
			say("ignoring the break (--on-break ignore)%s",
			    deadline >= 0 ? "" : ": holding until SIGINT/SIGTERM");
			break;
		}
	}
}

int main(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(GError) err = NULL;
	struct run r = {.fd = -1};
	enum on_break action = BREAK_RELEASE;
	unsigned delay_ms = 0;
	int lease_type, break_sig = SIGIO, sfd, ret;
	unsigned long pattern;
	sigset_t set;
	char *end;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ctx = g_option_context_new("FILE - pin a leased range of a pinfs file for DMA");
	g_option_context_set_summary(
	    ctx,
	    "Take a layout lease on a range of FILE, map it, pin it with a DMA backend,\n"
	    "run device writes, and on a lease break release as --on-break says.\n"
	    "Exit status: 0 success, 1 failure, 2 usage, 3 backend unavailable.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		complain("%s", err->message);
		return EXIT_USAGE;
	}
	if (argc != 2) {
		complain("%s (see --help)",
			 argc < 2 ? "no FILE given" : "more than one FILE");
		return EXIT_USAGE;
	}
	r.path = argv[1];
	if (!opt.backend)
		opt.backend = g_strdup("auto");
	if (!opt.lease || !strcmp(opt.lease, "read")) {
		lease_type = PINFS_LEASE_READ;
		opt.lease = g_strdup("read");
	} else if (!strcmp(opt.lease, "write")) {
		lease_type = PINFS_LEASE_WRITE;
	} else if (!strcmp(opt.lease, "none")) {
		lease_type = -1;
	} else {
		complain("--lease wants read, write or none, not \"%s\"", opt.lease);
		return EXIT_USAGE;
	}
	if (lease_type < 0 && opt.exclusive) {
		complain("--exclusive needs a lease");
		return EXIT_USAGE;
	}
	if (!opt.on_break || !strcmp(opt.on_break, "release")) {
		action = BREAK_RELEASE;
	} else if (!strcmp(opt.on_break, "ignore")) {
		action = BREAK_IGNORE;
	} else if (g_str_has_prefix(opt.on_break, "delay=")) {
		unsigned long ms = strtoul(opt.on_break + 6, &end, 10);

		if (!g_ascii_isdigit(opt.on_break[6]) || *end || ms > 3600000) {
			complain(
			    "--on-break delay=MS wants milliseconds (at most 3600000)");
			return EXIT_USAGE;
		}
		action = BREAK_DELAY;
		delay_ms = ms;
	} else {
		complain("--on-break wants release, delay=MS or ignore, not \"%s\"",
			 opt.on_break);
		return EXIT_USAGE;
	}
	if (opt.offset < 0 || opt.length < 0 || opt.offset > G_MAXINT64 - opt.length) {
		complain("--offset and --length must be >= 0 and not overflow");
		return EXIT_USAGE;
	}
	if (opt.writes < 0 || opt.write_delay < 0 ||
	    (gint64)opt.write_delay * MAX(opt.writes, 1) > 3600000) {
		complain("--writes and --write-delay must be >= 0 (all writes within an "
			 "hour)");
		return EXIT_USAGE;
	}
	if (opt.length && opt.writes > opt.length) {
		complain("--writes %d is more than --length %" G_GINT64_FORMAT " bytes",
			 opt.writes, opt.length);
		return EXIT_USAGE;
	}
	pattern = strtoul(opt.pattern ? opt.pattern : "0xa5", &end, 0);
	if (*end || pattern > 255 || (opt.pattern && !*opt.pattern)) {
		complain("--pattern wants a byte (0-255, e.g. 0xa5), not \"%s\"",
			 opt.pattern);
		return EXIT_USAGE;
	}
	r.pattern = pattern;
	if (opt.signal) {
		if (opt.poll) {
			complain("--signal and --poll exclude each other");
			return EXIT_USAGE;
		}
		break_sig = parse_signal(opt.signal);
		if (!break_sig || break_sig == SIGKILL || break_sig == SIGSTOP ||
		    break_sig == SIGINT || break_sig == SIGTERM) {
			complain(
			    "--signal: \"%s\" is not a signal that can be caught here",
			    opt.signal);
			return EXIT_USAGE;
		}
		if (lease_type < 0) {
			complain("--signal needs a lease");
			return EXIT_USAGE;
		}
	}
	if (opt.hold < 0 && opt.hold != -1) {
		complain("--hold wants seconds >= 0");
		return EXIT_USAGE;
	}

	/*
	 * Block the signals before any thread exists, so that every thread
	 * inherits the mask and only the signalfd sees them: a SIGIO can then
	 * never kill us, even if it arrives before hold().
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGIO);
	sigaddset(&set, break_sig);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		complain("signalfd: %s", g_strerror(errno));
		return EXIT_FAIL;
	}

	say("pinfs-pin pid=%d file=%s backend=%s lease=%s%s on-break=%s", getpid(),
	    r.path, opt.backend, lease_type < 0 ? "none" : opt.lease,
	    opt.exclusive ? " exclusive" : "", opt.on_break ? opt.on_break : "release");
	ret = open_backend(&r);
	if (!ret)
		ret = setup_file(&r, lease_type, opt.signal ? break_sig : 0);
	if (!ret)
		ret = setup_pin(&r);
	if (!ret)
		ret = hold(&r, sfd, break_sig, action, delay_ms);
	if (!release_all(&r) && !ret)
		ret = EXIT_FAIL;
	if (!ret && r.verify_failed)
		ret = EXIT_FAIL;
	cleanup(&r);
	close(sfd);
	if (!ret)
		say("done");
	return ret;
}
