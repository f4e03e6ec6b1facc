// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-pinfs-pin: the pinfs-pin tool ($PINFS_PIN) as a user runs it.
 *
 * - argument errors: exit status 2 and a message naming the option;
 * - backends this machine lacks: exit status 3 and the reason;
 * - plain files (tmpfs, disk): --lease none with each host backend, the
 *   device's bytes in the file, the timeline format;
 * - a real pinfs mount ($PINFS_BIN, tests/common/mount.h): pinfs-pin holds a
 *   lease and a pin while this program truncates the file.  The truncate
 *   must return only after pinfs-pin printed "releasing lease" (causality,
 *   not timing: both stamps are CLOCK_REALTIME on one machine), and the
 *   bytes the device wrote below the new size must be in the file.
 *
 * The same binary runs in the tests/vm guest, where the kmod and rdma
 * backends exist too (PINFS_PIN_BACKENDS="kmod rdma iouring mlock").
 */
#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FILE_LEN (64 * 1024)

static const char *pin_bin(void)
{
	const char *p = g_getenv("PINFS_PIN");

	if (!p)
		g_error("PINFS_PIN is not set (meson sets it)");
	return p;
}

/* Run pinfs-pin with args to completion; returns its exit status. */
static int run_pin(const char *const *args, char **out, char **err)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	int status;

	g_ptr_array_add(argv, (gpointer)pin_bin());
	for (; *args; args++)
		g_ptr_array_add(argv, (gpointer)*args);
	g_ptr_array_add(argv, NULL);
	status = pm_run_cmd((const char *const *)argv->pdata, 60, out, err);
	g_assert_cmpint(status, !=, -1);
	g_assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Each argument error: exit status 2, and stderr names the problem. */
static void test_usage(void)
{
	static const struct {
		const char *args[6];
		const char *msg;
	} cases[] = {
	    {{NULL}, "no FILE given"},
	    {{"a", "b", NULL}, "more than one FILE"},
	    {{"--lease", "shared", "f", NULL}, "--lease wants read, write or none"},
	    {{"--on-break", "later", "f", NULL}, "--on-break wants"},
	    {{"--on-break", "delay=soon", "f", NULL}, "delay=MS wants milliseconds"},
	    {{"--pattern", "256", "f", NULL}, "--pattern wants a byte"},
	    {{"--pattern", "0xzz", "f", NULL}, "--pattern wants a byte"},
	    {{"--signal", "SIGNOPE", "f", NULL}, "--signal"},
	    {{"--signal", "KILL", "f", NULL}, "--signal"},
	    {{"--signal", "USR1", "--poll", "f", NULL}, "exclude each other"},
	    {{"--lease", "none", "--exclusive", "f", NULL}, "--exclusive needs a lease"},
	    {{"--offset", "-1", "f", NULL}, "--offset"},
	    {{"--writes", "-2", "f", NULL}, "--writes"},
	    {{"--writes", "10", "--length", "5", "f", NULL}, "more than --length"},
	    {{"--hold", "-3", "f", NULL}, "--hold"},
	    {{"--length", "lots", "f", NULL}, "lots"},
	    {{"--backend", "nosuch", "f", NULL}, "unknown backend \"nosuch\""},
	    {{"--backend", "mlock:x", "f", NULL}, "takes no argument"},
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *out = NULL, *err = NULL;
		g_autofree char *joined = g_strjoinv(" ", (char **)cases[i].args);

		g_test_message("pinfs-pin %s", joined);
		g_assert_cmpint(run_pin(cases[i].args, &out, &err), ==, 2);
		g_assert_nonnull(strstr(err, cases[i].msg));
		g_assert_null(strstr(out, "lease granted"));
	}
}

