// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pinfsctl - list and revoke the layout leases of a pinfs mount.
 *
 * Talks to the daemon's control socket (fs/ctl.c, docs/control.md): one
 * JSON request line, one JSON response line.  The socket of a mount is
 * found from the mount's device number, the same way the daemon names it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>

#include "ctl.h"
#include "mountinfo.h"

#ifndef PINFS_VERSION
#define PINFS_VERSION "unknown"
#endif

#define REPLY_TIMEOUT_S 10

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static gboolean opt_json;
static gboolean opt_version;
static char *opt_socket;

static const GOptionEntry entries[] = {
    {"json", 'J', 0, G_OPTION_ARG_NONE, &opt_json, "Print the daemon's answer as JSON",
     NULL},
    {"socket", 's', 0, G_OPTION_ARG_FILENAME, &opt_socket,
     "Use the control socket at PATH (MOUNTPOINT may then be left out)", "PATH"},
    {"version", 'V', 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit",
     NULL},
    {NULL},
};

/* ---- Finding the control socket of a mount ---- */

/*
 * Look a mount up in the mount table, by device (path NULL) or by mount
 * point path (the last, i.e. topmost, match).  Sets *dev and returns the
 * filesystem type (g_free), or NULL if there is no such mount.
 */
static char *mountinfo_find(const char *path, dev_t *dev)
{
	if (path)
		return mountinfo_by_target(path, NULL, true, dev);
	return mountinfo_by_dev(*dev);
}

/* The absolute path of mnt without looking at mnt itself (which a FUSE
 * mount may refuse to stat for other users). */
static char *canonical_mountpoint(const char *mnt)
{
	char *dir = g_path_get_dirname(mnt), *base = g_path_get_basename(mnt);
	char *rdir = realpath(dir, NULL), *ret = NULL;

	if (rdir)
		ret = g_build_filename(rdir, base, NULL);
	free(rdir);
	g_free(dir);
	g_free(base);
	return ret;
}

/*
 * The control socket of the pinfs mount at (or containing) mnt: the root
 * daemon's under /run first, then one running as our own user.
 */
static char *find_socket(const char *mnt, GError **error)
{
	char *fstype = NULL, *rundir = NULL, *cand[2] = {NULL, NULL}, *ret = NULL;
	struct stat st;
	dev_t dev = 0;
	int i;

	if (stat(mnt, &st) == 0) {
		dev = st.st_dev;
		fstype = mountinfo_find(NULL, &dev);
	} else if (errno == EACCES || errno == EPERM || errno == ENOTCONN) {
		/* A FUSE mount without allow_other refuses other users, a dead
		 * daemon leaves ENOTCONN: find it by its mount point instead. */
		int err = errno;
		char *canon = canonical_mountpoint(mnt);

		if (canon)
			fstype = mountinfo_find(canon, &dev);
		g_free(canon);
		if (!fstype) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
				    "%s: %s", mnt, g_strerror(err));
			goto out;
		}
		if (err == ENOTCONN) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
				    "%s: the daemon of this mount is gone (%s)", mnt,
				    g_strerror(err));
			goto out;
		}
	} else {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s",
			    mnt, g_strerror(errno));
		goto out;
	}
	if (!fstype || !g_str_has_prefix(fstype, "fuse")) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			    "%s is not a pinfs mount (it is on %s%s)", mnt,
			    fstype ? "a filesystem of type " : "an unknown filesystem",
			    fstype ? fstype : "");
		goto out;
	}

	rundir = ctl_runtime_dir(getuid());
	cand[0] = ctl_socket_path_in("/run", dev);
	cand[1] = ctl_socket_path_in(rundir, dev);
	for (i = 0; i < 2; i++) {
		if (lstat(cand[i], &st) == 0) {
			ret = g_strdup(cand[i]);
			goto out;
		}
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		    "%s is not a pinfs mount, or its daemon has no control socket "
		    "(looked for %s%s%s)",
		    mnt, cand[0], strcmp(cand[0], cand[1]) ? " and " : "",
		    strcmp(cand[0], cand[1]) ? cand[1] : "");
