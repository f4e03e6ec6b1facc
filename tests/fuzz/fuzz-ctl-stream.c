// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-ctl-stream.c - the control channel's framing (fs/ctl.c): a byte
 * stream cut into reads of any size, fed through ctl_feed_stream, which
 * serves it with the same code as a socket (line splitting, the line
 * limit and the dropping of overlong lines, back-pressure, EOF).
 *
 * Input: a header, then the stream.
 *   byte 0  peer % 4 (0 root, 1 uid 1000, 2 uid 1001, 3 unknown); bit 2
 *           set: small limits from bytes 1 and 2, so that short inputs
 *           reach them; clear: CTL_MAX_REQUEST and CTL_OUT_HIGH
 *   byte 1  line limit - 1 (1..256)
 *   byte 2  back-pressure mark: 1 + 8 * byte
 *   byte 3  bytes the peer reads at a time (0: all there is)
 *   byte 4  n = byte % 16, then n bytes: the sizes of successive reads,
 *           used in turn (0: the rest at once); n = 0: all in one read
 *
 * Checked, against the rules in docs/control.md rather than the code:
 * - the answers are exactly those of the stream's lines handled one by
 *   one through ctl_handle_request on a table in the same state, except
 *   that a line longer than the limit gets one EMSGSIZE error instead
 *   (a line: the bytes before each '\n', and the bytes after the last
 *   one, if any, at EOF);
 * - the answers do not depend on how the stream was cut or read: the
 *   same stream in one read, with the peer reading everything, gives the
 *   same bytes;
 * - every answer is one line of JSON, an object with a boolean "ok";
 * - the connection never held more than the limit plus one read of input,
 *   nor more than the mark plus one answer of output.
 */
#include <errno.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ctl.h"
#include "fuzz.h"

#define MAX_CHUNKS 16

static uint64_t fake_now(void *arg)
{
	(void)arg;
	return 7000000000u;
}

static const struct lt_clock clock_ = {.now_ns = fake_now};

static char *hook_path(void *ctx, uint64_t ino)
{
	(void)ctx;
	if (ino == 1)
		return g_strdup("/mnt/pinfs/one");
	return ino == 2 ? g_strdup("/mnt/pinfs/\xc3-two") : NULL;
}

static int hook_owner(void *ctx, uint64_t ino, uid_t *uid)
{
	(void)ctx;
	if (ino != 1 && ino != 2)
		return -ENOENT;
	*uid = ino == 1 ? 1000 : 1001;
	return 0;
}

static char *hook_comm(void *ctx, pid_t pid)
{
	(void)ctx;
	return pid == 100 ? g_strdup("holder") : NULL;
}

static const struct ctl_hooks hooks = {
    .ino_path = hook_path,
    .ino_owner = hook_owner,
    .pid_comm = hook_comm,
};

/* The same leases every time, so that revokes answer alike in each run. */
static struct lease_table *populate(void)
{
	struct lt_config cfg = {.break_time_ns = 30000000000u};
	struct lease_table *t = lt_new(&cfg, &clock_, NULL);
	uint64_t id;

	FUZZ_CHECK(
	    lt_setlease(t, 1, 11, 100, 0, LT_READ, false, 0, LT_LEN_EOF, true, NULL) == 0,
	    "setup");
	FUZZ_CHECK(lt_pin(t, 1, 11, 0, 4096, &id, NULL) == 0, "setup");
	FUZZ_CHECK(lt_setlease(t, 2, 21, 100, 0, LT_WRITE, false, 0, 8192, true, NULL) ==
		       0,
		   "setup");
	return t;
}

/* Feed stream as how says to a fresh table; the answers, g_string_free'd
 * by the caller. */
static GString *feed(uid_t uid, const char *stream, size_t len, struct ctl_stream *how)
{
	struct lease_table *t = populate();
	GString *replies = g_string_new(NULL);

	ctl_feed_stream(t, &clock_, &hooks, NULL, uid, stream, len, how, replies);
	lt_destroy(t, NULL);
	return replies;
}

/* Every line is a JSON object with a boolean "ok"; returns the longest. */
static size_t check_json_lines(const GString *replies)
{
	JsonParser *parser = json_parser_new();
	const char *p = replies->str, *end = p + replies->len, *nl;
	size_t longest = 0;

	FUZZ_CHECK(!replies->len || end[-1] == '\n', "answers end mid-line: %s",
		   replies->str);
	for (; p < end; p = nl + 1) {
		JsonNode *root;

		nl = memchr(p, '\n', end - p);
		if ((size_t)(nl + 1 - p) > longest)
			longest = nl + 1 - p;
		FUZZ_CHECK(json_parser_load_from_data(parser, p, nl - p, NULL),
			   "answer is not JSON: %.*s", (int)(nl - p), p);
		root = json_parser_get_root(parser);
		FUZZ_CHECK(root && JSON_NODE_HOLDS_OBJECT(root) &&
			       json_object_has_member(json_node_get_object(root), "ok") &&
			       json_node_get_value_type(json_object_get_member(
				   json_node_get_object(root), "ok")) == G_TYPE_BOOLEAN,
			   "answer is no object with a boolean ok: %.*s", (int)(nl - p),
			   p);
	}
	g_object_unref(parser);
	return longest;
}

