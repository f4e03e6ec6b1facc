// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl.c - the control channel's transport: a unix stream socket served
 * from the daemon's GLib event thread, its framing (one line per request)
 * and its limits.  ctlproto.c answers each line; docs/control.md has the
 * protocol.
 *
 * Every connection is a small state machine driven by one GSocket source:
 * while responses are waiting to be sent it watches G_IO_OUT, otherwise
 * G_IO_IN.  A client that does not read its answers therefore stops being
 * read, which bounds the memory one client can make us hold to one request
 * line (CTL_MAX_REQUEST) plus the responses already produced.
 *
 * Locking: struct ctl_server and its clients are only touched from the
 * thread iterating s->mc (ctl_start runs before any source is attached,
 * ctl_stop tears down there, see ctl_stop).
 */
#ifndef G_LOG_DOMAIN
#define G_LOG_DOMAIN "pinfs"
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

#include "ctlproto.h"

struct ctl_server {
	GMainContext *mc;
	struct ctl_proto proto; /* what answers each request line */

	char *path;
	dev_t sock_dev; /* the socket file we bound, so that ctl_stop */
	ino_t sock_ino; /* removes only our own */

	GSocket *listener;
	GSource *listen_src;
	GList *clients; /* struct ctl_client */
	unsigned nclients;

	gsize max_request; /* CTL_MAX_REQUEST, but for ctl_feed_stream */
	gsize out_high;	   /* CTL_OUT_HIGH, but for ctl_feed_stream */
	gsize in_peak;	   /* the most bytes one client's in held (after a */
	gsize out_peak;	   /* read) and its out (after answering) */
};

struct ctl_client {
	struct ctl_server *s;
	GSocket *sock;
	GSource *io_src; /* watches io_cond on sock */
	GIOCondition io_cond;
	GSource *idle_src;  /* drops the client after CTL_IDLE_TIMEOUT_S */
	gint64 last_active; /* g_get_monotonic_time() of the last byte moved */

	uid_t uid; /* SO_PEERCRED at connect time; (uid_t)-1 if unknown */
	pid_t pid;

	/*
	 * Input, framed by client_handle_input.  in starts at the beginning
	 * of a line.  Its first scanned bytes hold no newline (so that a
	 * line arriving byte by byte is scanned once, not once a byte).
	 */
	GByteArray *in; /* received, not yet answered */
	gsize scanned;
	bool discarding; /* dropping the rest of an oversized line */
	bool eof;	 /* the peer shut down its sending side */
	GString *out;	 /* responses not yet sent, from out_off on */
	gsize out_off;

	/* An in-memory peer (ctl_feed_stream) in place of sock: sent bytes
	 * go to sink, at most sink_max (0: any number) per flush. */
	GString *sink;
	gsize sink_max;
};

static gboolean client_io(GSocket *sock, GIOCondition cond, gpointer data);

/* ---- Connections ---- */

/*
 * Framing (docs/control.md): a line is the bytes before a '\n'; at end of
 * input, bytes after the last '\n' are a line too.  A line of at most
 * max_request bytes is one request.  A longer one is answered EMSGSIZE
 * once, whether it arrives in one read or in many, and is dropped.
 */

static gsize out_pending(struct ctl_client *c)
{
	return c->out->len - c->out_off;
}

static void reply_too_long(struct ctl_client *c)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "request longer than %" G_GSIZE_FORMAT " bytes",
		 c->s->max_request);
	ctl_proto_error(c->out, EMSGSIZE, msg);
}

/* The server's own settings; ctl_start and ctl_feed_stream fill in the
 * rest. */
static void server_init(struct ctl_server *s, struct lease_table *t,
			const struct lt_clock *clock, const struct ctl_hooks *hooks,
			void *hook_ctx)
{
	ctl_proto_init(&s->proto, t, clock, hooks, hook_ctx);
	s->max_request = CTL_MAX_REQUEST;
	s->out_high = CTL_OUT_HIGH;
}

/* One line, without its newline: a request, or the end of an overlong
 * line that is being dropped. */
