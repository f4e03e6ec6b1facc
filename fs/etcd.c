// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * etcd.c - etcd v3 through its JSON gateway: libcurl for HTTP, json-glib
 * for the bodies.  See etcd.h.
 *
 * Locking: e->lock protects the handle pool and the index of the endpoint
 * that last answered.  No request is made with it held.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "jsonmember.h"

G_DEFINE_QUARK(pinfs - etcd - error - quark, etcd_error)

struct etcd {
	char **endpoints; /* "http://host:port", no trailing slash */
	guint nendpoints;
	unsigned timeout_ms; /* one attempt */
	unsigned retry_ms;   /* all attempts of one request */
	GMutex lock;
	guint good;   /* endpoint to try first */
	GSList *idle; /* CURL handles not in use */
};

struct etcd_txn {
	JsonBuilder *ops; /* the "success" array being built */
	guint nops;
};

static gsize curl_once;

struct etcd *etcd_new(const char *endpoints, GError **error)
{
	struct etcd *e;
	char **parts;
	GPtrArray *eps;

	if (g_once_init_enter(&curl_once)) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		g_once_init_leave(&curl_once, 1);
	}
	eps = g_ptr_array_new();
	parts = g_strsplit_set(endpoints ? endpoints : "", "+,", -1);
	for (char **p = parts; *p; p++) {
		char *s = g_strstrip(*p);
		size_t n = strlen(s);

		if (!n)
			continue;
		while (n && s[n - 1] == '/')
			s[--n] = '\0';
		if (!g_str_has_prefix(s, "http://") && !g_str_has_prefix(s, "https://"))
			g_ptr_array_add(eps, g_strconcat("http://", s, NULL));
		else
			g_ptr_array_add(eps, g_strdup(s));
	}
	g_strfreev(parts);
	if (!eps->len) {
		g_ptr_array_free(eps, TRUE);
		g_set_error(error, ETCD_ERROR, ETCD_ERROR_PROTOCOL,
			    "etcd: no endpoint given");
		return NULL;
	}
	e = g_new0(struct etcd, 1);
	e->nendpoints = eps->len;
	g_ptr_array_add(eps, NULL);
	e->endpoints = (char **)g_ptr_array_free(eps, FALSE);
	e->timeout_ms = 3000;
	g_mutex_init(&e->lock);
	return e;
}

void etcd_free(struct etcd *e)
{
	if (!e)
		return;
	g_slist_free_full(e->idle, (GDestroyNotify)curl_easy_cleanup);
	g_strfreev(e->endpoints);
	g_mutex_clear(&e->lock);
	g_free(e);
}

void etcd_set_timeout(struct etcd *e, unsigned ms)
{
	e->timeout_ms = ms;
}

void etcd_set_retry(struct etcd *e, unsigned ms)
{
	e->retry_ms = ms;
}

