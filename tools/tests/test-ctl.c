// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-ctl.c - the control channel (fs/ctl.c) and pinfsctl, end to end.
 *
 * Each test starts the server on a socket in a temporary directory, with a
 * real lease table (fs/lease.c) driven by a fake clock, and a thread that
 * iterates the server's GMainContext as the daemon's event thread does.
 * Leases and waiters are made through the lt_* API; the answers are read
 * through the real pinfsctl binary ($PINFSCTL) and through raw JSON.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "ctl.h"
#include "lease.h"

#define SEC 1000000000ull
#define NOBODY 65534

/* Files the hooks know: their owners, and one without a path. */
#define INO_ROOTS 100	/* owned by root */
#define INO_NOBODY 200	/* owned by nobody */
#define INO_NOOWNER 300 /* owner lookup fails */
#define INO_NOPATH 7	/* ino_path returns NULL */

static const char *pinfsctl;
static uint64_t fake_now; /* __atomic: read by the server thread */

struct fx {
	struct lease_table *t;
	struct ctl_server *srv;
	GMainContext *mc;
	GMainLoop *loop;
	GThread *thread;
	char *dir, *sock;
	int resumed;	/* waiters resumed (__atomic) */
	int resume_err; /* the last resume's err */
};

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

static void advance(uint64_t ns)
{
	__atomic_add_fetch(&fake_now, ns, __ATOMIC_RELAXED);
}

static const struct lt_clock clock_ = {fake_clock, NULL};

/* What a revoke resumed: counted, with the last one's err. */
static void hook_effects(void *ctx, struct lt_effects *e)
{
	struct fx *fx = ctx;

	for (guint i = 0; e->resumed && i < e->resumed->len; i++) {
		struct lt_resumed *r = &g_array_index(e->resumed, struct lt_resumed, i);

		__atomic_store_n(&fx->resume_err, r->err, __ATOMIC_RELAXED);
		__atomic_add_fetch(&fx->resumed, 1, __ATOMIC_RELAXED);
	}
}

static char *hook_path(void *ctx, uint64_t ino)
{
	(void)ctx;
	if (ino == INO_NOPATH)
		return NULL;
	return g_strdup_printf("/dir/file-%" G_GUINT64_FORMAT, ino);
}

static int hook_owner(void *ctx, uint64_t ino, uid_t *uid)
{
	(void)ctx;
	switch (ino) {
	case INO_NOBODY:
		*uid = NOBODY;
		return 0;
	case INO_NOOWNER:
		return -ENOENT;
	default:
		*uid = 0;
		return 0;
	}
}

/* The daemon's answer for "status": the module came 10 s before "now". */
static void hook_status(void *ctx, struct ctl_status *st)
{
	(void)ctx;
	st->leases = true;
	st->pinned_fail = true;
	st->break_time = 45;
	st->dma_watched = true;
	st->dma_require = true;
	g_strlcpy(st->dma_module, "loaded", sizeof(st->dma_module));
	g_strlcpy(st->dma_detail, "the pinfs_dma module answers", sizeof(st->dma_detail));
	st->dma_since_ns = 990 * SEC;
	st->dma_changes = 3;
}

static const struct ctl_hooks hooks = {
    .ino_path = hook_path,
    .ino_owner = hook_owner,
    .status = hook_status,
    .effects = hook_effects,
};

static gpointer run_loop(gpointer data)
{
	struct fx *fx = data;

	g_main_context_push_thread_default(fx->mc);
	g_main_loop_run(fx->loop);
	g_main_context_pop_thread_default(fx->mc);
	return NULL;
}

static void fx_setup(struct fx *fx, gconstpointer unused)
{
	struct lt_config cfg = {.break_time_ns = 45 * SEC};
	GError *err = NULL;

	(void)unused;
	memset(fx, 0, sizeof(*fx));
	__atomic_store_n(&fake_now, 1000 * SEC, __ATOMIC_RELAXED);
	fx->dir = g_dir_make_tmp("test-ctl-XXXXXX", &err);
	g_assert_no_error(err);
	g_assert_cmpint(chmod(fx->dir, 0755), ==, 0); /* reachable by nobody */
	fx->sock = g_build_filename(fx->dir, "pinfs", "0:99.sock", NULL);
	fx->t = lt_new(&cfg, &clock_, NULL);
	g_assert_nonnull(fx->t);
	fx->mc = g_main_context_new();
	fx->srv = ctl_start(fx->mc, fx->t, fx->sock, &clock_, &hooks, fx, &err);
	g_assert_no_error(err);
	g_assert_nonnull(fx->srv);
	fx->loop = g_main_loop_new(fx->mc, FALSE);
	fx->thread = g_thread_new("ctl", run_loop, fx);
}

static gboolean quit(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

static void fx_teardown(struct fx *fx, gconstpointer unused)
{
	(void)unused;
	/* Stop while the event thread still runs: ctl_stop tears down there. */
	ctl_stop(fx->srv);
	g_assert_false(g_file_test(fx->sock, G_FILE_TEST_EXISTS));
	g_main_context_invoke(fx->mc, quit, fx->loop);
	g_thread_join(fx->thread);
	g_main_loop_unref(fx->loop);
	g_main_context_unref(fx->mc);
	lt_destroy(fx->t, NULL);
	{
		char *sub = g_path_get_dirname(fx->sock);

		g_rmdir(sub);
		g_free(sub);
	}
	g_rmdir(fx->dir);
	g_free(fx->sock);
	g_free(fx->dir);
}

/* ---- Running pinfsctl ---- */

static void become(gpointer data)
{
	uid_t uid = GPOINTER_TO_UINT(data);

	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		_exit(127);
}

/*
 * Run pinfsctl with args (NULL-terminated), as uid (or ourselves when uid
 * is (uid_t)-1).  Returns the exit status; *out and *err get its output.
 */
static int run_pinfsctl(uid_t uid, char **out, char **err, ...)
{
	GPtrArray *argv = g_ptr_array_new();
	GError *error = NULL;
	const char *a;
	va_list ap;
	int status;

	g_ptr_array_add(argv, (gpointer)pinfsctl);
	va_start(ap, err);
	while ((a = va_arg(ap, const char *)))
		g_ptr_array_add(argv, (gpointer)a);
	va_end(ap);
	g_ptr_array_add(argv, NULL);

	g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT,
		     uid == (uid_t)-1 ? NULL : become, GUINT_TO_POINTER(uid), out, err,
		     &status, &error);
	g_assert_no_error(error);
	g_ptr_array_free(argv, TRUE);
	g_test_message("pinfsctl exit %d\nstdout:\n%s\nstderr:\n%s", status, *out, *err);
	g_assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* The whitespace-separated fields of line n of text. */
static char **line_fields(const char *text, guint n)
{
	char **lines = g_strsplit(text, "\n", -1);
	GPtrArray *f = g_ptr_array_new();
	char **words, **ret;
	guint i;

	g_assert_cmpuint(n, <, g_strv_length(lines));
	words = g_strsplit_set(lines[n], " ", -1);
	for (i = 0; words[i]; i++)
		if (words[i][0])
			g_ptr_array_add(f, g_strdup(words[i]));
	g_ptr_array_add(f, NULL);
	ret = (char **)g_ptr_array_free(f, FALSE);
	g_strfreev(words);
	g_strfreev(lines);
	return ret;
}

static void assert_fields(char **f, const char *const *want)
{
	guint i;

	for (i = 0; want[i]; i++) {
		g_assert_nonnull(f[i]);
		g_assert_cmpstr(f[i], ==, want[i]);
	}
	g_assert_null(f[i]);
}

static guint count_lines(const char *text)
{
	guint n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

static char *self_comm(pid_t pid)
{
	char *file = g_strdup_printf("/proc/%d/comm", (int)pid), *text = NULL;

	g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
	g_free(file);
	return g_strchomp(text);
}

static uint64_t lease_id_of(struct fx *fx, uint64_t ino, uint64_t fh)
{
	struct lt_status st;

	lt_getlease(fx->t, ino, fh, &st);
	g_assert_cmpint(st.state, !=, LT_NONE);
	return st.lease_id;
}

/* ---- Raw JSON ---- */

static GSocketConnection *connect_raw(struct fx *fx)
{
	GSocketClient *client = g_socket_client_new();
	GSocketAddress *addr = g_unix_socket_address_new(fx->sock);
	GSocketConnection *conn;
	GError *err = NULL;

	g_socket_client_set_timeout(client, 30);
	conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &err);
	g_assert_no_error(err);
	g_object_unref(addr);
	g_object_unref(client);
	return conn;
}

static void send_raw(GSocketConnection *conn, const void *data, gsize len)
{
	GError *err = NULL;

	g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), data,
				  len, NULL, NULL, &err);
	g_assert_no_error(err);
}

