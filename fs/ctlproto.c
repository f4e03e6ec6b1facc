// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctlproto.c - the control channel's protocol: one request line in, one
 * response line out (docs/control.md).  It reads the lease table, asks the
 * daemon's hooks for names and owners, and revokes; it knows nothing of
 * sockets, framing or limits (ctl.c).
 *
 * The lease table has its own lock; lt_foreach_* copy out under it and
 * the hooks are called after.
 */
#ifndef G_LOG_DOMAIN
#define G_LOG_DOMAIN "pinfs"
#endif

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "clock.h"
#include "ctlproto.h"
#include "jsonmember.h"

#ifndef PINFS_VERSION
#define PINFS_VERSION "unknown"
#endif

#define CTL_MAX_DEPTH 16 /* JSON nesting accepted in a request */

/* One request being answered: who asks, and where the answer goes. */
struct ctl_req {
	const struct ctl_proto *s;
	uid_t uid; /* SO_PEERCRED; (uid_t)-1 if unknown */
	pid_t pid;
	GString *out;
};

static uint64_t monotonic_ns(void *arg)
{
	(void)arg;
	return clock_mono_ns();
}

static uint64_t now_ns(const struct ctl_proto *s)
{
	return s->clock.now_ns(s->clock.arg);
}

/* ---- Building responses ---- */

/* A string that may hold any bytes (a path, a comm); NULL becomes null. */
static void add_text(JsonBuilder *b, const char *name, const char *text)
{
	json_builder_set_member_name(b, name);
	if (!text) {
		json_builder_add_null_value(b);
	} else if (g_utf8_validate(text, -1, NULL)) {
		json_builder_add_string_value(b, text);
	} else {
		char *valid = g_utf8_make_valid(text, -1);

		json_builder_add_string_value(b, valid);
		g_free(valid);
	}
}

static JsonBuilder *ok_begin(void)
{
	JsonBuilder *b = json_builder_new();

	json_builder_begin_object(b);
	json_member_bool(b, "ok", TRUE);
	return b;
}

/* Close the object begun by ok_begin and queue it as one line. */
static void reply_builder(struct ctl_req *c, JsonBuilder *b)
{
	gchar *text;
	gsize len;

	json_builder_end_object(b);
	text = json_text_of(b, &len);
	g_string_append_len(c->out, text, len);
	g_string_append_c(c->out, '\n');
	g_free(text);
	g_object_unref(b);
}

static void reply_error(struct ctl_req *c, int err, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* Queue {"ok":false,"errno":err,"error":text}. */
static void reply_error(struct ctl_req *c, int err, const char *fmt, ...)
{
	JsonBuilder *b = json_builder_new();
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);

	json_builder_begin_object(b);
	json_member_bool(b, "ok", FALSE);
	json_member_int(b, "errno", err);
	add_text(b, "error", msg);
	reply_builder(c, b);
	g_free(msg);
}

/* ---- Names for listings: hooks, cached for one response ---- */

struct names {
	const struct ctl_proto *s;
	GHashTable *comm; /* GINT_TO_POINTER(pid) -> char * or NULL */
	GHashTable *path; /* uint64_t * ino -> char * or NULL */
};

static void names_init(struct names *n, const struct ctl_proto *s)
{
	n->s = s;
	n->comm = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	n->path = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
}

static void names_clear(struct names *n)
{
	g_hash_table_destroy(n->comm);
	g_hash_table_destroy(n->path);
}

static char *proc_comm(pid_t pid)
{
	char file[64], *text = NULL;

	if (pid <= 0)
		return NULL;
	snprintf(file, sizeof(file), "/proc/%d/comm", (int)pid);
	if (!g_file_get_contents(file, &text, NULL, NULL))
		return NULL;
	return g_strchomp(text);
}