static void take_line(struct ctl_client *c, const char *line, gsize len)
{
	if (c->discarding)
		c->discarding = false;
	else if (len > c->s->max_request)
		reply_too_long(c);
	else
		ctl_proto_answer(&c->s->proto, c->uid, c->pid, line, len, c->out);
}

/*
 * Answer the complete lines in c->in while the answers waiting to be sent
 * stay under out_high.  Once c->in is known to hold no newline: drop it
 * if it is the rest of an overlong line, or if it is already longer than
 * a request may be (answering EMSGSIZE then, once); at EOF answer it as
 * the last line.
 *
 * So once this ran with nothing pending to send, c->in is at most
 * max_request bytes of one partial request (or empty at EOF).
 */
static void client_handle_input(struct ctl_client *c)
{
	struct ctl_server *s = c->s;
	gsize done = 0; /* bytes of c->in taken */

	while (out_pending(c) < s->out_high && c->scanned < c->in->len - done) {
		const char *line = (const char *)c->in->data + done;
		gsize avail = c->in->len - done;
		const char *nl = memchr(line + c->scanned, '\n', avail - c->scanned);

		if (!nl) {
			c->scanned = avail;
			break;
		}
		take_line(c, line, nl - line);
		done += nl - line + 1;
		c->scanned = 0;
	}
	g_byte_array_remove_range(c->in, 0, done);

	if (c->scanned < c->in->len)
		return; /* stopped by out_high before looking */
	if (c->discarding || c->in->len > s->max_request) {
		if (!c->discarding)
			reply_too_long(c);
		c->discarding = true;
		g_byte_array_set_size(c->in, 0);
		c->scanned = 0;
	}
	if (c->eof && c->in->len && out_pending(c) < s->out_high) {
		take_line(c, (const char *)c->in->data, c->in->len);
		g_byte_array_set_size(c->in, 0);
		c->scanned = 0;
	}
}

/* n bytes arrived from the peer; none: it shut down its sending side. */
static void client_received(struct ctl_client *c, const void *buf, gsize n)
{
	if (!n) {
		c->eof = true;
		return;
	}
	g_byte_array_append(c->in, buf, n);
	c->last_active = g_get_monotonic_time();
	if (c->in->len > c->s->in_peak)
		c->s->in_peak = c->in->len;
}

/* Send what we can without blocking.  false: the connection is broken. */
static bool client_flush(struct ctl_client *c)
{
	gsize budget = c->sink_max ? c->sink_max : G_MAXSIZE;

	while (out_pending(c)) {
		gssize n;

		if (c->sink) {
			if (!budget)
				return true; /* the peer reads the rest later */
			n = MIN(out_pending(c), budget);
			g_string_append_len(c->sink, c->out->str + c->out_off, n);
			budget -= n;
		} else {
			GError *err = NULL;

			n = g_socket_send_with_blocking(c->sock, c->out->str + c->out_off,
							out_pending(c), FALSE, NULL,
							&err);
			if (n < 0) {
				bool again = g_error_matches(err, G_IO_ERROR,
							     G_IO_ERROR_WOULD_BLOCK);

				g_error_free(err);
				return again;
			}
		}
		c->out_off += n;
		c->last_active = g_get_monotonic_time();
	}
	g_string_truncate(c->out, 0);
	c->out_off = 0;
	return true;
}

/* Whether client_handle_input has more to do with c->in. */
static bool input_waiting(struct ctl_client *c)
{
	return c->in->len && (c->eof || c->scanned < c->in->len);
}

/*
 * Answer and send until we wait on the peer: for it to read our answers,
 * or to send more.  Reading is the caller's, and only while nothing is
 * pending (out_pending): that, with client_handle_input, bounds what a
 * connection holds.  false: the connection is over, broken or done.
 */
static bool client_pump(struct ctl_client *c)
{
	for (;;) {
		client_handle_input(c);
		if (out_pending(c) > c->s->out_peak)
			c->s->out_peak = out_pending(c);
		if (!client_flush(c))
			return false;
		if (out_pending(c))
			return true; /* the peer must read first */
		if (!input_waiting(c))
			break;
	}
	return !c->eof; /* at EOF: all answered and sent */
}