void etcd_kv_clear(struct etcd_kv *kv)
{
	g_free(kv->key);
	g_free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void etcd_kvs_free(GArray *kvs)
{
	if (!kvs)
		return;
	for (guint i = 0; i < kvs->len; i++)
		etcd_kv_clear(&g_array_index(kvs, struct etcd_kv, i));
	g_array_free(kvs, TRUE);
}

static CURL *handle_get(struct etcd *e)
{
	CURL *h = NULL;

	g_mutex_lock(&e->lock);
	if (e->idle) {
		h = e->idle->data;
		e->idle = g_slist_delete_link(e->idle, e->idle);
	}
	g_mutex_unlock(&e->lock);
	if (!h)
		h = curl_easy_init();
	else
		curl_easy_reset(h);
	return h;
}

static void handle_put(struct etcd *e, CURL *h)
{
	g_mutex_lock(&e->lock);
	e->idle = g_slist_prepend(e->idle, h);
	g_mutex_unlock(&e->lock);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	g_string_append_len(arg, data, (gssize)(size * nmemb));
	return size * nmemb;
}

/* The first byte string after every string starting with key. */
static char *prefix_end(const char *key)
{
	size_t n = strlen(key);
	char *end = g_strdup(key);

	while (n) {
		if ((unsigned char)end[n - 1] < 0xff) {
			end[n - 1]++;
			end[n] = '\0';
			return end;
		}
		n--;
	}
	g_free(end);
	return g_strdup("\0"); /* every key: range_end "\0" */
}

static char *b64(const char *s)
{
	return g_base64_encode((const guchar *)s, strlen(s));
}

static int64_t get_i64(JsonObject *o, const char *name)
{
	JsonNode *n;

	if (!o || !json_object_has_member(o, name))
		return 0;
	n = json_object_get_member(o, name);
	if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
		return g_ascii_strtoll(json_node_get_string(n), NULL, 10);
	if (JSON_NODE_HOLDS_VALUE(n))
		return json_node_get_int(n);
	return 0;
}

static char *unb64(JsonObject *o, const char *name, size_t *len)
{
	const char *s = NULL;
	guchar *raw;
	gsize n = 0;

	if (o && json_object_has_member(o, name))
		s = json_object_get_string_member(o, name);
	if (!s) {
		if (len)
			*len = 0;
		return g_strdup("");
	}
	raw = g_base64_decode(s, &n);
	raw = g_realloc(raw, n + 1);
	raw[n] = '\0';
	if (len)
		*len = n;
	return (char *)raw;
}

static void kv_from_json(JsonObject *o, struct etcd_kv *kv)
{
	kv->key = unb64(o, "key", NULL);
	kv->value = unb64(o, "value", &kv->vlen);
	kv->create_rev = get_i64(o, "create_revision");
	kv->mod_rev = get_i64(o, "mod_revision");
	kv->lease = get_i64(o, "lease");
}

static GArray *kvs_from_json(JsonObject *resp)
{
	GArray *kvs = g_array_new(FALSE, TRUE, sizeof(struct etcd_kv));
	JsonArray *a;

	if (resp && json_object_has_member(resp, "kvs")) {
		a = json_object_get_array_member(resp, "kvs");
		for (guint i = 0; a && i < json_array_get_length(a); i++) {
			struct etcd_kv kv = {0};

			kv_from_json(json_array_get_object_element(a, i), &kv);
			g_array_append_val(kvs, kv);
		}
	}
	return kvs;
}

/* A parsed answer, or NULL with error set (etcd's own errors included). */
static JsonNode *parse_answer(const char *body, gssize len, GError **error)
{
	JsonParser *p = json_parser_new();
	JsonNode *root = NULL;
	JsonObject *o;

	if (!json_parser_load_from_data(p, body, len, error))
		goto out;
	root = json_parser_steal_root(p);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error, ETCD_ERROR, ETCD_ERROR_PROTOCOL,
			    "etcd: answer is not an object");
		goto fail;
	}
	o = json_node_get_object(root);
	if (json_object_has_member(o, "error")) {
		JsonNode *err = json_object_get_member(o, "error");
		const char *msg = NULL;
		int64_t code = get_i64(o, "code");

		if (JSON_NODE_HOLDS_VALUE(err)) {
			msg = json_node_get_string(err);
		} else if (JSON_NODE_HOLDS_OBJECT(err)) {
			msg = json_object_get_string_member_with_default(
			    json_node_get_object(err), "message", NULL);
			code = get_i64(json_node_get_object(err), "grpc_code");
		}
		/* gRPC's UNAVAILABLE: this member cannot serve the request
		 * now (no leader, an election, a timeout), another may. */
		g_set_error(error, ETCD_ERROR,
			    code == 14 ? ETCD_ERROR_UNAVAILABLE : ETCD_ERROR_SERVER,
			    "etcd: %s", msg ? msg : "error");
		goto fail;
	}
	goto out;
fail:
	json_node_unref(root);
	root = NULL;
out:
	g_object_unref(p);
	return root;
}

static JsonNode *call_once(struct etcd *e, const char *path, const char *body,
			   bool *retry, GError **error);

/*
 * POST body to path on each endpoint in turn until one answers (an answer
 * with an etcd error counts: another member would say the same, except
 * "unavailable" ones such as "no leader" or a timeout, which are worth
 * asking elsewhere), and round again until retry_ms have passed (a leader
 * election takes a while).
 */
static JsonNode *call(struct etcd *e, const char *path, const char *body, GError **error)
{
	gint64 end = g_get_monotonic_time() + (gint64)e->retry_ms * 1000;
	JsonNode *root;
	bool retry;

	for (;;) {
		root = call_once(e, path, body, &retry, error);
		if (root || !retry || g_get_monotonic_time() >= end)
			return root;
		g_clear_error(error);
		g_usleep(100000);
	}
}