out:
	g_free(cand[0]);
	g_free(cand[1]);
	g_free(rundir);
	g_free(fstype);
	return ret;
}

/* ---- Talking to the daemon ---- */

/*
 * Send one request and read the answer.  Returns the parsed response
 * object (a new JsonNode), or NULL with *error set if the daemon could not
 * be reached or answered nonsense.  *line gets the raw answer.
 */
static JsonNode *request(const char *path, const char *req, char **line, GError **error)
{
	GSocketClient *client = g_socket_client_new();
	GSocketAddress *addr = g_unix_socket_address_new(path);
	GSocketConnection *conn = NULL;
	GDataInputStream *in = NULL;
	JsonParser *parser = NULL;
	JsonNode *ret = NULL;
	GError *err = NULL, *send_err = NULL;
	char *out;

	*line = NULL;
	g_socket_client_set_timeout(client, REPLY_TIMEOUT_S);
	conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &err);
	if (!conn) {
		if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
				    "permission denied: cannot connect to %s", path);
		else if (g_error_matches(err, G_IO_ERROR,
					 G_IO_ERROR_CONNECTION_REFUSED) ||
			 g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
				    "the daemon is not answering on %s (%s)", path,
				    err->message);
		else
			g_set_error(error, err->domain, err->code,
				    "cannot connect to %s: %s", path, err->message);
		goto out;
	}

	/* A daemon that refuses the connection (too many) answers at once
	 * and closes without reading: the request may then fail (EPIPE),
	 * but the answer is there to read. */
	out = g_strconcat(req, "\n", NULL);
	(void)g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
					out, strlen(out), NULL, NULL, &send_err);
	g_free(out);

	in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
	*line = g_data_input_stream_read_line_utf8(in, NULL, NULL, &err);
	if (!*line && send_err) {
		g_set_error(error, send_err->domain, send_err->code,
			    "the daemon is not answering on %s (%s)", path,
			    send_err->message);
		goto out;
	}
	if (!*line) {
		if (err)
			g_set_error(error, err->domain, err->code,
				    "the daemon is not answering on %s (%s)", path,
				    err->message);
		else
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
				    "the daemon closed %s without answering", path);
		goto out;
	}
	parser = json_parser_new();
	if (!json_parser_load_from_data(parser, *line, -1, &err) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		g_set_error(
		    error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		    "the daemon on %s answered something that is not a JSON object",
		    path);
		goto out;
	}
	ret = json_node_copy(json_parser_get_root(parser));
out:
	g_clear_error(&err);
	g_clear_error(&send_err);
	g_clear_object(&parser);
	g_clear_object(&in);
	g_clear_object(&conn);
	g_object_unref(addr);
	g_object_unref(client);
	return ret;
}

/* ---- Formatting ---- */

static gint64 member_int(JsonObject *o, const char *name)
{
	JsonNode *n = json_object_get_member(o, name);

	return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_int(n) : 0;
}

static bool member_null(JsonObject *o, const char *name)
{
	JsonNode *n = json_object_get_member(o, name);

	return !n || JSON_NODE_HOLDS_NULL(n);
}