static const char *names_comm(struct names *n, pid_t pid)
{
	gpointer key = GINT_TO_POINTER(pid), value;

	if (g_hash_table_lookup_extended(n->comm, key, NULL, &value))
		return value;
	if (n->s->hooks.pid_comm)
		value = n->s->hooks.pid_comm(n->s->hook_ctx, pid);
	else
		value = proc_comm(pid);
	g_hash_table_insert(n->comm, key, value);
	return value;
}

static const char *names_path(struct names *n, uint64_t ino)
{
	gpointer value = NULL;
	gint64 key = (gint64)ino;

	if (g_hash_table_lookup_extended(n->path, &key, NULL, &value))
		return value;
	if (n->s->hooks.ino_path)
		value = n->s->hooks.ino_path(n->s->hook_ctx, ino);
	g_hash_table_insert(n->path, g_memdup2(&key, sizeof(key)), value);
	return value;
}

static uint64_t since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* ---- Commands ---- */

static void copy_lease(const struct lt_lease_info *li, void *arg)
{
	g_array_append_vals(arg, li, 1);
}

static void copy_waiter(const struct lt_waiter_info *wi, void *arg)
{
	g_array_append_vals(arg, wi, 1);
}

/* The file and the process a row is about: "path", "pid" and "command". */
static void add_who(JsonBuilder *b, struct names *n, uint64_t ino, pid_t pid)
{
	add_text(b, "path", names_path(n, ino));
	json_member_int(b, "pid", pid);
	add_text(b, "command", names_comm(n, pid));
}

static void add_lease(JsonBuilder *b, struct names *n, const void *row, uint64_t now)
{
	const struct lt_lease_info *li = row;

	json_member_u64(b, "id", li->lease_id);
	json_member_u64(b, "ino", li->ino);
	json_member_u64(b, "fh", li->fh);
	add_who(b, n, li->ino, li->pid);
	add_text(b, "type", lt_type_name(li->type));
	json_member_bool(b, "exclusive", li->exclusive);
	add_text(b, "state", lt_state_name(li->state));
	json_member_u64(b, "offset", li->off);
	json_member_len(b, "length", li->len);
	json_member_u64(b, "granted_ns", li->granted_ns);
	json_member_u64(b, "age_ns", since(now, li->granted_ns));
	if (li->break_start_ns) {
		json_member_u64(b, "break_start_ns", li->break_start_ns);
		json_member_u64(b, "breaking_ns", since(now, li->break_start_ns));
	}
	json_member_u64(b, "pinned_bytes", li->pinned_bytes);
	json_member_u64(b, "pins", li->npins);
}

static void add_waiter(JsonBuilder *b, struct names *n, const void *row, uint64_t now)
{
	const struct lt_waiter_info *wi = row;

	json_member_u64(b, "id", wi->waiter_id);
	json_member_u64(b, "ino", wi->ino);
	json_member_u64(b, "breaker_fh", wi->breaker_fh);
	add_who(b, n, wi->ino, wi->pid);
	json_member_u64(b, "offset", wi->off);
	json_member_len(b, "length", wi->len);
	json_member_u64(b, "parked_ns", wi->parked_ns);
	json_member_u64(b, "waited_ns", since(now, wi->parked_ns));
	json_member_bool(b, "pins_only", wi->pins_only);
}

/*
 * Answer a listing of @rows (copied out of the lease table just before):
 * {"ok":true,"now_ns":...,"@member":[one object per row, by @add_row]},
 * plus what the cluster hook adds.
 */