static JsonNode *call_once(struct etcd *e, const char *path, const char *body,
			   bool *retry, GError **error)
{
	GString *out = g_string_new(NULL);
	JsonNode *root = NULL;
	GError *last = NULL;
	guint first;
	CURL *h;

	*retry = true;

	g_mutex_lock(&e->lock);
	first = e->good;
	g_mutex_unlock(&e->lock);
	h = handle_get(e);
	if (!h) {
		g_set_error(error, ETCD_ERROR, ETCD_ERROR_UNREACHABLE, "curl_easy_init");
		goto out;
	}
	for (guint i = 0; i < e->nendpoints && !root; i++) {
		guint k = (first + i) % e->nendpoints;
		char *url = g_strconcat(e->endpoints[k], path, NULL);
		char errbuf[CURL_ERROR_SIZE] = "";
		long status = 0;
		CURLcode rc;

		g_string_truncate(out, 0);
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)e->timeout_ms);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		rc = curl_easy_perform(h);
		g_free(url);
		g_clear_error(&last);
		if (rc != CURLE_OK) {
			g_set_error(&last, ETCD_ERROR, ETCD_ERROR_UNREACHABLE,
				    "etcd %s: %s", e->endpoints[k],
				    errbuf[0] ? errbuf : curl_easy_strerror(rc));
			continue;
		}
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		root = parse_answer(out->str, (gssize)out->len, &last);
		if (!root && status / 100 == 2 && last && last->domain != ETCD_ERROR)
			continue;
		if (!root && g_error_matches(last, ETCD_ERROR, ETCD_ERROR_UNAVAILABLE))
			continue;
		if (!root && last && strstr(last->message, "leader"))
			continue;
		if (!root && last && strstr(last->message, "timed out"))
			continue;
		g_mutex_lock(&e->lock);
		e->good = k;
		g_mutex_unlock(&e->lock);
		if (!root) {
			*retry = false; /* etcd's own answer */
			break;
		}
	}
	handle_put(e, h);
	if (!root)
		g_propagate_error(error, last);
	else
		g_clear_error(&last);
out:
	g_string_free(out, TRUE);
	return root;
}

static void add_i64(JsonBuilder *b, const char *name, int64_t v)
{
	char buf[32];

	g_snprintf(buf, sizeof(buf), "%" G_GINT64_FORMAT, v);
	json_member_str(b, name, buf);
}

static void add_b64(JsonBuilder *b, const char *name, const char *s)
{
	char *enc = b64(s);

	json_member_str(b, name, enc);
	g_free(enc);
}

/* Add "key" and, for a prefix, "range_end" to the open object. */
static void add_key(JsonBuilder *b, const char *key, bool prefix)
{
	add_b64(b, "key", key);
	if (prefix) {
		char *end = prefix_end(key);

		add_b64(b, "range_end", end);
		g_free(end);
	}
}

/* POST {"NAME": "V"} (etcd's JSON gateway wants 64-bit numbers as strings). */
static JsonNode *call_i64(struct etcd *e, const char *path, const char *name, int64_t v,
			  GError **error)
{
	char body[96];

	g_snprintf(body, sizeof(body), "{\"%s\":\"%" G_GINT64_FORMAT "\"}", name, v);
	return call(e, path, body, error);
}

int etcd_lease_grant(struct etcd *e, int64_t ttl, int64_t *id, GError **error)
{
	JsonNode *root;

	root = call_i64(e, "/v3/lease/grant", "TTL", ttl, error);
	if (!root)
		return -1;
	*id = get_i64(json_node_get_object(root), "ID");
	json_node_unref(root);
	if (!*id) {
		g_set_error(error, ETCD_ERROR, ETCD_ERROR_PROTOCOL,
			    "etcd: lease without ID");
		return -1;
	}
	return 0;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_left, GError **error)
{
	JsonNode *root;
	JsonObject *o;

	root = call_i64(e, "/v3/lease/keepalive", "ID", id, error);
	if (!root)
		return -1;
	o = json_node_get_object(root);
	if (json_object_has_member(o, "result"))
		o = json_object_get_object_member(o, "result");
	*ttl_left = get_i64(o, "TTL");
	json_node_unref(root);
	return 0;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, GError **error)
{
	JsonNode *root;

	root = call_i64(e, "/v3/lease/revoke", "ID", id, error);
	if (!root)
		return -1;
	json_node_unref(root);
	return 0;
}

struct etcd_txn *etcd_txn_new(void)
{
	struct etcd_txn *t = g_new0(struct etcd_txn, 1);

	t->ops = json_builder_new();
	json_builder_begin_object(t->ops);
	json_builder_set_member_name(t->ops, "success");
	json_builder_begin_array(t->ops);
	return t;
}

void etcd_txn_free(struct etcd_txn *t)
{
	if (!t)
		return;
	g_object_unref(t->ops);
	g_free(t);
}