/* A string member, with control characters made harmless for a tty. */
static char *member_text(JsonObject *o, const char *name, const char *dflt)
{
	JsonNode *n = json_object_get_member(o, name);
	const char *s = n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_string(n) : NULL;
	char *ret = g_strdup(s ? s : dflt), *p;

	for (p = ret; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return ret;
}

/* 250ms, 4.2s, 17s, 3m05s, 2h10m, 3d04h */
static char *fmt_duration(gint64 ns)
{
	gint64 s = ns / 1000000000;

	if (ns < 1000000000)
		return g_strdup_printf("%" G_GINT64_FORMAT "ms", ns / 1000000);
	if (s < 10)
		return g_strdup_printf("%.1fs", ns / 1e9);
	if (s < 60)
		return g_strdup_printf("%" G_GINT64_FORMAT "s", s);
	if (s < 3600)
		return g_strdup_printf("%" G_GINT64_FORMAT "m%02" G_GINT64_FORMAT "s",
				       s / 60, s % 60);
	if (s < 86400)
		return g_strdup_printf("%" G_GINT64_FORMAT "h%02" G_GINT64_FORMAT "m",
				       s / 3600, s / 60 % 60);
	return g_strdup_printf("%" G_GINT64_FORMAT "d%02" G_GINT64_FORMAT "h", s / 86400,
			       s / 3600 % 24);
}

/* 0, 512B, 4K, 1.5M, 2G (IEC, like lsblk) */
static char *fmt_size(gint64 bytes)
{
	static const char units[] = "BKMGTPE";
	double v = bytes;
	int u = 0;

	if (bytes == 0)
		return g_strdup("0");
	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v >= 10 || v == (gint64)v)
		return g_strdup_printf("%.0f%c", v, units[u]);
	return g_strdup_printf("%.1f%c", v, units[u]);
}

/* Integer member @name of @o, as text. */
static char *fmt_int(JsonObject *o, const char *name)
{
	return g_strdup_printf("%" G_GINT64_FORMAT, member_int(o, name));
}

/* start-end (inclusive, as lslocks), end "EOF" for a lease to infinity. */
static char *fmt_range(JsonObject *o)
{
	gint64 off = member_int(o, "offset"), len = member_int(o, "length");

	if (member_null(o, "length"))
		return g_strdup_printf("%" G_GINT64_FORMAT "-EOF", off);
	return g_strdup_printf("%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT, off,
			       len > 0 ? off + len - 1 : off);
}

static char *fmt_path(JsonObject *o)
{
	if (member_null(o, "path"))
		return g_strdup_printf("ino:%" G_GINT64_FORMAT, member_int(o, "ino"));
	return member_text(o, "path", "");
}

/* A column-aligned table: heads, then rows of g_strdup'ed cells. */
struct table {
	guint ncols;
	const char *const *heads;
	const bool *right; /* right-aligned columns (numbers) */
	GPtrArray *rows;   /* char **, ncols cells each */
};

static void table_print(struct table *tb)
{
	guint *w = g_new0(guint, tb->ncols), r, i;

	for (i = 0; i < tb->ncols; i++)
		w[i] = strlen(tb->heads[i]);
	for (r = 0; r < tb->rows->len; r++) {
		char **row = g_ptr_array_index(tb->rows, r);

		for (i = 0; i < tb->ncols; i++)
			w[i] = MAX(w[i], g_utf8_strlen(row[i], -1));
	}
	for (r = 0; r <= tb->rows->len; r++) {
		const char *const *row =
		    r ? g_ptr_array_index(tb->rows, r - 1) : (gpointer)tb->heads;

		for (i = 0; i < tb->ncols; i++) {
			guint pad = w[i] - g_utf8_strlen(row[i], -1);
			bool last = i + 1 == tb->ncols;

			if (tb->right[i])
				printf("%*s%s", pad, "", row[i]);
			else
				printf("%s%*s", row[i], last ? 0 : pad, "");
			printf(last ? "\n" : " ");
		}
	}
	g_free(w);
}

static gint by_id(gconstpointer a, gconstpointer b)
{
	gint64 x = member_int(*(JsonObject *const *)a, "id");
	gint64 y = member_int(*(JsonObject *const *)b, "id");

	return x < y ? -1 : x > y;
}