/* A backend the machine lacks: exit status 3, the reason on stderr. */
static void test_unavailable(void)
{
	g_autofree char *out = NULL, *err = NULL;
	const char *args[] = {"--backend", "kmod", "--lease", "none", "/dev/null", NULL};

	if (g_file_test("/dev/pinfs_dma", G_FILE_TEST_EXISTS)) {
		g_test_skip("/dev/pinfs_dma exists");
	} else {
		g_assert_cmpint(run_pin(args, &out, &err), ==, 3);
		g_assert_nonnull(strstr(err, "pinfs_dma module is not loaded"));
	}
	if (g_file_test("/sys/class/infiniband", G_FILE_TEST_IS_DIR))
		return;
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);
	args[1] = "rdma";
	g_assert_cmpint(run_pin(args, &out, &err), ==, 3);
	g_assert_nonnull(strstr(err, "no RDMA device found"));
}

/* A file of FILE_LEN zeros in dir; returns its path (g_free). */
static char *make_file(const char *dir)
{
	g_autofree char *zeros = g_malloc0(FILE_LEN);
	char *path = g_build_filename(dir, "pinfs-pin-test.XXXXXX", NULL);
	int fd = g_mkstemp(path);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, zeros, FILE_LEN), ==, FILE_LEN);
	close(fd);
	return path;
}

static size_t count_not(const char *buf, size_t off, size_t len, guchar b)
{
	size_t n = 0;

	for (size_t i = off; i < off + len; i++)
		n += (guchar)buf[i] != b;
	return n;
}

/* Every stdout line: "2026-11-24T17:01:02.123456Z +0.000123 text". */
static void assert_timeline(const char *out)
{
	g_autoptr(GRegex) re = g_regex_new(
	    "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z \\+\\d+\\.\\d{6} \\S",
	    0, 0, NULL);
	g_auto(GStrv) lines = g_strsplit(out, "\n", -1);

	for (char **l = lines; *l; l++) {
		if (!**l)
			continue;
		if (!g_regex_match(re, *l, 0, NULL))
			g_error("not a timeline line: \"%s\"", *l);
	}
}

static gboolean kernel_refuses_file_longterm(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	uname(&u);
	sscanf(u.release, "%d.%d", &major, &minor);
	return major > 6 || (major == 6 && minor >= 5);
}

static gboolean available(const char *backend)
{
	if (!strcmp(backend, "kmod"))
		return g_file_test("/dev/pinfs_dma", G_FILE_TEST_EXISTS);
	if (!strcmp(backend, "rdma"))
		return g_file_test("/sys/class/infiniband", G_FILE_TEST_IS_DIR);
	return TRUE;
}

/*
 * --lease none on a plain file: 4 device writes of 0x5a over bytes
 * [4096, 4096+40000), two of them delayed; the bytes must be in the file.
 */
static void test_plain(gconstpointer data)
{
	g_auto(GStrv) parts = g_strsplit(data, "/", 2);
	const char *backend = parts[0], *where = parts[1];
	const char *dir = !strcmp(where, "tmpfs") ? g_getenv("PINFS_TEST_TMPFS_DIR")
						  : g_getenv("PINFS_TEST_FILE_DIR");
	g_autofree char *path = NULL, *out = NULL, *err = NULL, *content = NULL;
	gboolean refused = FALSE;
	struct statfs sf;
	gsize n;
	int rc;

	if (!available(backend)) {
		g_test_skip("backend not available here");
		return;
	}
	if (!dir)
		dir = !strcmp(where, "tmpfs") ? "/dev/shm" : "/var/tmp";
	g_assert_no_errno(statfs(dir, &sf));
	if ((sf.f_type == TMPFS_MAGIC) != !strcmp(where, "tmpfs")) {
		g_test_skip("no such file system here (PINFS_TEST_TMPFS_DIR, _FILE_DIR)");
		return;
	}
	/* io_uring never takes a disk file's mapping (EOPNOTSUPP before 6.5);
	 * from 6.5 no FOLL_LONGTERM pin does (EFAULT). */
	refused = !strcmp(where, "file") && strcmp(backend, "mlock") &&
		  (kernel_refuses_file_longterm() || !strcmp(backend, "iouring"));
	path = make_file(dir);
	{
		const char *args[] = {
		    "--backend", backend, "--lease",  "none", "--offset",      "4096",
		    "--length",	 "40000", "--writes", "4",    "--write-delay", "30",
		    "--pattern", "0x5a",  "--hold",   "0",    "--verify",      path,
		    NULL};

		rc = run_pin(args, &out, &err);
	}
	g_test_message("stdout:\n%sstderr:\n%s", out, err);
	assert_timeline(out);
	g_assert_nonnull(strstr(out, "not pinfs"));
	g_assert_true(g_file_get_contents(path, &content, &n, NULL));
	g_assert_cmpuint(n, ==, FILE_LEN);
	if (refused) {
		g_assert_cmpint(rc, ==, 1);
		g_assert_nonnull(strstr(
		    err, kernel_refuses_file_longterm() ? "(EFAULT)" : "(EOPNOTSUPP)"));
		g_assert_nonnull(strstr(err, "6.5"));
		g_assert_cmpuint(count_not(content, 0, FILE_LEN, 0), ==, 0);
	} else {
		g_assert_cmpint(rc, ==, 0);
		g_assert_cmpstr(err, ==, "");
		g_assert_nonnull(
		    strstr(out, "device writes finished: 4 landed, 0 pending"));
		g_assert_nonnull(strstr(out, "verify: 0 of 40000 bytes differ"));
		g_assert_nonnull(strstr(out, "unpinned"));
		g_assert_cmpuint(count_not(content, 0, 4096, 0), ==, 0);
		g_assert_cmpuint(count_not(content, 4096, 40000, 0x5a), ==, 0);
		g_assert_cmpuint(count_not(content, 44096, FILE_LEN - 44096, 0), ==, 0);
	}
	if (!strcmp(backend, "mlock"))
		g_assert_nonnull(strstr(out, "NOT a DMA pin"));
	g_unlink(path);
}