/* Open one request of the transaction: {"OP": {"key": ..., and close it
 * with txn_op_end once its other members are in. */
static void txn_op_begin(struct etcd_txn *t, const char *op, const char *key, bool prefix)
{
	json_builder_begin_object(t->ops);
	json_builder_set_member_name(t->ops, op);
	json_builder_begin_object(t->ops);
	add_key(t->ops, key, prefix);
}

static void txn_op_end(struct etcd_txn *t)
{
	json_builder_end_object(t->ops);
	json_builder_end_object(t->ops);
	t->nops++;
}

void etcd_txn_put(struct etcd_txn *t, const char *key, const char *value, int64_t lease)
{
	txn_op_begin(t, "requestPut", key, false);
	add_b64(t->ops, "value", value);
	if (lease)
		add_i64(t->ops, "lease", lease);
	txn_op_end(t);
}

void etcd_txn_delete(struct etcd_txn *t, const char *key, bool prefix)
{
	txn_op_begin(t, "requestDeleteRange", key, prefix);
	txn_op_end(t);
}

void etcd_txn_range(struct etcd_txn *t, const char *key, bool prefix)
{
	txn_op_begin(t, "requestRange", key, prefix);
	txn_op_end(t);
}

int etcd_txn_run(struct etcd *e, struct etcd_txn *t, int64_t *rev, GPtrArray **ranges,
		 GError **error)
{
	JsonNode *root;
	JsonObject *o;
	JsonArray *resps;
	char *body;
	int ret = -1;

	json_builder_end_array(t->ops);
	json_builder_end_object(t->ops);
	body = json_text_of(t->ops, NULL);
	etcd_txn_free(t);
	root = call(e, "/v3/kv/txn", body, error);
	g_free(body);
	if (!root)
		return -1;
	o = json_node_get_object(root);
	if (rev)
		*rev = get_i64(json_object_get_object_member(o, "header"), "revision");
	if (ranges) {
		*ranges = g_ptr_array_new_with_free_func((GDestroyNotify)etcd_kvs_free);
		resps = json_object_has_member(o, "responses")
			    ? json_object_get_array_member(o, "responses")
			    : NULL;
		for (guint i = 0; resps && i < json_array_get_length(resps); i++) {
			JsonObject *r = json_array_get_object_element(resps, i);

			if (r && json_object_has_member(r, "response_range"))
				g_ptr_array_add(
				    *ranges, kvs_from_json(json_object_get_object_member(
						 r, "response_range")));
		}
	}
	ret = 0;
	json_node_unref(root);
	return ret;
}

int etcd_put(struct etcd *e, const char *key, const char *value, int64_t lease,
	     GError **error)
{
	struct etcd_txn *t = etcd_txn_new();

	etcd_txn_put(t, key, value, lease);
	return etcd_txn_run(e, t, NULL, NULL, error);
}

int etcd_delete(struct etcd *e, const char *key, bool prefix, GError **error)
{
	struct etcd_txn *t = etcd_txn_new();

	etcd_txn_delete(t, key, prefix);
	return etcd_txn_run(e, t, NULL, NULL, error);
}

int etcd_range(struct etcd *e, const char *key, bool prefix, int64_t *rev, GArray **kvs,
	       GError **error)
{
	struct etcd_txn *t = etcd_txn_new();
	GPtrArray *ranges = NULL;

	etcd_txn_range(t, key, prefix);
	if (etcd_txn_run(e, t, rev, &ranges, error) < 0)
		return -1;
	if (ranges->len) {
		*kvs = g_ptr_array_steal_index(ranges, 0);
	} else {
		*kvs = g_array_new(FALSE, TRUE, sizeof(struct etcd_kv));
	}
	g_ptr_array_free(ranges, TRUE);
	return 0;
}

/* ---- watch ---- */

struct watch_state {
	const struct etcd_watch_cb *cb;
	GString *buf;
	volatile bool *stop;
	bool *compacted;
	GError *error;
};