/* The objects of array member name, sorted by their "id". */
static GPtrArray *sorted_items(JsonObject *resp, const char *name)
{
	JsonNode *n = json_object_get_member(resp, name);
	GPtrArray *items = g_ptr_array_new();
	JsonArray *a;
	guint i;

	if (!n || !JSON_NODE_HOLDS_ARRAY(n))
		return items;
	a = json_node_get_array(n);
	for (i = 0; i < json_array_get_length(a); i++) {
		JsonNode *e = json_array_get_element(a, i);

		if (JSON_NODE_HOLDS_OBJECT(e))
			g_ptr_array_add(items, json_node_get_object(e));
	}
	g_ptr_array_sort(items, by_id);
	return items;
}

/*
 * Print the objects of array member @name of @resp as a table, sorted by
 * id: @fill_row fills a row's @ncols cells from one object.
 */
static void print_items(JsonObject *resp, const char *name, guint ncols,
			const char *const *heads, const bool *right,
			void (*fill_row)(JsonObject *o, char **row))
{
	GPtrArray *items = sorted_items(resp, name);
	struct table tb = {ncols, heads, right,
			   g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev)};

	for (guint i = 0; i < items->len; i++) {
		char **row = g_new0(char *, tb.ncols + 1);

		fill_row(g_ptr_array_index(items, i), row);
		g_ptr_array_add(tb.rows, row);
	}
	table_print(&tb);
	g_ptr_array_free(tb.rows, TRUE);
	g_ptr_array_free(items, TRUE);
}

static void lease_row(JsonObject *o, char **row)
{
	char *type = member_text(o, "type", "?"), *up;
	char *state = member_text(o, "state", "?");
	JsonNode *excl = json_object_get_member(o, "exclusive");
	bool exclusive =
	    excl && JSON_NODE_HOLDS_VALUE(excl) && json_node_get_boolean(excl);

	row[0] = fmt_int(o, "id");
	row[1] = fmt_path(o);
	row[2] = fmt_int(o, "pid");
	row[3] = member_text(o, "command", "-");
	up = g_ascii_strup(type, -1);
	row[4] = g_strconcat(up, exclusive ? "+EXCL" : "", NULL);
	g_free(up);
	row[5] = fmt_range(o);
	row[6] = g_ascii_strup(state, -1);
	row[7] = fmt_duration(member_int(o, "age_ns"));
	row[8] = fmt_size(member_int(o, "pinned_bytes"));
	g_free(type);
	g_free(state);
}

static void print_leases(JsonObject *resp)
{
	static const char *const heads[] = {"ID",    "PATH",  "PID", "COMMAND", "TYPE",
					    "RANGE", "STATE", "AGE", "PINNED"};
	static const bool right[] = {true,  false, true, false, false,
				     false, false, true, true};

	print_items(resp, "leases", G_N_ELEMENTS(heads), heads, right, lease_row);
}

static void waiter_row(JsonObject *o, char **row)
{
	JsonNode *po = json_object_get_member(o, "pins_only");

	row[0] = fmt_int(o, "id");
	row[1] = fmt_path(o);
	row[2] = fmt_int(o, "pid");
	row[3] = member_text(o, "command", "-");
	row[4] = fmt_range(o);
	row[5] = fmt_duration(member_int(o, "waited_ns"));
	row[6] = g_strdup(po && json_node_get_boolean(po) ? "yes" : "no");
}

static void print_waiters(JsonObject *resp)
{
	static const char *const heads[] = {"ID",    "PATH",   "PID",	   "COMMAND",
					    "RANGE", "WAITED", "PINS-ONLY"};
	static const bool right[] = {true, false, true, false, false, true, false};

	print_items(resp, "waiters", G_N_ELEMENTS(heads), heads, right, waiter_row);
}

/*
 * On a cluster mount (docs/cluster.md), "leases" and "waiters" replies
 * carry the whole cluster's leases and parked changes, with their node.
 */
