// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-ctl.c - the control channel's request handler (fs/ctl.c) against a
 * real lease table holding leases, a breaking lease, a pin and a parked
 * waiter.
 *
 * Input: the first byte picks the peer: % 4 = 0 root, 1 uid 1000 (owns
 * file 1), 2 uid 1001 (owns file 2), 3 unknown.  The rest is split into
 * lines at '\n' as the socket does, and every line is one request.
 *
 * Checked for every line: a blank line gets no answer, any other exactly
 * one line of JSON, an object with a boolean "ok", and with ok false an
 * "errno" > 0 and an "error" string; the table changes only by a revoke
 * that answered ok, of one lease, whose file the peer owns unless it is
 * root.
 */
#include <errno.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ctl.h"
#include "fuzz.h"

static uint64_t now = 5000000000u;

static uint64_t fake_now(void *arg)
{
	(void)arg;
	return now;
}

static char *hook_path(void *ctx, uint64_t ino)
{
	(void)ctx;
	if (ino == 1)
		return g_strdup("/mnt/pinfs/one");
	if (ino == 2)
		return g_strdup("/mnt/pinfs/\xff\xfe-not-utf8\"\\");
	return NULL;
}

static int owner_of(uint64_t ino, uid_t *uid)
{
	if (ino == 1)
		*uid = 1000;
	else if (ino == 2)
		*uid = 1001;
	else
		return -ENOENT;
	return 0;
}

static int hook_owner(void *ctx, uint64_t ino, uid_t *uid)
{
	(void)ctx;
	return owner_of(ino, uid);
}

static char *hook_comm(void *ctx, pid_t pid)
{
	(void)ctx;
	if (pid == 101)
		return g_strdup("bad\xc3(comm");
	return pid == 100 ? g_strdup("holder") : NULL;
}

/* One lease as the checks compare them. */
struct lease_view {
	uint64_t id, ino;
	enum lt_state state;
};

static void add_lease(const struct lt_lease_info *li, void *arg)
{
	struct lease_view v = {li->lease_id, li->ino, li->state};

	g_array_append_vals(arg, &v, 1);
}

static GArray *leases_of(struct lease_table *t)
{
	GArray *a = g_array_new(FALSE, TRUE, sizeof(struct lease_view));

	lt_foreach_lease(t, add_lease, a);
	return a;
}

static const struct lease_view *find(GArray *a, uint64_t id)
{
	for (guint i = 0; i < a->len; i++)
		if (g_array_index(a, struct lease_view, i).id == id)
			return &g_array_index(a, struct lease_view, i);
	return NULL;
}

/* The leases that differ between before and after: how many, and one. */
static unsigned changes(GArray *before, GArray *after, uint64_t *id)
{
	unsigned n = 0;

	for (guint i = 0; i < before->len; i++) {
		const struct lease_view *b = &g_array_index(before, struct lease_view, i);
		const struct lease_view *a = find(after, b->id);

		if (!a || a->state != b->state) {
			*id = b->id;
			n++;
		}
	}
	for (guint i = 0; i < after->len; i++)
		if (!find(before, g_array_index(after, struct lease_view, i).id))
			n++;
	return n;
}