/* Read one answer line and parse it; the caller unrefs the parser. */
static JsonObject *read_answer(GSocketConnection *conn, GDataInputStream *in,
			       JsonParser **p)
{
	GError *err = NULL;
	char *line;

	(void)conn;
	line = g_data_input_stream_read_line(in, NULL, NULL, &err);
	g_assert_no_error(err);
	g_assert_nonnull(line);
	g_test_message("answer: %s", line);
	*p = json_parser_new();
	json_parser_load_from_data(*p, line, -1, &err);
	g_assert_no_error(err);
	g_free(line);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(*p)));
	return json_node_get_object(json_parser_get_root(*p));
}

static JsonObject *rpc(GSocketConnection *conn, GDataInputStream *in, const char *req,
		       JsonParser **p)
{
	send_raw(conn, req, strlen(req));
	send_raw(conn, "\n", 1);
	return read_answer(conn, in, p);
}

static GDataInputStream *input_of(GSocketConnection *conn)
{
	return g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
}

static void assert_error(JsonObject *o, int err)
{
	g_assert_false(json_object_get_boolean_member(o, "ok"));
	g_assert_cmpint(json_object_get_int_member(o, "errno"), ==, err);
	g_assert_nonnull(json_object_get_string_member(o, "error"));
}

/*
 * rpc() on a connection the server may refuse: a refused connection is
 * told EBUSY and closed without the server reading anything, so the
 * request may meet a closed socket (EPIPE; GLib sends with MSG_NOSIGNAL).
 * The answer already sent is still read, and must be that refusal.
 */
static JsonObject *rpc_maybe_refused(GSocketConnection *conn, GDataInputStream *in,
				     const char *req, JsonParser **p)
{
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	GError *err = NULL;
	JsonObject *o;

	if (g_output_stream_write_all(out, req, strlen(req), NULL, NULL, &err))
		g_output_stream_write_all(out, "\n", 1, NULL, NULL, &err);
	if (!err)
		return read_answer(conn, in, p);
	g_test_message("request not sent: %s", err->message);
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
	g_error_free(err);
	o = read_answer(conn, in, p);
	assert_error(o, EBUSY);
	return o;
}

static void assert_version_works(GSocketConnection *conn, GDataInputStream *in)
{
	JsonParser *p;
	JsonObject *o = rpc(conn, in, "{\"cmd\":\"version\"}", &p);

	g_assert_true(json_object_get_boolean_member(o, "ok"));
	g_assert_cmpint(json_object_get_int_member(o, "protocol"), ==,
			CTL_PROTOCOL_VERSION);
	g_assert_cmpstr(json_object_get_string_member(o, "version"), ==, PINFS_VERSION);
	g_object_unref(p);
}

static JsonObject *find_by_id(JsonObject *resp, const char *array, uint64_t id)
{
	JsonArray *a = json_object_get_array_member(resp, array);
	guint i;

	for (i = 0; i < json_array_get_length(a); i++) {
		JsonObject *o = json_array_get_object_element(a, i);

		if ((uint64_t)json_object_get_int_member(o, "id") == id)
			return o;
	}
	g_assert_not_reached();
}

/* ---- Tests ---- */