/*
 * The socket's event loop, in memory: the peer reads whenever answers are
 * waiting (as G_IO_OUT would fire), and only then is there something new
 * to read (as G_IO_IN).
 */
void ctl_feed_stream(struct lease_table *t, const struct lt_clock *clock,
		     const struct ctl_hooks *hooks, void *hook_ctx, uid_t peer_uid,
		     const char *data, size_t len, struct ctl_stream *how,
		     GString *replies)
{
	struct ctl_server s = {0};
	struct ctl_client c = {0};
	size_t off = 0, k = 0;
	bool live = true;

	server_init(&s, t, clock, hooks, hook_ctx);
	if (how->max_request)
		s.max_request = how->max_request;
	if (how->out_high)
		s.out_high = how->out_high;
	c.s = &s;
	c.uid = peer_uid;
	c.pid = -1;
	c.in = g_byte_array_new();
	c.out = g_string_new(NULL);
	c.sink = replies;
	c.sink_max = how->send_max;

	while (live) {
		size_t n = len - off;

		if (!out_pending(&c)) {
			if (how->nchunks && how->chunks[k] && how->chunks[k] < n)
				n = how->chunks[k];
			if (how->nchunks)
				k = (k + 1) % how->nchunks;
			client_received(&c, n ? data + off : NULL, n); /* 0: EOF */
			off += n;
		}
		live = client_pump(&c);
	}
	how->in_peak = s.in_peak;
	how->out_peak = s.out_peak;
	g_byte_array_unref(c.in);
	g_string_free(c.out, TRUE);
}

static void client_free(struct ctl_client *c)
{
	struct ctl_server *s = c->s;

	s->clients = g_list_remove(s->clients, c);
	s->nclients--;
	if (c->io_src) {
		g_source_destroy(c->io_src);
		g_source_unref(c->io_src);
	}
	g_source_destroy(c->idle_src);
	g_source_unref(c->idle_src);
	g_socket_close(c->sock, NULL);
	g_object_unref(c->sock);
	g_byte_array_unref(c->in);
	g_string_free(c->out, TRUE);
	g_free(c);
}

/* Watch for what the connection waits on next: sending or reading. */
static void client_watch(struct ctl_client *c)
{
	GIOCondition want = out_pending(c) ? G_IO_OUT : G_IO_IN;

	if (c->io_src && c->io_cond == want)
		return;
	if (c->io_src) {
		g_source_destroy(c->io_src);
		g_source_unref(c->io_src);
	}
	c->io_cond = want;
	c->io_src = g_socket_create_source(c->sock, want, NULL);
	g_source_set_callback(c->io_src, G_SOURCE_FUNC(client_io), c, NULL);
	g_source_attach(c->io_src, c->s->mc);
}

/*
 * Drive the connection: read if we are reading, answer, send.  Frees c
 * and returns false when the connection is over.
 */
static bool client_step(struct ctl_client *c, bool readable)
{
	if (readable && !c->eof && !out_pending(c)) {
		guint8 buf[CTL_READ_CHUNK];
		GError *err = NULL;
		gssize n = g_socket_receive_with_blocking(c->sock, (gchar *)buf,
							  sizeof(buf), FALSE, NULL, &err);

		if (n >= 0) {
			client_received(c, buf, n);
		} else {
			bool again =
			    g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);

			g_error_free(err);
			if (!again)
				goto gone;
		}
	}
	if (!client_pump(c))
		goto gone;
	client_watch(c);
	return true;
gone:
	client_free(c);
	return false;
}