static void print_cluster(JsonObject *resp, bool leases)
{
	static const char *const lheads[] = {"NODE", "FILE",  "ID",   "PID",
					     "TYPE", "RANGE", "STATE"};
	static const bool lright[] = {false, false, true, true, false, false, false};
	static const char *const wheads[] = {"NODE", "FILE", "RANGE", "WAITING-FOR"};
	static const bool wright[] = {false, false, false, false};
	JsonObject *cl = json_object_get_object_member(resp, "cluster");
	JsonArray *a;
	struct table tb = {leases ? G_N_ELEMENTS(lheads) : G_N_ELEMENTS(wheads),
			   leases ? lheads : wheads, leases ? lright : wright,
			   g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev)};
	char *node, *state;

	if (!cl)
		goto out;
	node = member_text(cl, "node", "?");
	state = member_text(cl, "state", "?");
	printf("\ncluster %s, this node %s (%s): %s\n",
	       json_object_get_string_member_with_default(cl, "cluster", "?"), node,
	       state, leases ? "leases on every node" : "changes parked on every node");
	g_free(node);
	g_free(state);
	a = json_object_get_array_member(cl, leases ? "leases" : "changes");
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *o = json_array_get_object_element(a, i);
		char **row = g_new0(char *, tb.ncols + 1);

		if (!o) {
			g_free(row);
			continue;
		}
		row[0] = member_text(o, "node", "?");
		row[1] = member_text(o, "file", "?");
		if (leases) {
			char *type = member_text(o, "type", "?");
			char *st = member_text(o, "state", "?");

			row[2] = fmt_int(o, "id");
			row[3] = fmt_int(o, "pid");
			row[4] = g_ascii_strup(type, -1);
			row[5] = fmt_range(o);
			row[6] = g_ascii_strup(st, -1);
			g_free(type);
			g_free(st);
		} else {
			JsonArray *w = json_object_get_array_member(o, "waiting_for");
			GString *ws = g_string_new(NULL);

			for (guint j = 0; w && j < json_array_get_length(w); j++)
				g_string_append_printf(
				    ws, "%s%s", j ? "," : "",
				    json_array_get_string_element(w, j));
			row[2] = fmt_range(o);
			row[3] = ws->len ? g_string_free(ws, FALSE)
					 : (g_string_free(ws, TRUE), g_strdup("-"));
		}
		g_ptr_array_add(tb.rows, row);
	}
	table_print(&tb);
out:
	g_ptr_array_free(tb.rows, TRUE);
}

static void window_row(JsonObject *o, char **row)
{
	char *state = member_text(o, "state", "?");

	row[0] = fmt_int(o, "id");
	row[1] = member_null(o, "path") ? g_strdup("-") : member_text(o, "path", "");
	row[2] = fmt_int(o, "pid");
	row[3] = member_text(o, "command", "-");
	row[4] = fmt_range(o);
	row[5] = fmt_size(member_int(o, "length"));
	row[6] = fmt_size(member_int(o, "unsynced_bytes"));
	row[7] = fmt_size(member_int(o, "written_bytes"));
	row[8] = g_ascii_strup(state, -1);
	g_free(state);
}

static void print_windows(JsonObject *resp)
{
	static const char *const heads[] = {"ID",	"PATH",	   "PID",
					    "COMMAND",	"RANGE",   "SIZE",
					    "UNSYNCED", "WRITTEN", "STATE"};
	static const bool right[] = {true, false, true, false, false,
				     true, true,  true, false};

	print_items(resp, "windows", G_N_ELEMENTS(heads), heads, right, window_row);
}

static void print_stats(JsonObject *resp)
{
	static const struct {
		const char *label, *key;
		bool duration;
	} rows[] = {
	    {"granted", "granted", false},
	    {"released", "released", false},
	    {"broken", "broken", false},
	    {"revoked", "revoked", false},
	    {"refused", "refused", false},
	    {"parked", "parked", false},
	    {"parked now", "parked_now", false},
	    {"resumed", "resumed", false},
	    {"cancelled", "cancelled", false},
	    {"active leases", "active_leases", false},
	    {"waits", "wait_count", false},
	    {"longest wait", "wait_max_ns", true},
	    {"mean wait", "wait_mean_ns", true},
	};
	JsonNode *n = json_object_get_member(resp, "stats");
	JsonObject *st = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
	guint i;

	if (!st)
		return;
	for (i = 0; i < G_N_ELEMENTS(rows); i++) {
		gint64 v = member_int(st, rows[i].key);

		if (rows[i].duration) {
			char *d = fmt_duration(v);

			printf("%-14s %s\n", rows[i].label, d);
			g_free(d);
		} else {
			printf("%-14s %" G_GINT64_FORMAT "\n", rows[i].label, v);
		}
	}
}