/* Two leases, one exclusive with a pin: pinfsctl's table, then JSON. */
static void test_leases(struct fx *fx, gconstpointer unused)
{
	static const char *const head[] = {"ID",    "PATH",  "PID", "COMMAND", "TYPE",
					   "RANGE", "STATE", "AGE", "PINNED",  NULL};
	char *out, *err, *comm = self_comm(getpid()),
			 *pid = g_strdup_printf("%d", getpid());
	char *id1, *id2, **f;
	uint64_t pin, l1, l2;
	GSocketConnection *conn;
	GDataInputStream *in;
	JsonObject *o, *e;
	JsonParser *p;

	(void)unused;
	g_assert_cmpint(lt_setlease(fx->t, INO_ROOTS, 1, getpid(), 0, LT_READ, false, 0,
				    LT_LEN_EOF, true, NULL),
			==, 0);
	advance(3 * SEC);
	g_assert_cmpint(lt_setlease(fx->t, INO_NOPATH, 2, getpid(), 0, LT_WRITE, true,
				    4096, 8192, true, NULL),
			==, 0);
	g_assert_cmpint(lt_pin(fx->t, INO_NOPATH, 2, 4096, 4096, &pin, NULL), ==, 0);
	advance(2 * SEC);
	l1 = lease_id_of(fx, INO_ROOTS, 1);
	l2 = lease_id_of(fx, INO_NOPATH, 2);
	g_assert_cmpuint(l1, <, l2); /* pinfsctl sorts by id */
	id1 = g_strdup_printf("%" G_GUINT64_FORMAT, l1);
	id2 = g_strdup_printf("%" G_GUINT64_FORMAT, l2);

	g_assert_cmpint(
	    run_pinfsctl(-1, &out, &err, "--socket", fx->sock, "leases", NULL), ==, 0);
	g_assert_cmpuint(count_lines(out), ==, 3);
	f = line_fields(out, 0);
	assert_fields(f, head);
	g_strfreev(f);
	f = line_fields(out, 1);
	assert_fields(f, (const char *const[]){id1, "/dir/file-100", pid, comm, "READ",
					       "0-EOF", "ACTIVE", "5.0s", "0", NULL});
	g_strfreev(f);
	f = line_fields(out, 2);
	assert_fields(f,
		      (const char *const[]){id2, "ino:7", pid, comm, "WRITE+EXCL",
					    "4096-12287", "ACTIVE", "2.0s", "4K", NULL});
	g_strfreev(f);
	g_free(out);
	g_free(err);

	/* --json prints the daemon's answer */
	g_assert_cmpint(
	    run_pinfsctl(-1, &out, &err, "--json", "--socket", fx->sock, "leases", NULL),
	    ==, 0);
	p = json_parser_new();
	g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
	o = json_node_get_object(json_parser_get_root(p));
	g_assert_true(json_object_get_boolean_member(o, "ok"));
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "leases")),
			 ==, 2);
	g_object_unref(p);
	g_free(out);
	g_free(err);

	/* the same over a raw connection, field by field */
	conn = connect_raw(fx);
	in = input_of(conn);
	o = rpc(conn, in, "{\"cmd\":\"leases\"}", &p);
	g_assert_true(json_object_get_boolean_member(o, "ok"));
	g_assert_cmpint(json_object_get_int_member(o, "now_ns"), ==, 1005 * SEC);
	e = find_by_id(o, "leases", l1);
	g_assert_cmpint(json_object_get_int_member(e, "ino"), ==, INO_ROOTS);
	g_assert_cmpint(json_object_get_int_member(e, "fh"), ==, 1);
	g_assert_cmpstr(json_object_get_string_member(e, "path"), ==, "/dir/file-100");
	g_assert_cmpint(json_object_get_int_member(e, "pid"), ==, getpid());
	g_assert_cmpstr(json_object_get_string_member(e, "command"), ==, comm);
	g_assert_cmpstr(json_object_get_string_member(e, "type"), ==, "read");
	g_assert_false(json_object_get_boolean_member(e, "exclusive"));
	g_assert_cmpstr(json_object_get_string_member(e, "state"), ==, "active");
	g_assert_cmpint(json_object_get_int_member(e, "offset"), ==, 0);
	g_assert_true(json_object_get_null_member(e, "length"));
	g_assert_cmpint(json_object_get_int_member(e, "granted_ns"), ==, 1000 * SEC);
	g_assert_cmpint(json_object_get_int_member(e, "age_ns"), ==, 5 * SEC);
	g_assert_false(json_object_has_member(e, "break_start_ns"));
	g_assert_cmpint(json_object_get_int_member(e, "pinned_bytes"), ==, 0);
	g_assert_cmpint(json_object_get_int_member(e, "pins"), ==, 0);
	e = find_by_id(o, "leases", l2);
	g_assert_true(json_object_get_null_member(e, "path"));
	g_assert_cmpstr(json_object_get_string_member(e, "type"), ==, "write");
	g_assert_true(json_object_get_boolean_member(e, "exclusive"));
	g_assert_cmpint(json_object_get_int_member(e, "offset"), ==, 4096);
	g_assert_cmpint(json_object_get_int_member(e, "length"), ==, 8192);
	g_assert_cmpint(json_object_get_int_member(e, "age_ns"), ==, 2 * SEC);
	g_assert_cmpint(json_object_get_int_member(e, "pinned_bytes"), ==, 4096);
	g_assert_cmpint(json_object_get_int_member(e, "pins"), ==, 1);
	g_object_unref(p);

	/* a released lease is gone from the listing */
	g_assert_cmpint(lt_setlease(fx->t, INO_ROOTS, 1, getpid(), 0, LT_UNLOCK, false, 0,
				    0, true, NULL),
			==, 0);
	o = rpc(conn, in, "{\"cmd\":\"leases\"}", &p);
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "leases")),
			 ==, 1);
	g_object_unref(p);

	g_object_unref(in);
	g_object_unref(conn);
	g_free(id1);
	g_free(id2);
	g_free(pid);
	g_free(comm);
}

/* A parked truncate: the lease shows BREAKING, the waiter its wait; root
 * revokes the lease and the waiter goes ahead; stats count it all. */
static void test_waiters_revoke_stats(struct fx *fx, gconstpointer unused)
{
	static const char *const head[] = {"ID",    "PATH",   "PID",	   "COMMAND",
					   "RANGE", "WAITED", "PINS-ONLY", NULL};
	char *out, *err, *comm = self_comm(getpid()),
			 *pid = g_strdup_printf("%d", getpid());
	char *holder_comm = self_comm(getppid()),
	     *holder = g_strdup_printf("%d", getppid());
	char *wid_s, *lid_s, **f;
	uint64_t wid, lid;
	struct lt_stats st;
	GSocketConnection *conn;
	GDataInputStream *in;
	JsonObject *o, *e;
	JsonParser *p;

	(void)unused;
	/* the holder is another process (our parent), the breaker is us */
	g_assert_cmpint(lt_setlease(fx->t, INO_ROOTS, 1, getppid(), 0, LT_READ, false, 0,
				    LT_LEN_EOF, true, NULL),
			==, 0);
	lid = lease_id_of(fx, INO_ROOTS, 1);
	advance(SEC);
	g_assert_cmpint(lt_break(fx->t, INO_ROOTS, 0, getpid(), 1000, LT_LEN_EOF, false,
				 fx, &wid, NULL),
			==, LT_PARKED);
	advance(2 * SEC);
	wid_s = g_strdup_printf("%" G_GUINT64_FORMAT, wid);
	lid_s = g_strdup_printf("%" G_GUINT64_FORMAT, lid);

	g_assert_cmpint(
	    run_pinfsctl(-1, &out, &err, "--socket", fx->sock, "waiters", NULL), ==, 0);
	g_assert_cmpuint(count_lines(out), ==, 2);
	f = line_fields(out, 0);
	assert_fields(f, head);
	g_strfreev(f);
	f = line_fields(out, 1);
	assert_fields(f, (const char *const[]){wid_s, "/dir/file-100", pid, comm,
					       "1000-EOF", "2.0s", "no", NULL});
	g_strfreev(f);
	g_free(out);
	g_free(err);

	g_assert_cmpint(
	    run_pinfsctl(-1, &out, &err, "--socket", fx->sock, "leases", NULL), ==, 0);
	f = line_fields(out, 1);
	assert_fields(f, (const char *const[]){lid_s, "/dir/file-100", holder,
					       holder_comm, "READ", "0-EOF", "BREAKING",
					       "3.0s", "0", NULL});
	g_strfreev(f);
	g_free(out);
	g_free(err);

	conn = connect_raw(fx);
	in = input_of(conn);
	o = rpc(conn, in, "{\"cmd\":\"waiters\"}", &p);
	e = find_by_id(o, "waiters", wid);
	g_assert_cmpint(json_object_get_int_member(e, "ino"), ==, INO_ROOTS);
	g_assert_cmpint(json_object_get_int_member(e, "breaker_fh"), ==, 0);
	g_assert_cmpint(json_object_get_int_member(e, "pid"), ==, getpid());
	g_assert_cmpint(json_object_get_int_member(e, "offset"), ==, 1000);
	g_assert_true(json_object_get_null_member(e, "length"));
	g_assert_cmpint(json_object_get_int_member(e, "parked_ns"), ==, 1001 * SEC);
	g_assert_cmpint(json_object_get_int_member(e, "waited_ns"), ==, 2 * SEC);
	g_assert_false(json_object_get_boolean_member(e, "pins_only"));
	g_object_unref(p);
	o = rpc(conn, in, "{\"cmd\":\"leases\"}", &p);
	e = find_by_id(o, "leases", lid);
	g_assert_cmpstr(json_object_get_string_member(e, "state"), ==, "breaking");
	g_assert_cmpint(json_object_get_int_member(e, "break_start_ns"), ==, 1001 * SEC);
	g_assert_cmpint(json_object_get_int_member(e, "breaking_ns"), ==, 2 * SEC);
	g_object_unref(p);

	/* root revokes: the waiter goes ahead */
	g_assert_cmpint(
	    run_pinfsctl(-1, &out, &err, "--socket", fx->sock, "revoke", lid_s, NULL), ==,
	    0);
	g_assert_cmpint(__atomic_load_n(&fx->resumed, __ATOMIC_RELAXED), ==, 1);
	g_assert_cmpint(__atomic_load_n(&fx->resume_err, __ATOMIC_RELAXED), ==, 0);
	g_free(out);
	g_free(err);
	o = rpc(conn, in, "{\"cmd\":\"waiters\"}", &p);
	g_assert_cmpuint(
	    json_array_get_length(json_object_get_array_member(o, "waiters")), ==, 0);
	g_object_unref(p);

	/* stats: JSON equals the table's own counters, text shows them */
	lt_get_stats(fx->t, &st);
	g_assert_cmpuint(st.revoked, ==, 1);
	g_assert_cmpuint(st.parked, ==, 1);
	o = rpc(conn, in, "{\"cmd\":\"stats\"}", &p);
	e = json_object_get_object_member(o, "stats");
	g_assert_cmpint(json_object_get_int_member(e, "granted"), ==, st.granted);
	g_assert_cmpint(json_object_get_int_member(e, "released"), ==, st.released);
	g_assert_cmpint(json_object_get_int_member(e, "broken"), ==, st.broken);
	g_assert_cmpint(json_object_get_int_member(e, "revoked"), ==, st.revoked);
	g_assert_cmpint(json_object_get_int_member(e, "refused"), ==, st.refused);
	g_assert_cmpint(json_object_get_int_member(e, "parked"), ==, st.parked);
	g_assert_cmpint(json_object_get_int_member(e, "parked_now"), ==, st.parked_now);
	g_assert_cmpint(json_object_get_int_member(e, "wait_max_ns"), ==, st.wait_max_ns);
	g_assert_cmpint(json_object_get_int_member(e, "wait_count"), ==, st.wait_count);
	g_object_unref(p);

	g_assert_cmpint(run_pinfsctl(-1, &out, &err, "--socket", fx->sock, "stats", NULL),
			==, 0);
	{
		char *want =
		    g_strdup_printf("revoked        %" G_GUINT64_FORMAT "\n", st.revoked);
		char *granted =
		    g_strdup_printf("granted        %" G_GUINT64_FORMAT "\n", st.granted);

		g_assert_nonnull(strstr(out, want));
		g_assert_nonnull(strstr(out, granted));
		g_assert_nonnull(strstr(out, "parked now     0\n"));
		g_assert_nonnull(strstr(out, "longest wait   "));
		g_assert_nonnull(strstr(out, "mean wait      "));
		g_free(want);
		g_free(granted);
	}
	if (st.wait_count == 1) /* the one wait was 2 s of fake time */
		g_assert_nonnull(strstr(out, "longest wait   2.0s\n"));
	g_free(out);
	g_free(err);

	/* revoking something that is not there */
	g_assert_cmpint(
	    run_pinfsctl(-1, &out, &err, "--socket", fx->sock, "revoke", "999999", NULL),
	    ==, 1);
	g_assert_nonnull(strstr(err, "999999"));
	g_free(out);
	g_free(err);

	g_object_unref(in);
	g_object_unref(conn);
	g_free(wid_s);
	g_free(lid_s);
	g_free(pid);
	g_free(holder);
	g_free(comm);
	g_free(holder_comm);
}