/* A lease needs pinfs: a plain file is refused unless --lease none. */
static void test_not_pinfs(void)
{
	g_autofree char *path = make_file("/dev/shm");
	g_autofree char *out = NULL, *err = NULL;
	const char *args[] = {"--backend", "mlock", path, NULL};

	g_assert_cmpint(run_pin(args, &out, &err), ==, 1);
	g_assert_nonnull(strstr(err, "not a file on a pinfs mount"));
	g_unlink(path);
}

/* ---- on a real pinfs mount ---- */

/* pinfs-pin running in the background, its stdout and stderr merged. */
struct bg {
	GSubprocess *proc;
	GDataInputStream *in;
	GString *out;
};

static void bg_start(struct bg *bg, const char *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) err = NULL;

	g_ptr_array_add(argv, (gpointer)pin_bin());
	for (; *args; args++)
		g_ptr_array_add(argv, (gpointer)*args);
	g_ptr_array_add(argv, NULL);
	bg->proc = g_subprocess_newv(
	    (const char *const *)argv->pdata,
	    G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &err);
	g_assert_no_error(err);
	bg->in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(bg->proc));
	bg->out = g_string_new(NULL);
}

/* Read lines until one contains what (TRUE) or EOF (FALSE). */
static gboolean bg_wait_for(struct bg *bg, const char *what)
{
	for (;;) {
		g_autofree char *line =
		    g_data_input_stream_read_line(bg->in, NULL, NULL, NULL);

		if (!line)
			return FALSE;
		g_string_append_printf(bg->out, "%s\n", line);
		if (what && strstr(line, what))
			return TRUE;
	}
}

/* Read to EOF and reap; returns the exit status.  Frees bg. */
static int bg_finish(struct bg *bg, char **out)
{
	g_autoptr(GError) err = NULL;
	int status;

	bg_wait_for(bg, NULL);
	g_assert_true(g_subprocess_wait(bg->proc, NULL, &err));
	g_assert_no_error(err);
	status = g_subprocess_get_if_exited(bg->proc)
		     ? g_subprocess_get_exit_status(bg->proc)
		     : 128 + g_subprocess_get_term_sig(bg->proc);
	g_object_unref(bg->in);
	g_object_unref(bg->proc);
	*out = g_string_free(bg->out, FALSE);
	return status;
}