static void check_line(struct lease_table *t, const struct lt_clock *clock, uid_t uid,
		       const char *line, size_t len)
{
	static const struct ctl_hooks hooks = {
	    .ino_path = hook_path,
	    .ino_owner = hook_owner,
	    .pid_comm = hook_comm,
	};
	GString *reply = g_string_new(NULL);
	GArray *before = leases_of(t), *after;
	JsonParser *parser = json_parser_new();
	bool blank = len == 0 || (len == 1 && line[0] == '\r');
	JsonObject *obj = NULL;
	uint64_t id = 0;
	unsigned n;

	ctl_handle_request(t, clock, &hooks, NULL, uid, line, len, reply);
	after = leases_of(t);

	if (blank) {
		FUZZ_CHECK(reply->len == 0, "answer to a blank line: %s", reply->str);
		goto out;
	}
	FUZZ_CHECK(reply->len > 0 && reply->str[reply->len - 1] == '\n' &&
		       !memchr(reply->str, '\n', reply->len - 1),
		   "not one line: %s", reply->str);
	FUZZ_CHECK(json_parser_load_from_data(parser, reply->str, reply->len - 1, NULL),
		   "answer is not JSON: %s", reply->str);
	FUZZ_CHECK(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)),
		   "answer is not an object: %s", reply->str);
	obj = json_node_get_object(json_parser_get_root(parser));
	FUZZ_CHECK(json_object_has_member(obj, "ok") &&
		       json_node_get_value_type(json_object_get_member(obj, "ok")) ==
			   G_TYPE_BOOLEAN,
		   "no boolean ok: %s", reply->str);
	if (!json_object_get_boolean_member(obj, "ok")) {
		FUZZ_CHECK(json_object_has_member(obj, "errno") &&
			       json_object_get_int_member(obj, "errno") > 0 &&
			       json_object_has_member(obj, "error"),
			   "error without errno: %s", reply->str);
	}

	n = changes(before, after, &id);
	if (n) {
		const struct lease_view *b = find(before, id), *a = find(after, id);
		uid_t owner = (uid_t)-1;

		FUZZ_CHECK(n == 1, "%u leases changed: %.*s", n, (int)len, line);
		FUZZ_CHECK(json_object_get_boolean_member(obj, "ok") &&
			       json_object_has_member(obj, "id") &&
			       (uint64_t)json_object_get_int_member(obj, "id") == id,
			   "lease %" G_GUINT64_FORMAT " changed, answer %s", id,
			   reply->str);
		/* A revoked lease stays listed while pins hold it, else goes. */
		FUZZ_CHECK(!a || a->state == LT_REVOKED,
			   "lease %" G_GUINT64_FORMAT " changed but is not revoked", id);
		FUZZ_CHECK(uid == 0 || (owner_of(b->ino, &owner) == 0 && owner == uid),
			   "uid %u revoked lease %" G_GUINT64_FORMAT " of uid %u",
			   (unsigned)uid, id, (unsigned)owner);
	}
out:
	g_array_free(before, TRUE);
	g_array_free(after, TRUE);
	g_object_unref(parser);
	g_string_free(reply, TRUE);
}

/* Leases on two files owned by different users; one breaking with a parked
 * waiter, one with a pin. */
static struct lease_table *populate(const struct lt_clock *clock)
{
	struct lt_config cfg = {.break_time_ns = 30000000000u};
	struct lease_table *t = lt_new(&cfg, clock, NULL);
	static int waiter;
	uint64_t id;

	FUZZ_CHECK(
	    lt_setlease(t, 1, 11, 100, 0, LT_READ, false, 0, LT_LEN_EOF, true, NULL) == 0,
	    "setup");
	FUZZ_CHECK(
	    lt_setlease(t, 1, 12, 101, 0, LT_READ, false, 4096, 8192, true, NULL) == 0,
	    "setup");
	FUZZ_CHECK(lt_pin(t, 1, 11, 0, 4096, &id, NULL) == 0, "setup");
	FUZZ_CHECK(lt_setlease(t, 2, 21, 100, 0, LT_WRITE, false, 0, LT_LEN_EOF, true,
			       NULL) == 0,
		   "setup");
	FUZZ_CHECK(lt_break(t, 2, 0, 999, 0, LT_LEN_EOF, false, &waiter, &id, NULL) ==
		       LT_PARKED,
		   "setup");
	return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uid_t peers[] = {0, 1000, 1001, (uid_t)-1};
	struct lt_clock clock = {.now_ns = fake_now};
	struct lease_table *t;
	const char *p, *end, *nl;

	if (size == 0)
		return 0;
	t = populate(&clock);
	p = (const char *)data + 1;
	end = (const char *)data + size;
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end; /* a last line without newline, as at EOF */
		if (nl - p <= CTL_MAX_REQUEST)
			check_line(t, &clock, peers[data[0] % 4], p, nl - p);
		p = nl + 1;
	}
	lt_destroy(t, NULL);
	return 0;
}