/* revoke as a non-root uid: EPERM on someone else's file, ok on its own. */
static void test_revoke_permission(struct fx *fx, gconstpointer unused)
{
	char *out, *err, *roots, *nobodys, *noowner;
	struct lt_status st;
	JsonParser *p;
	JsonObject *o;

	(void)unused;
	if (geteuid() != 0) {
		g_test_skip("needs root to run pinfsctl as another uid");
		return;
	}
	g_assert_cmpint(lt_setlease(fx->t, INO_ROOTS, 1, getpid(), 0, LT_READ, false, 0,
				    LT_LEN_EOF, true, NULL),
			==, 0);
	g_assert_cmpint(lt_setlease(fx->t, INO_NOBODY, 2, getpid(), 0, LT_READ, false, 0,
				    LT_LEN_EOF, true, NULL),
			==, 0);
	g_assert_cmpint(lt_setlease(fx->t, INO_NOOWNER, 3, getpid(), 0, LT_READ, false, 0,
				    LT_LEN_EOF, true, NULL),
			==, 0);
	roots = g_strdup_printf("%" G_GUINT64_FORMAT, lease_id_of(fx, INO_ROOTS, 1));
	nobodys = g_strdup_printf("%" G_GUINT64_FORMAT, lease_id_of(fx, INO_NOBODY, 2));
	noowner = g_strdup_printf("%" G_GUINT64_FORMAT, lease_id_of(fx, INO_NOOWNER, 3));

	/* anyone may list */
	g_assert_cmpint(
	    run_pinfsctl(NOBODY, &out, &err, "--socket", fx->sock, "leases", NULL), ==,
	    0);
	g_assert_cmpuint(count_lines(out), ==, 4);
	g_free(out);
	g_free(err);

	/* not the owner: EPERM, as text and as JSON, and nothing changes */
	g_assert_cmpint(
	    run_pinfsctl(NOBODY, &out, &err, "--socket", fx->sock, "revoke", roots, NULL),
	    ==, 1);
	g_assert_nonnull(strstr(err, "permission denied"));
	g_free(out);
	g_free(err);
	g_assert_cmpint(run_pinfsctl(NOBODY, &out, &err, "--json", "--socket", fx->sock,
				     "revoke", roots, NULL),
			==, 1);
	p = json_parser_new();
	g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
	o = json_node_get_object(json_parser_get_root(p));
	assert_error(o, EPERM);
	g_object_unref(p);
	g_free(out);
	g_free(err);
	lt_getlease(fx->t, INO_ROOTS, 1, &st);
	g_assert_cmpint(st.state, ==, LT_ACTIVE);

	/* the owner lookup fails: its errno, and nothing changes */
	g_assert_cmpint(run_pinfsctl(NOBODY, &out, &err, "--json", "--socket", fx->sock,
				     "revoke", noowner, NULL),
			==, 1);
	p = json_parser_new();
	g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
	assert_error(json_node_get_object(json_parser_get_root(p)), ENOENT);
	g_object_unref(p);
	g_free(out);
	g_free(err);
	lt_getlease(fx->t, INO_NOOWNER, 3, &st);
	g_assert_cmpint(st.state, ==, LT_ACTIVE);

	/* the owner: revoked (without pins it goes straight to NONE) */
	g_assert_cmpint(run_pinfsctl(NOBODY, &out, &err, "--socket", fx->sock, "revoke",
				     nobodys, NULL),
			==, 0);
	g_free(out);
	g_free(err);
	lt_getlease(fx->t, INO_NOBODY, 2, &st);
	g_assert_cmpint(st.state, ==, LT_NONE);
	g_assert_cmpint(st.end_reason, ==, LT_END_REVOKED_ADMIN);

	g_free(roots);
	g_free(nobodys);
	g_free(noowner);
}