static gboolean client_io(GSocket *sock, GIOCondition cond, gpointer data)
{
	struct ctl_client *c = data;

	(void)sock;
	if (!client_step(c, cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
		return G_SOURCE_REMOVE;
	/* client_watch may have replaced the source this call came from */
	return c->io_src == g_main_current_source() ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean client_idle(gpointer data)
{
	struct ctl_client *c = data;
	gint64 idle = g_get_monotonic_time() - c->last_active;

	if (idle < (gint64)CTL_IDLE_TIMEOUT_S * G_USEC_PER_SEC)
		return G_SOURCE_CONTINUE;
	g_debug("ctl: dropping client pid %d after %d s of silence", (int)c->pid,
		CTL_IDLE_TIMEOUT_S);
	client_free(c);
	return G_SOURCE_REMOVE;
}

/* Tell a client we cannot serve it, without waiting for it, and close. */
static void refuse_client(GSocket *sock, int err, const char *msg)
{
	char *line =
	    g_strdup_printf("{\"ok\":false,\"errno\":%d,\"error\":\"%s\"}\n", err, msg);

	g_socket_set_blocking(sock, FALSE);
	g_socket_send(sock, line, strlen(line), NULL, NULL);
	g_socket_close(sock, NULL);
	g_free(line);
}

/*
 * May another connection of uid be served?  CTL_MAX_CLIENTS in all; one
 * uid other than root at most CTL_MAX_USER_CLIENTS of them, and all such
 * users together leave CTL_ROOT_CLIENTS for root, so that no user can
 * keep the administrator out (pinfsctl revoke).
 */
static bool client_slot_free(struct ctl_server *s, uid_t uid)
{
	unsigned mine = 0, users = 0;

	if (s->nclients >= CTL_MAX_CLIENTS)
		return false;
	if (uid == 0)
		return true;
	for (GList *l = s->clients; l; l = l->next) {
		struct ctl_client *o = l->data;

		users += o->uid != 0;
		mine += o->uid == uid;
	}
	return mine < CTL_MAX_USER_CLIENTS && users < CTL_MAX_CLIENTS - CTL_ROOT_CLIENTS;
}

static gboolean on_accept(GSocket *listener, GIOCondition cond, gpointer data)
{
	struct ctl_server *s = data;
	GCredentials *cred;
	struct ctl_client *c;
	GError *err = NULL;
	GSocket *sock;

	(void)cond;
	sock = g_socket_accept(listener, NULL, &err);
	if (!sock) {
		if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			g_warning("ctl: accept on %s: %s", s->path, err->message);
		g_error_free(err);
		return G_SOURCE_CONTINUE;
	}
	c = g_new0(struct ctl_client, 1);
	c->s = s;
	c->sock = sock;
	c->uid = (uid_t)-1;
	c->pid = -1;
	cred = g_socket_get_credentials(sock, NULL);
	if (cred) {
		c->uid = g_credentials_get_unix_user(cred, NULL);
		c->pid = g_credentials_get_unix_pid(cred, NULL);
		g_object_unref(cred);
	}
	if (!client_slot_free(s, c->uid)) {
		refuse_client(sock, EBUSY, "too many control connections");
		g_object_unref(sock);
		g_free(c);
		return G_SOURCE_CONTINUE;
	}
	g_socket_set_blocking(sock, FALSE);
	c->in = g_byte_array_new();
	c->out = g_string_new(NULL);
	c->last_active = g_get_monotonic_time();
	c->idle_src = g_timeout_source_new_seconds(CTL_IDLE_TIMEOUT_S);
	g_source_set_callback(c->idle_src, client_idle, c, NULL);
	g_source_attach(c->idle_src, s->mc);
	s->clients = g_list_prepend(s->clients, c);
	s->nclients++;
	client_watch(c);
	return G_SOURCE_CONTINUE;
}

/* ---- Start and stop ---- */

static void set_errno_error(GError **error, int err, const char *fmt, const char *arg)
{
	char *what = g_strdup_printf(fmt, arg);

	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "%s: %s", what,
		    g_strerror(err));
	g_free(what);
}

/*
 * Make sure the socket's directory exists and that nobody but us (or root)
 * can swap the socket in it.
 */
static bool prepare_dir(const char *dir, GError **error)
{
	mode_t mode = geteuid() == 0 ? 0755 : 0700;
	bool created = false;
	struct stat st;

	if (stat(dir, &st) < 0) {
		if (errno != ENOENT || g_mkdir_with_parents(dir, mode) < 0) {
			set_errno_error(error, errno, "control socket directory %s", dir);
			return false;
		}
		created = true;
		if (stat(dir, &st) < 0) {
			set_errno_error(error, errno, "control socket directory %s", dir);
			return false;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		set_errno_error(error, ENOTDIR, "control socket directory %s", dir);
		return false;
	}
	if (created && chmod(dir, mode) < 0) { /* whatever the umask was */
		set_errno_error(error, errno, "control socket directory %s", dir);
		return false;
	}
	if ((st.st_uid != geteuid() && st.st_uid != 0) ||
	    ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "control socket directory %s is writable by others", dir);
		return false;
	}
	return true;
}

/*
 * Remove a socket file left behind by a daemon that died.  A socket that
 * still answers belongs to a live daemon; anything but a socket is not
 * ours to remove.
 */
static bool remove_stale(const char *path, GSocketAddress *addr, GError **error)
{
	GError *err = NULL;
	struct stat st;
	GSocket *probe;
	bool live;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return true;
		set_errno_error(error, errno, "control socket %s", path);
		return false;
	}
	if (!S_ISSOCK(st.st_mode)) {
		set_errno_error(error, EEXIST, "%s exists and is not a socket", path);
		return false;
	}
	probe = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
			     G_SOCKET_PROTOCOL_DEFAULT, error);
	if (!probe)
		return false;
	g_socket_set_blocking(probe, FALSE);
	live = g_socket_connect(probe, addr, NULL, &err) ||
	       g_error_matches(err, G_IO_ERROR, G_IO_ERROR_PENDING) ||
	       g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
	g_clear_error(&err);
	g_socket_close(probe, NULL);
	g_object_unref(probe);
	if (live) {
		set_errno_error(error, EADDRINUSE, "another daemon is serving %s", path);
		return false;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		set_errno_error(error, errno, "removing stale control socket %s", path);
		return false;
	}
	g_debug("ctl: removed stale control socket %s", path);
	return true;
}

