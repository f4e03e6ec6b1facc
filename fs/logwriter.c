// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * logwriter.c - the daemon's GLib log writer.
 *
 * A lease break logs a line right after it signals the holder, on the
 * worker that served the breaking request.  GLib's default writer probes
 * the terminal (an ioctl), checks the time zone file (a stat) and converts
 * the text for every line: about 15 us, longer than a FUSE round trip,
 * while the holder it has just woken may be waiting for this CPU.  So the
 * common case, a printable ASCII line of a domain that is not dropped,
 * going to a file or pipe without colours, is formatted here as GLib
 * formats it ("pinfs-Message: 12:34:56.789: text") and written with one
 * write().  Everything else (the journal, a terminal, warnings and worse,
 * which may be fatal) goes to GLib's default writer unchanged.
 */
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logwriter.h"

/* Decided once at install: whether GLib would colour or send to the
 * journal the lines of stderr (message) and stdout (info, debug). */
static bool plain_out, plain_err;

/* The level's name as GLib prints it, and its stream; NULL: not ours. */
static const char *cheap_level(GLogLevelFlags level, int *fd)
{
	switch (level & G_LOG_LEVEL_MASK) {
	case G_LOG_LEVEL_MESSAGE:
		*fd = STDERR_FILENO;
		return plain_err ? "Message" : NULL;
	case G_LOG_LEVEL_INFO:
		*fd = STDOUT_FILENO;
		return plain_out ? "INFO" : NULL;
	case G_LOG_LEVEL_DEBUG:
		*fd = STDOUT_FILENO;
		return plain_out ? "DEBUG" : NULL;
	default:
		return NULL;
	}
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e)
			return false;
	}
	return true;
}

static GLogWriterOutput write_log(GLogLevelFlags level, const GLogField *fields,
				  gsize n_fields, gpointer data)
{
	const char *domain = NULL, *message = NULL, *name;
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int fd, len;

	for (gsize i = 0; i < n_fields; i++) {
		if (fields[i].length >= 0)
			continue; /* not a string: GLib's */
		if (!strcmp(fields[i].key, "GLIB_DOMAIN"))
			domain = fields[i].value;
		else if (!strcmp(fields[i].key, "MESSAGE"))
			message = fields[i].value;
	}
	if (g_log_writer_default_would_drop(level, domain))
		return G_LOG_WRITER_HANDLED;
	name = cheap_level(level, &fd);
	if (!name || !message || !printable_ascii(message))
		goto glib;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (!localtime_r(&ts.tv_sec, &tm))
		goto glib;
	len = snprintf(line, sizeof(line), "%s%s%s: %02d:%02d:%02d.%03ld: %s\n",
		       domain ? domain : "", domain ? "-" : "", name, tm.tm_hour,
		       tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, message);
	if (len < 0 || (size_t)len >= sizeof(line))
		goto glib;
	return write(fd, line, (size_t)len) == len ? G_LOG_WRITER_HANDLED
						   : G_LOG_WRITER_UNHANDLED;
glib:
	return g_log_writer_default(level, fields, n_fields, data);
}

static bool plain_stream(int fd)
{
	return !g_log_writer_is_journald(fd) && !g_log_writer_supports_color(fd);
}

void logwriter_install(void)
{
	plain_err = plain_stream(STDERR_FILENO);
	plain_out = plain_stream(STDOUT_FILENO);
	tzset(); /* localtime_r reads the zone once, here */
	g_log_set_writer_func(write_log, NULL, NULL);
}