/* One message of the stream: {"result": {header, events, ...}}. */
static void watch_message(struct watch_state *w, const char *line, size_t len)
{
	JsonNode *root;
	JsonObject *r;
	JsonArray *evs;
	GError *err = NULL;
	int64_t rev = 0;
	bool created;

	root = parse_answer(line, (gssize)len, &err);
	if (!root) {
		if (!w->error)
			w->error = err;
		else
			g_error_free(err);
		return;
	}
	r = json_object_get_object_member(json_node_get_object(root), "result");
	if (!r)
		goto out;
	if (get_i64(r, "compact_revision") > 0) {
		*w->compacted = true;
		if (!w->error)
			g_set_error(&w->error, ETCD_ERROR, ETCD_ERROR_SERVER,
				    "etcd: watch revision compacted");
		goto out;
	}
	if (json_object_get_boolean_member_with_default(r, "canceled", FALSE)) {
		if (!w->error)
			g_set_error(&w->error, ETCD_ERROR, ETCD_ERROR_SERVER,
				    "etcd: watch canceled: %s",
				    json_object_get_string_member_with_default(
					r, "cancel_reason", "?"));
		goto out;
	}
	created = json_object_get_boolean_member_with_default(r, "created", FALSE);
	evs = json_object_has_member(r, "events")
		  ? json_object_get_array_member(r, "events")
		  : NULL;
	for (guint i = 0; evs && i < json_array_get_length(evs); i++) {
		JsonObject *ev = json_array_get_object_element(evs, i);
		const char *type =
		    json_object_get_string_member_with_default(ev, "type", "PUT");
		struct etcd_kv kv = {0};

		kv_from_json(json_object_get_object_member(ev, "kv"), &kv);
		if (kv.mod_rev > rev)
			rev = kv.mod_rev;
		w->cb->event(w->cb->arg, strcmp(type, "DELETE") != 0, &kv);
		etcd_kv_clear(&kv);
	}
	/*
	 * How far the watch has come: the last event's revision.  Not the
	 * header's: on creation (and in a catch-up split over messages) it is
	 * the store's revision, ahead of events still to come.  A message
	 * with neither events nor "created" is a progress report: there the
	 * header's revision holds.
	 */
	if (!evs && !created)
		rev = get_i64(json_object_get_object_member(r, "header"), "revision");
	w->cb->batch_done(w->cb->arg, rev);
out:
	json_node_unref(root);
}

static size_t on_watch_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct watch_state *w = arg;
	char *nl;

	g_string_append_len(w->buf, data, (gssize)(size * nmemb));
	while ((nl = memchr(w->buf->str, '\n', w->buf->len))) {
		size_t n = (size_t)(nl - w->buf->str);

		if (n)
			watch_message(w, w->buf->str, n);
		g_string_erase(w->buf, 0, (gssize)n + 1);
	}
	if (w->error || *w->stop)
		return 0; /* ends the transfer */
	return size * nmemb;
}

static int on_watch_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
			     curl_off_t d)
{
	struct watch_state *w = arg;

	(void)a, (void)b, (void)c, (void)d;
	return *w->stop ? 1 : 0;
}

int etcd_watch(struct etcd *e, const char *prefix, int64_t start_rev,
	       const struct etcd_watch_cb *cb, volatile bool *stop, bool *compacted,
	       GError **error)
{
	struct watch_state w = {.cb = cb, .stop = stop, .compacted = compacted};
	JsonBuilder *b = json_builder_new();
	char errbuf[CURL_ERROR_SIZE] = "";
	char *body, *url;
	guint k;
	CURL *h;
	CURLcode rc;

	*compacted = false;
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "create_request");
	json_builder_begin_object(b);
	add_key(b, prefix, true);
	add_i64(b, "start_revision", start_rev);
	json_member_bool(b, "progress_notify", TRUE);
	json_builder_end_object(b);
	json_builder_end_object(b);
	body = json_text_of(b, NULL);
	g_object_unref(b);

	g_mutex_lock(&e->lock);
	k = e->good;
	g_mutex_unlock(&e->lock);
	url = g_strconcat(e->endpoints[k], "/v3/watch", NULL);
	w.buf = g_string_new(NULL);
	h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_watch_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_watch_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &w);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)e->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	/* TCP keep-alive notices a member that vanished without a word. */
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 2L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 1L);
	rc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	g_free(url);
	g_free(body);
	g_string_free(w.buf, TRUE);

	/* Next time, try the next endpoint: this one let us down. */
	g_mutex_lock(&e->lock);
	if (e->good == k)
		e->good = (k + 1) % e->nendpoints;
	g_mutex_unlock(&e->lock);
	if (*stop) {
		g_clear_error(&w.error);
		g_set_error(error, ETCD_ERROR, ETCD_ERROR_CANCELLED,
			    "etcd: watch stopped");
	} else if (w.error) {
		g_propagate_error(error, w.error);
	} else {
		g_set_error(error, ETCD_ERROR, ETCD_ERROR_UNREACHABLE,
			    "etcd %s: watch: %s", e->endpoints[k],
			    rc == CURLE_OK
				? "stream ended"
				: (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
	}
	return -1;
}