/* The mount's two protections: leases (declared pins) and the pinfs_dma
 * module (pins nobody declared). */
static void print_status(JsonObject *resp)
{
	JsonNode *n = json_object_get_member(resp, "status");
	JsonObject *st = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
	JsonObject *u;
	char *pinned, *detail, *module, *dma, *age;
	gboolean watched;

	if (!st)
		return;
	pinned = member_text(st, "pinned", "?");
	if (json_object_get_boolean_member_with_default(st, "leases", FALSE))
		printf("%-16s watched: leases and registered pins hold layout changes "
		       "back (break_time %" G_GINT64_FORMAT " s, pinned=%s)\n",
		       "declared pins", member_int(st, "break_time_s"), pinned);
	else
		printf("%-16s not watched: leases=off\n", "declared pins");
	g_free(pinned);
	n = json_object_get_member(st, "undeclared_pins");
	u = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
	if (!u)
		return;
	watched = json_object_get_boolean_member_with_default(u, "watched", FALSE);
	detail = member_text(u, "detail", "");
	module = member_text(u, "module", "?");
	dma = member_text(u, "dma_module", "auto");
	age = fmt_duration(member_int(u, "for_ns"));
	printf("%-16s %s: %s (module %s, for %s, %" G_GINT64_FORMAT " changes)\n",
	       "undeclared pins", watched ? "watched" : "NOT watched", detail, module,
	       age, member_int(u, "changes"));
	if (!watched)
		printf(
		    "%-16s %s\n", "",
		    !strcmp(dma, "require")
			? "dma_module=require: layout changes of files open for writing "
			  "fail with ENOPKG"
			: "dma_module=auto: a truncate does not wait for DMA pins no "
			  "lease "
			  "declared");
	else
		printf("%-16s dma_module=%s\n", "", dma);
	n = json_object_get_member(st, "passthrough");
	u = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
	if (u) {
		char *state = member_text(u, "state", "?");

		printf("%-16s %s (%" G_GINT64_FORMAT " files open through it, %" G_GINT64_FORMAT
		       " opens since the mount)\n",
		       "passthrough", state, member_int(u, "files"), member_int(u, "opens"));
		g_free(state);
	}
	g_free(age);
	g_free(dma);
	g_free(module);
	g_free(detail);
}

/* ---- main ---- */

/*
 * "pinfsctl status" without a MOUNTPOINT: every pinfs mount this user can
 * ask (a FUSE mount with a control socket under /run/pinfs or our runtime
 * directory), one block each, or with --json one line each: the daemon's
 * answer with the member "mountpoint" added.  Returns the exit status.
 */
/* A FUSE mount of the table, for status_all. */
struct fuse_mount {
	char *target;
	dev_t dev;
};

static bool collect_fuse(const struct mountinfo_entry *m, void *arg)
{
	if (g_str_has_prefix(m->fstype, "fuse")) {
		struct fuse_mount fm = {g_strdup(m->target), m->dev};

		g_array_append_val((GArray *)arg, fm);
	}
	return true;
}