bool ctl_take_over(const char *socket_path, GError **error)
{
	struct stat st;

	if (lstat(socket_path, &st) < 0) {
		if (errno == ENOENT)
			return true;
		set_errno_error(error, errno, "control socket %s", socket_path);
		return false;
	}
	if (!S_ISSOCK(st.st_mode)) {
		set_errno_error(error, EEXIST, "%s exists and is not a socket",
				socket_path);
		return false;
	}
	if (unlink(socket_path) < 0 && errno != ENOENT) {
		set_errno_error(error, errno, "control socket %s", socket_path);
		return false;
	}
	return true;
}

struct ctl_server *ctl_start(GMainContext *mc, struct lease_table *t,
			     const char *socket_path, const struct lt_clock *clock,
			     const struct ctl_hooks *hooks, void *hook_ctx,
			     GError **error)
{
	struct sockaddr_un sun;
	GSocketAddress *addr = NULL;
	struct ctl_server *s;
	struct stat st;
	char *dir;

	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		set_errno_error(error, ENAMETOOLONG, "control socket %s", socket_path);
		return NULL;
	}
	s = g_new0(struct ctl_server, 1);
	server_init(s, t, clock, hooks, hook_ctx);
	s->mc = g_main_context_ref(mc);
	s->path = g_strdup(socket_path);

	dir = g_path_get_dirname(socket_path);
	if (!prepare_dir(dir, error))
		goto fail;
	addr = g_unix_socket_address_new(socket_path);
	if (!remove_stale(socket_path, addr, error))
		goto fail;

	s->listener = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
				   G_SOCKET_PROTOCOL_DEFAULT, error);
	if (!s->listener)
		goto fail;
	if (!g_socket_bind(s->listener, addr, FALSE, error))
		goto fail;
	/* Anyone may list: the socket is world-writable, the commands check. */
	if (chmod(socket_path, 0666) < 0 || lstat(socket_path, &st) < 0) {
		set_errno_error(error, errno, "control socket %s", socket_path);
		unlink(socket_path);
		goto fail;
	}
	s->sock_dev = st.st_dev;
	s->sock_ino = st.st_ino;
	g_socket_set_listen_backlog(s->listener, CTL_MAX_CLIENTS);
	if (!g_socket_listen(s->listener, error)) {
		unlink(socket_path);
		goto fail;
	}
	g_socket_set_blocking(s->listener, FALSE);

	s->listen_src = g_socket_create_source(s->listener, G_IO_IN, NULL);
	g_source_set_callback(s->listen_src, G_SOURCE_FUNC(on_accept), s, NULL);
	g_source_attach(s->listen_src, mc);
	g_object_unref(addr);
	g_free(dir);
	return s;