/* The CLOCK_REALTIME stamp (microseconds) of the first line containing what. */
static gint64 stamp_of(const char *out, const char *what)
{
	g_auto(GStrv) lines = g_strsplit(out, "\n", -1);

	for (char **l = lines; *l; l++) {
		g_autofree char *iso = NULL;
		g_autoptr(GDateTime) dt = NULL;

		if (!strstr(*l, what) || !strchr(*l, ' '))
			continue;
		iso = g_strndup(*l, strchr(*l, ' ') - *l);
		dt = g_date_time_new_from_iso8601(iso, NULL);
		g_assert_nonnull(dt);
		return g_date_time_to_unix(dt) * G_USEC_PER_SEC +
		       g_date_time_get_microsecond(dt);
	}
	g_error("no line with \"%s\" in:\n%s", what, out);
	return 0;
}

static gint64 now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* Lines containing a, b, c ... appear in this order. */
static void assert_order(const char *out, const char *const *steps)
{
	const char *p = out;

	for (; *steps; steps++) {
		const char *q = strstr(p, *steps);

		if (!q)
			g_error("\"%s\" missing or out of order in:\n%s", *steps, out);
		p = q;
	}
}

static char *mount_file(struct pm *pm)
{
	g_autofree char *zeros = g_malloc0(FILE_LEN);
	char *path = pm_path(pm, "pinned");

	g_assert_true(g_file_set_contents(path, zeros, FILE_LEN, NULL));
	return path;
}

/*
 * On a kernel that refuses writable long-term pins of FUSE mappings (Linux
 * 6.5 and later), a kmod or rdma holder on a pinfs mount gets its lease but
 * cannot pin: assert exactly that (EFAULT, lease released, the file
 * untouched) and return TRUE; FALSE where the kernel allows the pin.
 */
static gboolean pin_refused_on_mount(struct pm *pm, const char *path, const char *backend)
{
	g_autofree char *out = NULL, *err = NULL, *content = NULL;
	const char *args[] = {"--backend", backend, "--hold", "0",
			      "--pattern", "0x6b",  path,     NULL};
	gsize n;

	if (!strcmp(backend, "mlock") || !kernel_refuses_file_longterm())
		return FALSE;
	g_assert_cmpint(run_pin(args, &out, &err), ==, 1);
	g_test_message("pinfs-pin:\n%s%s", out, err);
	g_assert_nonnull(strstr(err, "Bad address (EFAULT)"));
	g_assert_nonnull(strstr(err, "6.5"));
	g_assert_nonnull(strstr(out, "lease granted"));
	g_assert_nonnull(strstr(out, "lease released"));
	g_assert_null(strstr(out, "pinned 65536 bytes"));
	g_assert_true(g_file_get_contents(path, &content, &n, NULL));
	g_assert_cmpuint(n, ==, FILE_LEN);
	g_assert_cmpuint(count_not(content, 0, FILE_LEN, 0), ==, 0);
	pm_unmount(pm);
	return TRUE;
}

/*
 * Scenario 2: pinfs-pin takes a lease on the whole file, pins it, registers
 * the pin and runs two device writes of 0x6b, landing write_delay and
 * 2 * write_delay ms later (0: at once, before the truncate starts); then
 * this program truncates the file to 4096 bytes.  The truncate waits;
 * pinfs-pin is told (mode: SIGIO, an F_SETSIG signal, or POLLPRI), lets its
 * writes land, unpins, unregisters and releases; only then does the
 * truncate return, and the first 4096 bytes hold the device's pattern.
 */