static int status_all(void)
{
	GArray *mounts = g_array_new(FALSE, FALSE, sizeof(struct fuse_mount));
	char *rundir = ctl_runtime_dir(getuid());
	int ret = EXIT_OK, found = 0, shown = 0;

	if (!mountinfo_foreach(collect_fuse, mounts)) {
		g_printerr("pinfsctl: cannot read /proc/self/mountinfo\n");
		g_array_free(mounts, TRUE);
		g_free(rundir);
		return EXIT_FAIL;
	}
	for (guint i = 0; i < mounts->len; i++) {
		struct fuse_mount *fm = &g_array_index(mounts, struct fuse_mount, i);
		char *mp = fm->target, *cand[2], *path = NULL;
		struct stat st;

		cand[0] = ctl_socket_path_in("/run", fm->dev);
		cand[1] = ctl_socket_path_in(rundir, fm->dev);
		for (int c = 0; c < 2 && !path; c++)
			if (lstat(cand[c], &st) == 0 && S_ISSOCK(st.st_mode))
				path = cand[c];
		if (path) {
			GError *err = NULL;
			char *line = NULL;
			JsonNode *root =
			    request(path, "{\"cmd\":\"status\"}", &line, &err);

			found++;
			if (!root) {
				g_printerr("pinfsctl: %s: %s\n", mp, err->message);
				g_error_free(err);
				ret = EXIT_FAIL;
			} else if (!json_object_get_boolean_member_with_default(
				       json_node_get_object(root), "ok", FALSE)) {
				char *msg = member_text(json_node_get_object(root),
							"error", "unknown error");

				g_printerr(
				    "pinfsctl: %s: %s%s\n", mp, msg,
				    strstr(msg, "unknown command")
					? " (a pinfs daemon older than this pinfsctl)"
					: "");
				g_free(msg);
				ret = EXIT_FAIL;
			} else if (opt_json) {
				JsonObject *o = json_node_get_object(root);
				char *out;

				json_object_set_string_member(o, "mountpoint", mp);
				out = json_to_string(root, FALSE);
				printf("%s\n", out);
				g_free(out);
			} else {
				printf("%s%s\n", shown++ ? "\n" : "", mp);
				print_status(json_node_get_object(root));
			}
			if (root)
				json_node_unref(root);
			g_free(line);
		}
		g_free(cand[0]);
		g_free(cand[1]);
		g_free(fm->target);
	}
	if (!found)
		g_printerr("pinfsctl: no pinfs mount with a control socket found\n");
	g_array_free(mounts, TRUE);
	g_free(rundir);
	return ret;
}