static void reply_rows(struct ctl_req *c, const char *member, GArray *rows,
		       void (*add_row)(JsonBuilder *b, struct names *n, const void *row,
				       uint64_t now))
{
	const struct ctl_proto *s = c->s;
	guint size = g_array_get_element_size(rows);
	uint64_t now = now_ns(s);
	struct names names;
	JsonBuilder *b;

	names_init(&names, s);
	b = ok_begin();
	json_member_u64(b, "now_ns", now);
	json_builder_set_member_name(b, member);
	json_builder_begin_array(b);
	for (guint i = 0; i < rows->len; i++) {
		json_builder_begin_object(b);
		add_row(b, &names, rows->data + (gsize)i * size, now);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	if (s->hooks.cluster)
		s->hooks.cluster(s->hook_ctx, member, b);
	reply_builder(c, b);
	names_clear(&names);
}

static void cmd_leases(struct ctl_req *c, JsonObject *req)
{
	GArray *a = g_array_new(FALSE, FALSE, sizeof(struct lt_lease_info));

	(void)req;
	lt_foreach_lease(c->s->t, copy_lease, a);
	reply_rows(c, "leases", a, add_lease);
	g_array_free(a, TRUE);
}

static void cmd_waiters(struct ctl_req *c, JsonObject *req)
{
	GArray *a = g_array_new(FALSE, FALSE, sizeof(struct lt_waiter_info));

	(void)req;
	lt_foreach_waiter(c->s->t, copy_waiter, a);
	reply_rows(c, "waiters", a, add_waiter);
	g_array_free(a, TRUE);
}

static void cmd_stats(struct ctl_req *c, JsonObject *req)
{
	struct lt_stats st;
	JsonBuilder *b;

	(void)req;
	memset(&st, 0, sizeof(st));
	lt_get_stats(c->s->t, &st);

	b = ok_begin();
	json_builder_set_member_name(b, "stats");
	json_builder_begin_object(b);
	json_member_u64(b, "granted", st.granted);
	json_member_u64(b, "released", st.released);
	json_member_u64(b, "broken", st.broken);
	json_member_u64(b, "revoked", st.revoked);
	json_member_u64(b, "refused", st.refused);
	json_member_u64(b, "parked", st.parked);
	json_member_u64(b, "resumed", st.resumed);
	json_member_u64(b, "cancelled", st.cancelled);
	json_member_u64(b, "active_leases", st.active_leases);
	json_member_u64(b, "parked_now", st.parked_now);
	json_member_u64(b, "wait_count", st.wait_count);
	json_member_u64(b, "wait_max_ns", st.wait_max_ns);
	json_member_u64(b, "wait_total_ns", st.wait_total_ns);
	json_member_u64(b, "wait_mean_ns",
			st.wait_count ? st.wait_total_ns / st.wait_count : 0);
	json_builder_end_object(b);
	reply_builder(c, b);
}

/* The mount's protections: declared pins (leases) and undeclared ones
 * (the pinfs_dma module). */
static void cmd_status(struct ctl_req *c, JsonObject *req)
{
	struct ctl_status st;
	uint64_t now = now_ns(c->s);
	JsonBuilder *b;

	(void)req;
	memset(&st, 0, sizeof(st));
	st.leases = true; /* a server exists only with a lease table */
	g_strlcpy(st.dma_module, "unknown", sizeof(st.dma_module));
	g_strlcpy(st.passthrough, "unknown", sizeof(st.passthrough));
	if (c->s->hooks.status)
		c->s->hooks.status(c->s->hook_ctx, &st);

	b = ok_begin();
	json_member_u64(b, "now_ns", now);
	json_builder_set_member_name(b, "status");
	json_builder_begin_object(b);
	json_member_bool(b, "leases", st.leases);
	json_member_u64(b, "break_time_s", st.break_time);
	add_text(b, "pinned", st.pinned_fail ? "fail" : "wait");
	json_builder_set_member_name(b, "undeclared_pins");
	json_builder_begin_object(b);
	json_member_bool(b, "watched", st.dma_watched);
	add_text(b, "module", st.dma_module);
	add_text(b, "detail", st.dma_detail);
	add_text(b, "dma_module", st.dma_require ? "require" : "auto");
	json_member_u64(b, "since_ns", st.dma_since_ns);
	json_member_u64(b, "for_ns", since(now, st.dma_since_ns));
	json_member_u64(b, "changes", st.dma_changes);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "passthrough");
	json_builder_begin_object(b);
	add_text(b, "state", st.passthrough);
	json_member_u64(b, "files", st.passthrough_files);
	json_member_u64(b, "opens", st.passthrough_opens);
	json_builder_end_object(b);
	json_builder_end_object(b);
	reply_builder(c, b);
}