static void truncate_waits(const char *backend, const char *mode, const char *write_delay)
{
	struct pm *pm;
	g_autofree char *path = NULL, *out = NULL, *content = NULL;
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	struct bg bg;
	gint64 truncated;
	gsize n;
	int fd, rc;

	if (!available(backend)) {
		pm_skip("backend not available here");
		return;
	}
	pm = pm_mount("break_time=10");
	path = mount_file(pm);
	if (pin_refused_on_mount(pm, path, backend))
		return;
	g_ptr_array_add(args, "--backend");
	g_ptr_array_add(args, (gpointer)backend);
	g_ptr_array_add(args, "--on-break");
	g_ptr_array_add(args, "release");
	g_ptr_array_add(args, "--writes");
	g_ptr_array_add(args, "2");
	g_ptr_array_add(args, "--write-delay");
	g_ptr_array_add(args, (gpointer)write_delay);
	g_ptr_array_add(args, "--pattern");
	g_ptr_array_add(args, "0x6b");
	g_ptr_array_add(args, "--register-pin");
	g_ptr_array_add(args, "--verify");
	/* A missed break then ends in a failed assertion, not a hang. */
	g_ptr_array_add(args, "--hold");
	g_ptr_array_add(args, "30");
	if (!strcmp(mode, "poll")) {
		g_ptr_array_add(args, "--poll");
	} else if (strcmp(mode, "sigio")) {
		g_ptr_array_add(args, "--signal");
		g_ptr_array_add(args, (gpointer)mode);
	}
	g_ptr_array_add(args, path);
	g_ptr_array_add(args, NULL);
	bg_start(&bg, (const char *const *)args->pdata);
	if (!bg_wait_for(&bg, "holding"))
		g_error("pinfs-pin ended early:\n%s", bg.out->str);

	/* Not O_NONBLOCK: this truncate must wait for the holder (rule 9). */
	fd = open(path, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	g_assert_no_errno(ftruncate(fd, 4096));
	truncated = now_us();
	close(fd);

	rc = bg_finish(&bg, &out);
	g_test_message("pinfs-pin:\n%s", out);
	if (rc != 0)
		g_error("pinfs-pin exited with %d:\n%s", rc, out);
	assert_timeline(out);
	{
		const char *steps[] = {"lease granted",
				       "pinned",
				       "pin registered",
				       "holding",
				       "lease break",
				       "device writes finished: 2 landed",
				       "verify: 0 of 65536 bytes differ",
				       "unpinned",
				       "pin unregistered",
				       "releasing lease",
				       "lease released",
				       "done",
				       NULL};

		assert_order(out, steps);
	}
	if (!strcmp(mode, "poll"))
		g_assert_nonnull(strstr(out, "lease break: POLLPRI state=breaking"));
	else if (!strcmp(mode, "sigio"))
		g_assert_nonnull(strstr(out, "lease break: SIGIO state=breaking"));
	else
		g_assert_nonnull(strstr(out, "si_fd="));
	/* Causality: the truncate returned after the holder began releasing. */
	g_assert_cmpint(truncated, >=, stamp_of(out, "releasing lease"));
	g_assert_cmpint(truncated, >=, stamp_of(out, "device writes finished"));

	/* The device's bytes below the new size are the file's. */
	g_assert_true(g_file_get_contents(path, &content, &n, NULL));
	g_assert_cmpuint(n, ==, 4096);
	g_assert_cmpuint(count_not(content, 0, 4096, 0x6b), ==, 0);
	pm_unmount(pm);
}

/*
 * mlock's writes land before the truncate: a CPU write into a pinfs
 * mapping while a truncate is parked can block in fuse_page_mkwrite()
 * (waiting for a writeback that FUSE holds back until the truncate is
 * answered), and the holder then never releases: seen in the guest,
 * docs/pinning.md.  Real devices do not fault; see the -late tests.
 */
static void test_mount_mlock_sigio(void)
{
	truncate_waits("mlock", "sigio", "0");
}

static void test_mount_mlock_signal(void)
{
	truncate_waits("mlock", "SIGRTMIN+1", "0");
}

static void test_mount_mlock_poll(void)
{
	truncate_waits("mlock", "poll", "0");
}

/* Real DMA pins, writes landed before the truncate starts. */
static void test_mount_kmod_early(void)
{
	truncate_waits("kmod", "sigio", "0");
}

static void test_mount_rdma_early(void)
{
	truncate_waits("rdma", "USR1", "0");
}

/* Real DMA pins, writes landing while the truncate waits for the holder. */
static void test_mount_kmod_late(void)
{
	truncate_waits("kmod", "sigio", "300");
}

static void test_mount_rdma_late(void)
{
	truncate_waits("rdma", "poll", "300");
}

/*
 * Nothing but an open() and read() by another process while the device
 * still writes: pinned pages must stay the file's pages (no lease break is
 * involved).  Fails while the daemon answers open without keep_cache: the
 * kernel then drops the page cache on every open, pinned pages included
 * (docs/pinning.md).
 */
static void open_keeps_pins(const char *backend)
{
	struct pm *pm;
	g_autofree char *path = NULL, *out = NULL, *content = NULL, *peek = NULL;
	const char *args[] = {"--backend",     backend, "--writes",  "1",
			      "--write-delay", "800",	"--pattern", "0x4d",
			      "--hold",	       "1.5",	NULL,	     NULL};
	struct bg bg;
	gsize n;
	int rc;

	if (!available(backend)) {
		pm_skip("backend not available here");
		return;
	}
	pm = pm_mount(NULL);
	path = mount_file(pm);
	if (pin_refused_on_mount(pm, path, backend))
		return;
	args[10] = path;
	bg_start(&bg, args);
	if (!bg_wait_for(&bg, "holding"))
		g_error("pinfs-pin ended early:\n%s", bg.out->str);
	g_assert_true(g_file_get_contents(path, &peek, &n, NULL));
	rc = bg_finish(&bg, &out);
	if (rc != 0)
		g_error("pinfs-pin exited with %d:\n%s", rc, out);
	g_assert_nonnull(strstr(out, "device writes finished: 1 landed"));
	g_assert_true(g_file_get_contents(path, &content, &n, NULL));
	g_assert_cmpuint(n, ==, FILE_LEN);
	g_assert_cmpuint(count_not(content, 0, FILE_LEN, 0x4d), ==, 0);
	pm_unmount(pm);
}

static void test_mount_kmod_open(void)
{
	open_keeps_pins("kmod");
}

static void test_mount_rdma_open(void)
{
	open_keeps_pins("rdma");
}

/*
 * io_uring never registers a FUSE mapping: io_uring itself refuses it
 * (EOPNOTSUPP) before Linux 6.5, GUP (EFAULT) after.  The error must say
 * so, and pinfs-pin must still give its lease back.
 */
static void test_mount_iouring(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *path = mount_file(pm);
	g_autofree char *out = NULL, *err = NULL;
	const char *args[] = {"--backend", "iouring", "--hold", "0", path, NULL};

	g_assert_cmpint(run_pin(args, &out, &err), ==, 1);
	g_assert_nonnull(
	    strstr(err, kernel_refuses_file_longterm()
			    ? "io_uring_register_buffers: Bad address (EFAULT)"
			    : "io_uring_register_buffers: Operation not "
			      "supported (EOPNOTSUPP)"));
	g_assert_nonnull(strstr(err, "FUSE"));
	g_assert_nonnull(strstr(out, "lease granted"));
	g_assert_nonnull(strstr(out, "lease released"));
	g_assert_null(strstr(out, "pinned 65536 bytes"));
	pm_unmount(pm);
}

/*
 * --on-break ignore with a registered pin and break_time=1: the lease is
 * revoked, but the pin keeps the truncate waiting (rule 11, pinned=wait)
 * until pinfs-pin's --hold ends and it unpins.
 */
static void test_mount_ignore(void)
{
	struct pm *pm = pm_mount("break_time=1");
	g_autofree char *path = mount_file(pm);
	g_autofree char *out = NULL;
	const char *args[] = {"--backend",	"mlock",  "--on-break",
			      "ignore",		"--hold", "3",
			      "--register-pin", path,	  NULL};
	struct bg bg;
	gint64 truncated;
	int fd;

	pm_expect_log(pm, "revok");
	bg_start(&bg, args);
	if (!bg_wait_for(&bg, "holding"))
		g_error("pinfs-pin ended early:\n%s", bg.out->str);
	fd = open(path, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	g_assert_no_errno(ftruncate(fd, 0));
	truncated = now_us();
	close(fd);
	g_assert_cmpint(bg_finish(&bg, &out), ==, 0);
	g_test_message("pinfs-pin:\n%s", out);
	{
		const char *steps[] = {"lease break",
				       "ignoring the break",
				       "hold time over",
				       "unpinned",
				       "pin unregistered",
				       "already ended: state=",
				       "done",
				       NULL};

		assert_order(out, steps);
	}
	g_assert_nonnull(strstr(out, "end=revoked-timeout"));
	g_assert_cmpint(truncated, >=, stamp_of(out, "unpinned"));
	pm_unmount(pm);
}

/* An exclusive lease: the truncate fails with ETXTBSY at once (rule 12). */
static void test_mount_exclusive(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *path = mount_file(pm);
	g_autofree char *out = NULL;
	const char *args[] = {"--backend", "mlock", "--exclusive", "--lease",
			      "write",	   path,    NULL};
	struct bg bg;
	struct stat st;
	int fd;

	bg_start(&bg, args);
	if (!bg_wait_for(&bg, "holding"))
		g_error("pinfs-pin ended early:\n%s", bg.out->str);
	fd = open(path, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, 0), ==, -1);
	g_assert_cmpint(errno, ==, ETXTBSY);
	g_assert_no_errno(fstat(fd, &st));
	g_assert_cmpint(st.st_size, ==, FILE_LEN);
	close(fd);
	g_subprocess_send_signal(bg.proc, SIGTERM);
	g_assert_cmpint(bg_finish(&bg, &out), ==, 0);
	g_assert_nonnull(strstr(out, "lease granted"));
	g_assert_nonnull(strstr(out, "exclusive"));
	g_assert_nonnull(strstr(out, "SIGTERM: releasing"));
	g_assert_nonnull(strstr(out, "lease released"));
	pm_unmount(pm);
}

/* Registering a pin without a lease: EPERM (rule 13), exit status 1. */
static void test_mount_pin_needs_lease(void)
{
	struct pm *pm = pm_mount(NULL);
	g_autofree char *path = mount_file(pm);
	g_autofree char *out = NULL, *err = NULL;
	const char *args[] = {"--backend", "mlock", "--lease", "none", "--register-pin",
			      "--hold",	   "0",	    path,      NULL};

	g_assert_cmpint(run_pin(args, &out, &err), ==, 1);
	g_assert_nonnull(strstr(err, "EPERM"));
	g_assert_nonnull(strstr(err, "rule 13"));
	g_assert_nonnull(strstr(out, "unpinned"));
	pm_unmount(pm);
}

int main(int argc, char **argv)
{
	static const char *const plain[] = {
	    "mlock/tmpfs", "mlock/file", "iouring/tmpfs", "iouring/file",
	    "kmod/tmpfs",  "kmod/file",	 "rdma/tmpfs",	  "rdma/file",
	};

	pm_init(&argc, &argv);
	g_test_add_func("/pinfs-pin/usage", test_usage);
	g_test_add_func("/pinfs-pin/unavailable", test_unavailable);
	g_test_add_func("/pinfs-pin/not-pinfs", test_not_pinfs);
	for (size_t i = 0; i < G_N_ELEMENTS(plain); i++) {
		g_autofree char *p = g_strdup_printf("/pinfs-pin/plain/%s", plain[i]);

		g_test_add_data_func(p, plain[i], test_plain);
	}
	pm_add_test("/pinfs-pin/mount/mlock-sigio", test_mount_mlock_sigio);
	pm_add_test("/pinfs-pin/mount/mlock-setsig", test_mount_mlock_signal);
	pm_add_test("/pinfs-pin/mount/mlock-poll", test_mount_mlock_poll);
	pm_add_test("/pinfs-pin/mount/iouring", test_mount_iouring);
	pm_add_test("/pinfs-pin/mount/ignore-revoked-pin-waits", test_mount_ignore);
	pm_add_test("/pinfs-pin/mount/exclusive", test_mount_exclusive);
	pm_add_test("/pinfs-pin/mount/pin-needs-lease", test_mount_pin_needs_lease);
	pm_add_test("/pinfs-pin/mount/kmod-early", test_mount_kmod_early);
	pm_add_test("/pinfs-pin/mount/rdma-early", test_mount_rdma_early);
	pm_add_test("/pinfs-pin/mount/kmod-open", test_mount_kmod_open);
	pm_add_test("/pinfs-pin/mount/rdma-open", test_mount_rdma_open);
	pm_add_test("/pinfs-pin/mount/kmod-late", test_mount_kmod_late);
	pm_add_test("/pinfs-pin/mount/rdma-late", test_mount_rdma_late);
	return g_test_run();
}