/* Bad requests get an error answer and the connection keeps working. */
static void test_malformed(struct fx *fx, gconstpointer unused)
{
	static const char *const bad[] = {
	    "not json",
	    "{",
	    "[]",
	    "42",
	    "\"leases\"",
	    "{}",
	    "{\"cmd\":5}",
	    "{\"cmd\":null}",
	    "{\"cmd\":[\"leases\"]}",
	    "{\"cmd\":\"nope\"}",
	    "{\"cmd\":\"revoke\"}",
	    "{\"cmd\":\"revoke\",\"id\":\"1\"}",
	    "{\"cmd\":\"revoke\",\"id\":1.5}",
	    "{\"cmd\":\"revoke\",\"id\":-1}",
	    "{\"cmd\":\"revoke\",\"id\":true}",
	    "{\"cmd\":\"leases\"} trailing",
	    "\xff\xfe{\"cmd\":\"leases\"}",
	};
	GSocketConnection *conn = connect_raw(fx);
	GDataInputStream *in = input_of(conn);
	GString *big;
	JsonParser *p;
	JsonObject *o;
	guint i;

	(void)unused;
	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *shown = g_strescape(bad[i], NULL); /* TAP wants UTF-8 */

		g_test_message("request: %s", shown);
		g_free(shown);
		o = rpc(conn, in, bad[i], &p);
		assert_error(o, EINVAL);
		g_object_unref(p);
		assert_version_works(conn, in);
	}

	/* an embedded NUL */
	{
		static const char nul[] = "{\"cmd\":\0\"x\"}\n";

		send_raw(conn, nul, sizeof(nul) - 1);
	}
	assert_error(read_answer(conn, in, &p), EINVAL);
	g_object_unref(p);
	assert_version_works(conn, in);

	/* nesting deep enough to hurt a recursive parser */
	big = g_string_new(NULL);
	for (i = 0; i < 20000; i++)
		g_string_append_c(big, '[');
	o = rpc(conn, in, big->str, &p);
	assert_error(o, EINVAL);
	g_object_unref(p);
	assert_version_works(conn, in);
	/* valid JSON, but nested deeper than the server accepts */
	g_string_assign(big, "{\"cmd\":\"version\",\"pad\":");
	for (i = 0; i < 100; i++)
		g_string_append_c(big, '[');
	for (i = 0; i < 100; i++)
		g_string_append_c(big, ']');
	g_string_append_c(big, '}');
	o = rpc(conn, in, big->str, &p);
	assert_error(o, EINVAL);
	g_assert_nonnull(strstr(json_object_get_string_member(o, "error"), "nested"));
	g_object_unref(p);
	assert_version_works(conn, in);

	/* longer than CTL_MAX_REQUEST: one EMSGSIZE, the rest of it dropped */
	g_string_truncate(big, 0);
	g_string_append(big, "{\"cmd\":\"version\",\"pad\":\"");
	while (big->len < 3 * CTL_MAX_REQUEST)
		g_string_append(big, "aaaaaaaaaaaaaaaa");
	g_string_append(big, "\"}");
	o = rpc(conn, in, big->str, &p);
	assert_error(o, EMSGSIZE);
	g_object_unref(p);
	assert_version_works(conn, in);
	g_string_free(big, TRUE);

	/* blank lines are skipped; pipelined requests answered in order */
	{
		static const char pipelined[] = "\n\r\n{\"cmd\":\"stats\"}\n{\"cmd\":"
						"\"nope\"}\n{\"cmd\":\"waiters\"}\n";

		send_raw(conn, pipelined, strlen(pipelined));
	}
	o = read_answer(conn, in, &p);
	g_assert_true(json_object_has_member(o, "stats"));
	g_object_unref(p);
	assert_error(read_answer(conn, in, &p), EINVAL);
	g_object_unref(p);
	o = read_answer(conn, in, &p);
	g_assert_true(json_object_has_member(o, "waiters"));
	g_object_unref(p);

	/* a last request without a newline, then end of input: still answered */
	send_raw(conn, "{\"cmd\":\"version\"}", strlen("{\"cmd\":\"version\"}"));
	g_assert_true(
	    g_socket_shutdown(g_socket_connection_get_socket(conn), FALSE, TRUE, NULL));
	o = read_answer(conn, in, &p);
	g_assert_true(json_object_get_boolean_member(o, "ok"));
	g_object_unref(p);

	g_object_unref(in);
	g_object_unref(conn);
}

/* A version request of exactly n bytes, without the newline. */
static GString *padded_request(gsize n)
{
	GString *s = g_string_new("{\"cmd\":\"version\",\"pad\":\"");

	while (s->len < n - 2)
		g_string_append_c(s, 'a');
	g_string_append(s, "\"}");
	g_assert_cmpuint(s->len, ==, n);
	return s;
}

/*
 * How the server splits what arrives into requests (docs/control.md,
 * "Framing"): byte by byte, several in one write, the line limit and
 * overlong lines, NUL bytes, end of input.
 */