static int usage_error(GOptionContext *ctx, const char *msg)
{
	g_printerr("pinfsctl: %s\nTry 'pinfsctl --help' for more information.\n", msg);
	g_option_context_free(ctx);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	GOptionContext *ctx;
	const char *cmd, *mnt = NULL, *idarg = NULL;
	char *path = NULL, *req, *line = NULL;
	JsonObject *resp;
	JsonNode *root;
	GError *err = NULL;
	guint64 id = 0;
	int nargs, ret = EXIT_FAIL;

	ctx = g_option_context_new("COMMAND MOUNTPOINT [ID]");
	g_option_context_set_summary(
	    ctx,
	    "List and revoke the layout leases of a pinfs mount.\n\n"
	    "Commands:\n"
	    "  leases MOUNTPOINT        every lease and its pins\n"
	    "  waiters MOUNTPOINT       layout changes waiting for leases to go\n"
	    "  stats MOUNTPOINT         lease counters and waiting times\n"
	    "  status [MOUNTPOINT]      which pins hold layout changes back: leases,\n"
	    "                           and undeclared ones (the pinfs_dma module);\n"
	    "                           without MOUNTPOINT, every pinfs mount\n"
	    "  windows MOUNTPOINT       staging windows: size, holder, unsynced bytes\n"
	    "  revoke MOUNTPOINT ID     revoke lease ID (root or the file's owner)\n"
	    "  version MOUNTPOINT       the daemon's version");
	g_option_context_set_description(
	    ctx, "Exit status: 0 on success, 1 on failure, 2 on usage errors.\n"
		 "See pinfsctl(8).");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		ret = usage_error(ctx, err->message);
		g_error_free(err);
		return ret;
	}
	if (opt_version) {
		printf("pinfsctl %s\n", PINFS_VERSION);
		g_option_context_free(ctx);
		return EXIT_OK;
	}
	if (argc < 2)
		return usage_error(ctx, "no command given");
	cmd = argv[1];
	nargs = argc - 2;
	if (!strcmp(cmd, "status") && nargs == 0 && !opt_socket) {
		g_option_context_free(ctx);
		ret = status_all();
		if (fflush(stdout) != 0)
			ret = EXIT_FAIL;
		return ret;
	}

	if (strcmp(cmd, "revoke") == 0) {
		if (nargs == 2) {
			mnt = argv[2];
			idarg = argv[3];
		} else if (nargs == 1 && opt_socket) {
			idarg = argv[2];
		} else {
			return usage_error(ctx, "usage: pinfsctl revoke MOUNTPOINT ID");
		}
		if (!g_ascii_string_to_unsigned(idarg, 10, 0, G_MAXINT64, &id, NULL))
			return usage_error(ctx, "the lease ID must be a number");
		req = g_strdup_printf("{\"cmd\":\"revoke\",\"id\":%" G_GUINT64_FORMAT "}",
				      id);
	} else if (!strcmp(cmd, "leases") || !strcmp(cmd, "waiters") ||
		   !strcmp(cmd, "stats") || !strcmp(cmd, "version") ||
		   !strcmp(cmd, "windows") || !strcmp(cmd, "status")) {
		if (nargs == 1)
			mnt = argv[2];
		else if (nargs != 0 || !opt_socket)
			return usage_error(ctx, "give one MOUNTPOINT");
		req = g_strdup_printf("{\"cmd\":\"%s\"}", cmd);
	} else {
		char *msg = g_strdup_printf("unknown command '%s'", cmd);

		ret = usage_error(ctx, msg);
		g_free(msg);
		return ret;
	}
	g_option_context_free(ctx);

	path = opt_socket ? g_strdup(opt_socket) : find_socket(mnt, &err);
	if (!path)
		goto fail;
	root = request(path, req, &line, &err);
	if (!root)
		goto fail;
	resp = json_node_get_object(root);

	if (!json_object_get_boolean_member_with_default(resp, "ok", FALSE)) {
		char *msg = member_text(resp, "error", "unknown error");
		gint64 e = member_int(resp, "errno");

		if (opt_json)
			printf("%s\n", line);
		if (e == EPERM && !strstr(msg, "ermission"))
			g_printerr("pinfsctl: %s: permission denied\n", msg);
		else
			g_printerr("pinfsctl: %s\n", msg);
		g_free(msg);
	} else if (opt_json) {
		printf("%s\n", line);
		ret = EXIT_OK;
	} else {
		if (!strcmp(cmd, "leases")) {
			print_leases(resp);
			print_cluster(resp, true);
		} else if (!strcmp(cmd, "waiters")) {
			print_waiters(resp);
			print_cluster(resp, false);
		} else if (!strcmp(cmd, "stats"))
			print_stats(resp);
		else if (!strcmp(cmd, "windows"))
			print_windows(resp);
		else if (!strcmp(cmd, "status"))
			print_status(resp);
		else if (!strcmp(cmd, "revoke"))
			printf("revoked lease %" G_GUINT64_FORMAT "\n", id);
		else if (!strcmp(cmd, "version")) {
			char *v = member_text(resp, "version", "?");

			printf("pinfsctl %s, daemon %s (protocol %" G_GINT64_FORMAT ")\n",
			       PINFS_VERSION, v, member_int(resp, "protocol"));
			g_free(v);
		}
		ret = EXIT_OK;
	}
	json_node_unref(root);
	goto out;
fail:
	g_printerr("pinfsctl: %s\n", err->message);
	g_error_free(err);
out:
	if (fflush(stdout) != 0)
		ret = EXIT_FAIL;
	g_free(line);
	g_free(req);
	g_free(path);
	g_free(opt_socket);
	return ret;
}