static void cmd_version(struct ctl_req *c, JsonObject *req)
{
	JsonBuilder *b = ok_begin();

	(void)req;
	add_text(b, "version", PINFS_VERSION);
	json_member_int(b, "protocol", CTL_PROTOCOL_VERSION);
	reply_builder(c, b);
}

/*
 * May this client revoke lease id?  Root may; anyone else only if the
 * daemon says they own the file.  0, or a negative errno with the error
 * already queued.
 */
static int revoke_allowed(struct ctl_req *c, uint64_t id)
{
	const struct ctl_proto *s = c->s;
	uint64_t ino;
	uid_t owner;
	int ret;

	if (c->uid == 0)
		return 0;
	ret = lt_lease_ino(s->t, id, &ino);
	if (ret < 0) {
		reply_error(c, -ret, "no lease %" G_GUINT64_FORMAT, id);
		return ret;
	}
	if (!s->hooks.ino_owner) {
		reply_error(c, EPERM, "only root may revoke leases on this mount");
		return -EPERM;
	}
	ret = s->hooks.ino_owner(s->hook_ctx, ino, &owner);
	if (ret < 0) {
		reply_error(c, -ret,
			    "lease %" G_GUINT64_FORMAT
			    ": cannot find its file's owner: %s",
			    id, g_strerror(-ret));
		return ret;
	}
	if (owner != c->uid) {
		reply_error(c, EPERM,
			    "permission denied: only root or the file's owner may revoke "
			    "lease %" G_GUINT64_FORMAT,
			    id);
		return -EPERM;
	}
	return 0;
}

static void cmd_revoke(struct ctl_req *c, JsonObject *req)
{
	struct lt_effects fx = LT_EFFECTS_INIT;
	JsonNode *idn = json_object_get_member(req, "id");
	char idstr[32];
	JsonBuilder *b;
	gint64 id;
	int ret;

	if (!idn || !JSON_NODE_HOLDS_VALUE(idn) ||
	    json_node_get_value_type(idn) != G_TYPE_INT64) {
		reply_error(c, EINVAL, "revoke needs an integer \"id\"");
		return;
	}
	id = json_node_get_int(idn);
	if (id < 0) {
		reply_error(c, EINVAL, "lease id must not be negative");
		return;
	}
	if (revoke_allowed(c, (uint64_t)id) < 0)
		return;
	ret = lt_revoke(c->s->t, (uint64_t)id, &fx);
	if (c->s->hooks.effects)
		c->s->hooks.effects(c->s->hook_ctx, &fx);
	lt_effects_clear(&fx);
	if (ret < 0) {
		reply_error(c, -ret, "cannot revoke lease %" G_GINT64_FORMAT ": %s", id,
			    g_strerror(-ret));
		return;
	}
	snprintf(idstr, sizeof(idstr), "%" G_GINT64_FORMAT, id);
	g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_INFO, "PINFS_EVENT", "ctl-revoke",
			 "PINFS_LEASE", idstr, "MESSAGE",
			 "lease %s revoked on request of uid %d pid %d", idstr,
			 (int)c->uid, (int)c->pid);
	b = ok_begin();
	json_member_int(b, "id", id);
	reply_builder(c, b);
}

/* Staging windows (the daemon's windows hook fills the array). */
static void cmd_windows(struct ctl_req *c, JsonObject *req)
{
	const struct ctl_proto *s = c->s;
	JsonBuilder *b = ok_begin();

	(void)req;
	json_builder_set_member_name(b, "windows");
	json_builder_begin_array(b);
	if (s->hooks.windows)
		s->hooks.windows(s->hook_ctx, b);
	json_builder_end_array(b);
	reply_builder(c, b);
}