/* Whether line (with its '\n') is {"ok":false,"errno":EMSGSIZE,...}. */
static bool is_emsgsize(const char *line, size_t len)
{
	JsonParser *parser = json_parser_new();
	JsonObject *o;
	bool yes = false;

	if (!json_parser_load_from_data(parser, line, len, NULL))
		goto out;
	o = json_node_get_object(json_parser_get_root(parser));
	yes = !json_object_get_boolean_member(o, "ok") &&
	      json_object_get_int_member(o, "errno") == EMSGSIZE;
out:
	g_object_unref(parser);
	return yes;
}

/* Take the next answer line off *p: its length with the '\n', or 0. */
static size_t next_answer(const char **p, const char *end)
{
	const char *nl = *p < end ? memchr(*p, '\n', end - *p) : NULL;
	size_t n = nl ? (size_t)(nl + 1 - *p) : 0;

	*p += n;
	return n;
}

/*
 * The answers replies must hold: each line of stream, in order, handled
 * alone (or refused as too long).
 */
static void check_per_line(uid_t uid, const char *stream, size_t len, size_t max_request,
			   const GString *replies)
{
	struct lease_table *t = populate();
	const char *p = stream, *end = stream + len;
	const char *r = replies->str, *rend = replies->str + replies->len;
	GString *want = g_string_new(NULL);
	unsigned lineno = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t n = (nl ? nl : end) - p;
		const char *got = r;
		size_t got_len = next_answer(&r, rend);

		lineno++;
		if (n > max_request) {
			FUZZ_CHECK(
			    got_len && is_emsgsize(got, got_len),
			    "line %u (%zu bytes > %zu) not answered EMSGSIZE: %.*s",
			    lineno, n, max_request, (int)got_len, got);
		} else {
			g_string_truncate(want, 0);
			ctl_handle_request(t, &clock_, &hooks, NULL, uid, p, n, want);
			if (!want->len)
				r = got; /* a blank line: no answer */
			else
				FUZZ_CHECK(
				    got_len == want->len &&
					memcmp(got, want->str, got_len) == 0,
				    "line %u (%zu bytes) answered\n  %.*s\nnot\n  %s",
				    lineno, n, (int)got_len, got, want->str);
		}
		p = nl ? nl + 1 : end;
	}
	FUZZ_CHECK(r == rend, "answers beyond the %u lines: %.*s", lineno,
		   (int)(rend - r), r);
	g_string_free(want, TRUE);
	lt_destroy(t, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uid_t peers[] = {0, 1000, 1001, (uid_t)-1};
	struct fuzz_in in = {data, size};
	size_t chunks[MAX_CHUNKS], max_chunk = 0;
	struct ctl_stream how = {0}, whole = {0};
	uint8_t flags = fuzz_u8(&in), lim = fuzz_u8(&in), high = fuzz_u8(&in);
	uid_t uid = peers[flags % 4];
	const char *stream;
	GString *got, *ref;
	size_t longest;

	if (flags & 4) {
		how.max_request = 1 + (size_t)lim;
		how.out_high = 1 + 8 * (size_t)high;
	} else {
		how.max_request = CTL_MAX_REQUEST;
		how.out_high = CTL_OUT_HIGH;
	}
	how.send_max = fuzz_u8(&in);
	how.nchunks = fuzz_u8(&in) % MAX_CHUNKS;
	for (size_t i = 0; i < how.nchunks; i++)
		chunks[i] = fuzz_u8(&in);
	how.chunks = chunks;
	stream = (const char *)in.p;

	for (size_t i = 0; i < how.nchunks; i++)
		max_chunk = MAX(max_chunk, chunks[i] ? chunks[i] : in.left);
	if (!how.nchunks)
		max_chunk = in.left;

	got = feed(uid, stream, in.left, &how);
	longest = check_json_lines(got);
	check_per_line(uid, stream, in.left, how.max_request, got);

	whole.max_request = how.max_request;
	ref = feed(uid, stream, in.left, &whole);
	FUZZ_CHECK(got->len == ref->len && memcmp(got->str, ref->str, got->len) == 0,
		   "answers depend on the reads:\n%s\nin one read:\n%s", got->str,
		   ref->str);

	FUZZ_CHECK(how.in_peak <= how.max_request + max_chunk,
		   "held %zu bytes of input (limit %zu, reads up to %zu)", how.in_peak,
		   how.max_request, max_chunk);
	FUZZ_CHECK(how.out_peak < how.out_high + longest,
		   "held %zu bytes of answers (mark %zu, longest answer %zu)",
		   how.out_peak, how.out_high, longest);

	g_string_free(got, TRUE);
	g_string_free(ref, TRUE);
	return 0;
}