fail:
	if (s->listener)
		g_object_unref(s->listener);
	g_clear_object(&addr);
	g_free(dir);
	g_free(s->path);
	g_main_context_unref(s->mc);
	g_free(s);
	return NULL;
}

/* Close everything; runs where the sources are dispatched (ctl_stop). */
static void teardown(struct ctl_server *s, void *unused)
{
	struct stat st;

	(void)unused;
	g_source_destroy(s->listen_src);
	g_source_unref(s->listen_src);
	s->listen_src = NULL;
	while (s->clients)
		client_free(s->clients->data);
	g_socket_close(s->listener, NULL);
	if (lstat(s->path, &st) == 0 && st.st_dev == s->sock_dev &&
	    st.st_ino == s->sock_ino)
		unlink(s->path);
}

struct ctx_call {
	struct ctl_server *s;
	void (*fn)(struct ctl_server *s, void *arg);
	void *arg;
	GMutex lock;
	GCond cond;
	bool done; /* under lock */
};

static gboolean call_in_context(gpointer data)
{
	struct ctx_call *call = data;

	call->fn(call->s, call->arg);
	g_mutex_lock(&call->lock);
	call->done = true;
	g_cond_signal(&call->cond);
	g_mutex_unlock(&call->lock);
	return G_SOURCE_REMOVE;
}

/*
 * Run fn(s, arg) where s's sources are dispatched, and wait for it: here
 * if this thread iterates s->mc or nobody does, else on the thread that
 * does, between dispatches.
 */
static void run_in_context(struct ctl_server *s,
			   void (*fn)(struct ctl_server *s, void *arg), void *arg)
{
	struct ctx_call call = {.s = s, .fn = fn, .arg = arg};
	GSource *src;

	if (g_main_context_acquire(s->mc)) {
		/* Our thread, or nobody iterates mc: no callback can run. */
		fn(s, arg);
		g_main_context_release(s->mc);
		return;
	}
	g_mutex_init(&call.lock);
	g_cond_init(&call.cond);
	src = g_idle_source_new();
	g_source_set_priority(src, G_PRIORITY_HIGH);
	g_source_set_callback(src, call_in_context, &call, NULL);
	g_source_attach(src, s->mc);
	g_source_unref(src);
	g_mutex_lock(&call.lock);
	while (!call.done)
		g_cond_wait(&call.cond, &call.lock);
	g_mutex_unlock(&call.lock);
	g_mutex_clear(&call.lock);
	g_cond_clear(&call.cond);
}

void ctl_stop(struct ctl_server *s)
{
	if (!s)
		return;
	run_in_context(s, teardown, NULL);
	g_object_unref(s->listener);
	g_main_context_unref(s->mc);
	g_free(s->path);
	g_free(s);
}

static void usage(struct ctl_server *s, void *arg)
{
	struct ctl_usage *u = arg;
	GList *l;

	memset(u, 0, sizeof(*u));
	for (l = s->clients; l; l = l->next) {
		struct ctl_client *c = l->data;

		u->clients++;
		u->in_bytes += c->in->len;
		u->out_bytes += out_pending(c);
	}
	u->in_peak = s->in_peak;
	u->out_peak = s->out_peak;
}

void ctl_get_usage(struct ctl_server *s, struct ctl_usage *u)
{
	run_in_context(s, usage, u);
}