static void test_framing(struct fx *fx, gconstpointer unused)
{
	static const char version[] = "{\"cmd\":\"version\"}\n";
	static const char two[] = "{\"cmd\":\"version\"}\n{\"cmd\":\"stats\"}\n";
	static const char nul[] = "{\"cmd\":\"ver\0sion\"}\n{\"cmd\":\"version\"}\n";
	static const char unterminated[] = "{\"cmd\":\"stats\"}\n{\"cmd\":\"version\"}";
	GSocketConnection *conn = connect_raw(fx), *last;
	GDataInputStream *in = input_of(conn);
	struct ctl_usage u;
	GString *big;
	JsonParser *p;
	JsonObject *o;
	char *line;
	gsize i;

	(void)unused;
	/* one byte per write (the pauses only make separate reads likely) */
	for (i = 0; i < strlen(version); i++) {
		send_raw(conn, version + i, 1);
		g_usleep(1000);
	}
	o = read_answer(conn, in, &p);
	g_assert_cmpint(json_object_get_int_member(o, "protocol"), ==,
			CTL_PROTOCOL_VERSION);
	g_object_unref(p);

	/* two requests in one write: two answers, in order */
	send_raw(conn, two, strlen(two));
	o = read_answer(conn, in, &p);
	g_assert_true(json_object_has_member(o, "version"));
	g_object_unref(p);
	o = read_answer(conn, in, &p);
	g_assert_true(json_object_has_member(o, "stats"));
	g_object_unref(p);

	/* a line of exactly CTL_MAX_REQUEST bytes is a request ... */
	big = padded_request(CTL_MAX_REQUEST);
	g_string_append_c(big, '\n');
	send_raw(conn, big->str, big->len);
	o = read_answer(conn, in, &p);
	g_assert_true(json_object_get_boolean_member(o, "ok"));
	g_object_unref(p);
	g_string_free(big, TRUE);
	/* ... and a longer one is refused, also when its newline comes in
	 * the same read as its end (up to one read past the limit used to
	 * be answered) */
	big = padded_request(CTL_MAX_REQUEST + 1000);
	g_string_append_c(big, '\n');
	send_raw(conn, big->str, big->len);
	assert_error(read_answer(conn, in, &p), EMSGSIZE);
	g_object_unref(p);
	assert_version_works(conn, in);
	g_string_free(big, TRUE);

	/* 1 MiB without a newline: one EMSGSIZE, and the bytes are dropped
	 * as they come, never held */
	big = g_string_new(NULL);
	while (big->len < 1024 * 1024)
		g_string_append(big, "bbbbbbbbbbbbbbbb");
	send_raw(conn, big->str, big->len);
	g_string_free(big, TRUE);
	assert_error(read_answer(conn, in, &p), EMSGSIZE);
	g_object_unref(p);
	ctl_get_usage(fx->srv, &u);
	g_test_message("after 1 MiB: holding %zu bytes, at most %zu", u.in_bytes,
		       u.in_peak);
	g_assert_cmpuint(u.in_bytes, ==, 0);
	g_assert_cmpuint(u.in_peak, <=, CTL_MAX_REQUEST + CTL_READ_CHUNK);
	/* its newline ends it without another answer; the next request is
	 * answered and nothing is held any more */
	send_raw(conn, "\n", 1);
	assert_version_works(conn, in);
	ctl_get_usage(fx->srv, &u);
	g_assert_cmpuint(u.clients, ==, 1);
	g_assert_cmpuint(u.in_bytes, ==, 0);
	g_assert_cmpuint(u.out_bytes, ==, 0);

	/* a NUL byte inside a line: EINVAL for that line only */
	send_raw(conn, nul, sizeof(nul) - 1);
	assert_error(read_answer(conn, in, &p), EINVAL);
	g_object_unref(p);
	o = read_answer(conn, in, &p);
	g_assert_true(json_object_has_member(o, "version"));
	g_object_unref(p);

	/* a request, then shutdown(SHUT_WR) without a newline: answered,
	 * then the server closes */
	last = connect_raw(fx);
	{
		GDataInputStream *lin = input_of(last);
		GError *err = NULL;

		send_raw(last, unterminated, strlen(unterminated));
		g_assert_true(g_socket_shutdown(g_socket_connection_get_socket(last),
						FALSE, TRUE, NULL));
		o = read_answer(last, lin, &p);
		g_assert_true(json_object_has_member(o, "stats"));
		g_object_unref(p);
		o = read_answer(last, lin, &p);
		g_assert_true(json_object_has_member(o, "version"));
		g_object_unref(p);
		line = g_data_input_stream_read_line(lin, NULL, NULL, &err);
		g_assert_no_error(err);
		g_assert_null(line); /* end of stream */
		g_object_unref(lin);
	}
	g_object_unref(last);

	g_object_unref(in);
	g_object_unref(conn);
}

/*
 * A client that sends half a request, and one that floods requests without
 * reading the answers, hold no one up: the server stops reading the flood
 * once its answers pile up, so the flooder ends up blocked, and others are
 * still served.  What the server holds for the flooder stays bounded: one
 * read of requests, and answers up to CTL_OUT_HIGH plus one.
 */