static const struct {
	const char *name;
	void (*fn)(struct ctl_req *c, JsonObject *req);
} commands[] = {
    {"leases", cmd_leases}, {"waiters", cmd_waiters}, {"stats", cmd_stats},
    {"revoke", cmd_revoke}, {"version", cmd_version}, {"windows", cmd_windows},
    {"status", cmd_status},
};

/*
 * Deepest nesting of arrays and objects in a JSON text, looking past
 * strings.  Checked before parsing so that json-glib's recursive parser
 * never sees a request deep enough to exhaust our stack.
 */
static unsigned json_depth(const char *p, gsize len)
{
	unsigned depth = 0, max = 0;
	bool in_string = false, escaped = false;
	gsize i;

	for (i = 0; i < len; i++) {
		if (in_string) {
			if (escaped)
				escaped = false;
			else if (p[i] == '\\')
				escaped = true;
			else if (p[i] == '"')
				in_string = false;
		} else if (p[i] == '"') {
			in_string = true;
		} else if (p[i] == '[' || p[i] == '{') {
			if (++depth > max)
				max = depth;
		} else if ((p[i] == ']' || p[i] == '}') && depth) {
			depth--;
		}
	}
	return max;
}

void ctl_proto_answer(const struct ctl_proto *p, uid_t uid, pid_t pid, const char *line,
		      size_t len, GString *out)
{
	struct ctl_req req = {.s = p, .uid = uid, .pid = pid, .out = out};
	struct ctl_req *c = &req;
	JsonParser *parser = NULL;
	GError *err = NULL;
	JsonNode *root, *cmd;
	const char *name;
	gsize i;

	if (len && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return; /* blank lines are allowed between requests */
	if (memchr(line, '\0', len) || !g_utf8_validate(line, len, NULL)) {
		reply_error(c, EINVAL, "request is not UTF-8 text");
		return;
	}
	if (json_depth(line, len) > CTL_MAX_DEPTH) {
		reply_error(c, EINVAL, "request nested deeper than %d", CTL_MAX_DEPTH);
		return;
	}

	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, line, len, &err)) {
		reply_error(c, EINVAL, "malformed JSON: %s", err->message);
		goto out;
	}
	root = json_parser_get_root(parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		reply_error(c, EINVAL, "request must be a JSON object");
		goto out;
	}
	cmd = json_object_get_member(json_node_get_object(root), "cmd");
	if (!cmd || !JSON_NODE_HOLDS_VALUE(cmd) ||
	    json_node_get_value_type(cmd) != G_TYPE_STRING) {
		reply_error(c, EINVAL, "request needs a string \"cmd\"");
		goto out;
	}
	name = json_node_get_string(cmd);
	for (i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(name, commands[i].name) == 0) {
			commands[i].fn(c, json_node_get_object(root));
			goto out;
		}
	}
	reply_error(c, EINVAL, "unknown command \"%s\"", name);
out:
	g_clear_error(&err);
	g_object_unref(parser);
}

void ctl_proto_init(struct ctl_proto *s, struct lease_table *t,
		    const struct lt_clock *clock, const struct ctl_hooks *hooks,
		    void *hook_ctx)
{
	s->t = t;
	if (clock && clock->now_ns) {
		s->clock = *clock;
	} else {
		s->clock.now_ns = monotonic_ns;
		s->clock.arg = NULL;
	}
	s->hooks = hooks ? *hooks : (struct ctl_hooks){0};
	s->hook_ctx = hook_ctx;
}

void ctl_proto_error(GString *out, int err, const char *msg)
{
	struct ctl_req req = {.out = out};

	reply_error(&req, err, "%s", msg);
}

void ctl_handle_request(struct lease_table *t, const struct lt_clock *clock,
			const struct ctl_hooks *hooks, void *hook_ctx, uid_t peer_uid,
			const char *line, size_t len, GString *reply)
{
	struct ctl_proto p;

	ctl_proto_init(&p, t, clock, hooks, hook_ctx);
	ctl_proto_answer(&p, peer_uid, -1, line, len, reply);
}