static void test_stuck_clients(struct fx *fx, gconstpointer unused)
{
	static const char req[] = "{\"cmd\":\"leases\"}\n";
	GSocketConnection *half = connect_raw(fx), *flood = connect_raw(fx), *other;
	GSocket *fs = g_socket_connection_get_socket(flood);
	GString *chunk = g_string_new(NULL);
	GDataInputStream *in;
	GError *err = NULL;
	gsize sent = 0, answer_len;
	struct ctl_usage u;
	char *answer;

	(void)unused;
	g_assert_cmpint(lt_setlease(fx->t, INO_ROOTS, 1, getpid(), 0, LT_READ, false, 0,
				    LT_LEN_EOF, true, NULL),
			==, 0);
	send_raw(half, "{\"cmd\":", 7);

	while (chunk->len < 65536)
		g_string_append(chunk, req);
	g_socket_set_blocking(fs, FALSE);
	for (;;) {
		gssize n = g_socket_send(fs, chunk->str, chunk->len, NULL, &err);

		if (n < 0) {
			g_assert_error(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
			g_clear_error(&err);
			/* Blocked: for good once the server stopped reading.
			 * (A slow server only makes this wait longer.) */
			if (!g_socket_condition_timed_wait(fs, G_IO_OUT, G_USEC_PER_SEC,
							   NULL, &err)) {
				g_assert_error(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
				g_clear_error(&err);
				break;
			}
			continue;
		}
		sent += n;
		/* far more than the answers the server may hold (1 MiB of
		 * ~300-byte answers) plus socket buffers */
		g_assert_cmpuint(sent, <, 16 * 1024 * 1024);
	}
	g_test_message("flooder blocked for good after %" G_GSIZE_FORMAT " bytes", sent);

	other = connect_raw(fx);
	in = input_of(other);
	assert_version_works(other, in);
	send_raw(other, req, strlen(req));
	answer = g_data_input_stream_read_line(in, &answer_len, NULL, &err);
	g_assert_no_error(err);
	g_assert_nonnull(answer);
	g_free(answer);

	ctl_get_usage(fx->srv, &u);
	g_test_message("server holds %zu bytes of requests, %zu of answers (at most "
		       "%zu, %zu); one answer is %zu bytes",
		       u.in_bytes, u.out_bytes, u.in_peak, u.out_peak, answer_len + 1);
	g_assert_cmpuint(u.clients, ==, 3);
	g_assert_cmpuint(u.in_peak, <=, CTL_MAX_REQUEST + CTL_READ_CHUNK);
	g_assert_cmpuint(u.in_bytes, <=, CTL_MAX_REQUEST + CTL_READ_CHUNK);
	g_assert_cmpuint(u.out_peak, <, CTL_OUT_HIGH + answer_len + 1);
	g_assert_cmpuint(u.out_bytes, <, CTL_OUT_HIGH + answer_len + 1);
	/* and still the others are served */
	assert_version_works(other, in);
	g_object_unref(in);
	g_object_unref(other);
	g_object_unref(flood);
	g_object_unref(half);
	g_string_free(chunk, TRUE);
}

/* At most CTL_MAX_CLIENTS connections; the next one is told EBUSY. */
static void test_client_limit(struct fx *fx, gconstpointer unused)
{
	GSocketConnection *conns[CTL_MAX_CLIENTS], *extra;
	GDataInputStream *ins[CTL_MAX_CLIENTS], *in;
	JsonParser *p;
	JsonObject *o;
	bool served = false;
	int i;

	(void)unused;
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		conns[i] = connect_raw(fx);
		ins[i] = input_of(conns[i]);
		assert_version_works(conns[i], ins[i]); /* accepted and served */
	}
	extra = connect_raw(fx);
	in = input_of(extra);
	assert_error(read_answer(extra, in, &p), EBUSY);
	g_object_unref(p);
	g_object_unref(in);
	g_object_unref(extra);

	/* the others are still served */
	assert_version_works(conns[0], ins[0]);

	/* once one leaves, a new client gets in (the server notices the
	 * close on its own time: retry, bounded) */
	g_object_unref(ins[0]);
	g_object_unref(conns[0]);
	for (i = 0; i < 500 && !served; i++) {
		extra = connect_raw(fx);
		in = input_of(extra);
		o = rpc_maybe_refused(extra, in, "{\"cmd\":\"version\"}", &p);
		served = json_object_get_boolean_member(o, "ok");
		if (!served)
			assert_error(o, EBUSY);
		g_object_unref(p);
		g_object_unref(in);
		g_object_unref(extra);
		if (!served)
			g_usleep(10000);
	}
	g_assert_true(served);
	for (i = 1; i < CTL_MAX_CLIENTS; i++) {
		g_object_unref(ins[i]);
		g_object_unref(conns[i]);
	}
}

/* connect_raw() with uid as the effective uid, which SO_PEERCRED reports. */
static GSocketConnection *connect_as(struct fx *fx, uid_t uid)
{
	GSocketConnection *conn;

	g_assert_no_errno(seteuid(uid));
	conn = connect_raw(fx);
	g_assert_no_errno(seteuid(0));
	return conn;
}

/*
 * pinfsctl as uid, whose connections are all taken: it prints the daemon's
 * refusal (EBUSY), whether its request met the closed socket (EPIPE) or
 * not; a few runs, since which of the two happens is a race.
 */
static void assert_pinfsctl_refused(struct fx *fx, uid_t uid)
{
	for (int i = 0; i < 5; i++) {
		g_autofree char *out = NULL, *err = NULL;

		g_assert_cmpint(
		    run_pinfsctl(uid, &out, &err, "--socket", fx->sock, "status", NULL),
		    ==, 1);
		g_assert_nonnull(strstr(err, "too many control connections"));
		g_assert_null(strstr(err, "not answering"));
	}
}

/*
 * One user gets at most CTL_MAX_USER_CLIENTS connections, and users
 * together leave CTL_ROOT_CLIENTS for root: nobody can lock the
 * administrator out of the control channel.
 */
static void test_user_client_limit(struct fx *fx, gconstpointer unused)
{
	enum { N = CTL_MAX_CLIENTS };
	GSocketConnection *conns[N];
	GDataInputStream *ins[N];
	int n = 0, users = CTL_MAX_CLIENTS - CTL_ROOT_CLIENTS;

	(void)unused;
	if (geteuid() != 0) {
		g_test_skip("needs root to connect as other uids");
		return;
	}
	/* uids 4242, 4243, ... each up to their limit, until the users' share
	 * is used up; each one's next connection is refused */
	for (uid_t uid = 4242; n < users; uid++) {
		GSocketConnection *extra;
		GDataInputStream *in;
		JsonParser *p;

		for (int i = 0; i < CTL_MAX_USER_CLIENTS && n < users; i++, n++) {
			conns[n] = connect_as(fx, uid);
			ins[n] = input_of(conns[n]);
			assert_version_works(conns[n], ins[n]);
		}
		extra = connect_as(fx, uid);
		in = input_of(extra);
		assert_error(read_answer(extra, in, &p), EBUSY);
		g_object_unref(p);
		g_object_unref(in);
		g_object_unref(extra);
		if (uid == 4242)
			assert_pinfsctl_refused(fx, uid);
	}
	/* root still gets the slots kept for it */
	for (; n < N; n++) {
		conns[n] = connect_raw(fx);
		ins[n] = input_of(conns[n]);
		assert_version_works(conns[n], ins[n]);
	}
	for (int i = 0; i < n; i++) {
		g_object_unref(ins[i]);
		g_object_unref(conns[i]);
	}
}

/* ctl_start: directory and socket modes, stale and live sockets. */
/* "status": the hook's answer, as JSON and through pinfsctl, open to
 * anyone; without the hook, leases only and nothing watched. */
static void test_status(struct fx *fx, gconstpointer unused)
{
	GSocketConnection *conn;
	GDataInputStream *in;
	JsonParser *p;
	JsonObject *o, *st, *u;
	char *out = NULL, *err = NULL;
	GString *reply = g_string_new(NULL);

	(void)unused;
	conn = connect_raw(fx);
	in = input_of(conn);
	o = rpc(conn, in, "{\"cmd\":\"status\"}", &p);
	g_assert_true(json_object_get_boolean_member(o, "ok"));
	g_assert_cmpint(json_object_get_int_member(o, "now_ns"), ==, 1000 * SEC);
	st = json_object_get_object_member(o, "status");
	g_assert_true(json_object_get_boolean_member(st, "leases"));
	g_assert_cmpint(json_object_get_int_member(st, "break_time_s"), ==, 45);
	g_assert_cmpstr(json_object_get_string_member(st, "pinned"), ==, "fail");
	u = json_object_get_object_member(st, "undeclared_pins");
	g_assert_true(json_object_get_boolean_member(u, "watched"));
	g_assert_cmpstr(json_object_get_string_member(u, "module"), ==, "loaded");
	g_assert_cmpstr(json_object_get_string_member(u, "dma_module"), ==, "require");
	g_assert_cmpstr(json_object_get_string_member(u, "detail"), ==,
			"the pinfs_dma module answers");
	g_assert_cmpint(json_object_get_int_member(u, "since_ns"), ==, 990 * SEC);
	g_assert_cmpint(json_object_get_int_member(u, "for_ns"), ==, 10 * SEC);
	g_assert_cmpint(json_object_get_int_member(u, "changes"), ==, 3);
	g_object_unref(p);
	g_object_unref(in);
	g_object_unref(conn);

	g_assert_cmpint(
	    run_pinfsctl(NOBODY, &out, &err, "--socket", fx->sock, "status", NULL), ==,
	    0);
	g_assert_nonnull(strstr(out, "declared pins    watched"));
	g_assert_nonnull(strstr(out, "pinned=fail"));
	g_assert_nonnull(
	    strstr(out, "undeclared pins  watched: the pinfs_dma module answers"));
	g_assert_nonnull(strstr(out, "for 10s, 3 changes"));
	g_assert_nonnull(strstr(out, "dma_module=require"));
	g_free(out);
	g_free(err);

	/* No status hook: nothing is claimed to be watched. */
	ctl_handle_request(fx->t, &clock_, NULL, NULL, 0, "{\"cmd\":\"status\"}",
			   strlen("{\"cmd\":\"status\"}"), reply);
	g_assert_nonnull(strstr(reply->str, "\"watched\":false"));
	g_assert_nonnull(strstr(reply->str, "\"module\":\"unknown\""));
	g_string_free(reply, TRUE);
}

static void test_socket_file(void)
{
	struct lt_config cfg = {.break_time_ns = 45 * SEC};
	char *dir, *sub, *path, *file;
	struct ctl_server *s, *s2;
	struct lease_table *t;
	GMainContext *mc;
	GSocket *stale;
	GSocketAddress *addr;
	GError *err = NULL;
	struct stat st;

	dir = g_dir_make_tmp("test-ctl-XXXXXX", &err);
	g_assert_no_error(err);
	sub = g_build_filename(dir, "pinfs", NULL);
	path = g_build_filename(sub, "1:2.sock", NULL);
	t = lt_new(&cfg, &clock_, NULL);
	mc = g_main_context_new();

	/* creates the directory, 0755 as root (0700 otherwise), socket 0666 */
	s = ctl_start(mc, t, path, NULL, NULL, NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpint(stat(sub, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, geteuid() == 0 ? 0755 : 0700);
	g_assert_cmpint(lstat(path, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	g_assert_cmpint(st.st_mode & 0777, ==, 0666);

	/* a second server on a live socket: refused, the first keeps it */
	s2 = ctl_start(mc, t, path, NULL, NULL, NULL, &err);
	g_assert_null(s2);
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
	g_clear_error(&err);
	g_assert_cmpint(lstat(path, &st), ==, 0);
	ctl_stop(s);
	g_assert_cmpint(lstat(path, &st), ==, -1);

	/* a stale socket (its daemon died) is replaced */
	stale = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
			     G_SOCKET_PROTOCOL_DEFAULT, &err);
	g_assert_no_error(err);
	addr = g_unix_socket_address_new(path);
	g_assert_true(g_socket_bind(stale, addr, FALSE, &err));
	g_assert_no_error(err);
	g_socket_close(stale, NULL);
	g_object_unref(stale);
	g_object_unref(addr);
	g_assert_cmpint(lstat(path, &st), ==, 0);
	s = ctl_start(mc, t, path, NULL, NULL, NULL, &err);
	g_assert_no_error(err);
	ctl_stop(s);

	/* anything else at the path is not ours to remove */
	g_assert_true(g_file_set_contents(path, "data", -1, NULL));
	s = ctl_start(mc, t, path, NULL, NULL, NULL, &err);
	g_assert_null(s);
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_EXISTS);
	g_clear_error(&err);
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
	g_unlink(path);

	/* a directory others may write to is refused */
	g_assert_cmpint(chmod(sub, 0777), ==, 0);
	s = ctl_start(mc, t, path, NULL, NULL, NULL, &err);
	g_assert_null(s);
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
	g_clear_error(&err);

	/* a path too long for sun_path */
	file = g_strnfill(200, 'x');
	s = ctl_start(mc, t, file, NULL, NULL, NULL, &err);
	g_assert_null(s);
	g_assert_nonnull(err);
	g_clear_error(&err);

	g_free(file);
	g_main_context_unref(mc);
	lt_destroy(t, NULL);
	g_rmdir(sub);
	g_rmdir(dir);
	g_free(path);
	g_free(sub);
	g_free(dir);
}

/* The path helpers agree with the documented layout. */
static void test_socket_path(void)
{
	char *p = ctl_socket_path_for_dev(makedev(0, 53), 0);

	g_assert_cmpstr(p, ==, "/run/pinfs/0:53.sock");
	g_free(p);
	g_setenv("XDG_RUNTIME_DIR", "/run/user/1000", TRUE);
	p = ctl_socket_path_for_dev(makedev(0, 53), 1000);
	g_assert_cmpstr(p, ==, "/run/user/1000/pinfs/0:53.sock");
	g_free(p);
	g_unsetenv("XDG_RUNTIME_DIR");
	p = ctl_socket_path_for_dev(makedev(259, 3), 1000);
	g_assert_cmpstr(p, ==, "/tmp/pinfs-1000/pinfs/259:3.sock");
	g_free(p);
}

/* pinfsctl's own errors: usage, no such mount, not pinfs, no daemon. */
static void test_pinfsctl_errors(void)
{
	char *out, *err, *dir, *path;
	GSocket *stale;
	GSocketAddress *addr;
	GError *error = NULL;

	g_assert_cmpint(run_pinfsctl(-1, &out, &err, NULL), ==, 2);
	g_free(out);
	g_free(err);
	g_assert_cmpint(run_pinfsctl(-1, &out, &err, "frobnicate", "/", NULL), ==, 2);
	g_free(out);
	g_free(err);
	g_assert_cmpint(run_pinfsctl(-1, &out, &err, "revoke", "/", "abc", NULL), ==, 2);
	g_free(out);
	g_free(err);
	g_assert_cmpint(run_pinfsctl(-1, &out, &err, "leases", NULL), ==, 2);
	g_free(out);
	g_free(err);

	g_assert_cmpint(run_pinfsctl(-1, &out, &err, "--version", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "pinfsctl " PINFS_VERSION "\n");
	g_free(out);
	g_free(err);
	g_assert_cmpint(run_pinfsctl(-1, &out, &err, "--help", NULL), ==, 0);
	g_assert_nonnull(strstr(out, "revoke MOUNTPOINT ID"));
	g_free(out);
	g_free(err);

	g_assert_cmpint(
	    run_pinfsctl(-1, &out, &err, "leases", "/nonexistent/pinfs", NULL), ==, 1);
	g_assert_nonnull(strstr(err, "No such file or directory"));
	g_free(out);
	g_free(err);

	g_assert_cmpint(run_pinfsctl(-1, &out, &err, "leases", "/proc", NULL), ==, 1);
	g_assert_nonnull(strstr(err, "not a pinfs mount"));
	g_free(out);
	g_free(err);

	dir = g_dir_make_tmp("test-ctl-XXXXXX", &error);
	g_assert_no_error(error);
	path = g_build_filename(dir, "s.sock", NULL);
	g_assert_cmpint(run_pinfsctl(-1, &out, &err, "--socket", path, "stats", NULL), ==,
			1);
	g_assert_nonnull(strstr(err, path));
	g_free(out);
	g_free(err);

	/* a socket nobody listens on: the daemon is not answering */
	stale = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
			     G_SOCKET_PROTOCOL_DEFAULT, &error);
	addr = g_unix_socket_address_new(path);
	g_assert_true(g_socket_bind(stale, addr, FALSE, &error));
	g_assert_no_error(error);
	g_socket_close(stale, NULL);
	g_assert_cmpint(run_pinfsctl(-1, &out, &err, "--socket", path, "stats", NULL), ==,
			1);
	g_assert_nonnull(strstr(err, "not answering"));
	g_free(out);
	g_free(err);
	g_object_unref(stale);
	g_object_unref(addr);
	g_unlink(path);
	g_rmdir(dir);
	g_free(path);
	g_free(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pinfsctl = g_getenv("PINFSCTL");
	if (!pinfsctl) {
		g_printerr("set PINFSCTL to the pinfsctl binary\n");
		return 1;
	}
	g_test_add("/ctl/leases", struct fx, NULL, fx_setup, test_leases, fx_teardown);
	g_test_add("/ctl/waiters-revoke-stats", struct fx, NULL, fx_setup,
		   test_waiters_revoke_stats, fx_teardown);
	g_test_add("/ctl/revoke-permission", struct fx, NULL, fx_setup,
		   test_revoke_permission, fx_teardown);
	g_test_add("/ctl/malformed", struct fx, NULL, fx_setup, test_malformed,
		   fx_teardown);
	g_test_add("/ctl/framing", struct fx, NULL, fx_setup, test_framing, fx_teardown);
	g_test_add("/ctl/user-client-limit", struct fx, NULL, fx_setup,
		   test_user_client_limit, fx_teardown);
	g_test_add("/ctl/stuck-clients", struct fx, NULL, fx_setup, test_stuck_clients,
		   fx_teardown);
	g_test_add("/ctl/client-limit", struct fx, NULL, fx_setup, test_client_limit,
		   fx_teardown);
	g_test_add("/ctl/status", struct fx, NULL, fx_setup, test_status, fx_teardown);
	g_test_add_func("/ctl/socket-file", test_socket_file);
	g_test_add_func("/ctl/socket-path", test_socket_path);
	g_test_add_func("/ctl/pinfsctl-errors", test_pinfsctl_errors);
	return g_test_run();
}
