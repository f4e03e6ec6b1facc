/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jsonmember.h - one call per "name": value member of a JSON object being
 * built with json-glib's JsonBuilder (the control channel's replies, the
 * window and cluster listings, pinfs-bench's results), and the text of
 * the object once built.  Header-only, like
 * clock.h, so that every program that builds such objects can use it
 * without another library.
 */
#ifndef PINFS_JSONMEMBER_H
#define PINFS_JSONMEMBER_H

#include <stdint.h>

#include <json-glib/json-glib.h>

static inline void json_member_int(JsonBuilder *b, const char *name, gint64 v)
{
	json_builder_set_member_name(b, name);
	json_builder_add_int_value(b, v);
}

/* JSON integers are signed 64-bit: a larger value reads INT64_MAX. */
static inline void json_member_u64(JsonBuilder *b, const char *name, uint64_t v)
{
	json_member_int(b, name, v > G_MAXINT64 ? G_MAXINT64 : (gint64)v);
}

/* A length where UINT64_MAX means "to the end" (a lease range to end of
 * file, LT_LEN_EOF): null, as pinfsctl and the cluster listings show it. */
static inline void json_member_len(JsonBuilder *b, const char *name, uint64_t len)
{
	if (len == UINT64_MAX) {
		json_builder_set_member_name(b, name);
		json_builder_add_null_value(b);
	} else {
		json_member_u64(b, name, len);
	}
}

static inline void json_member_bool(JsonBuilder *b, const char *name, gboolean v)
{
	json_builder_set_member_name(b, name);
	json_builder_add_boolean_value(b, v);
}

static inline void json_member_str(JsonBuilder *b, const char *name, const char *v)
{
	json_builder_set_member_name(b, name);
	json_builder_add_string_value(b, v);
}

/* The JSON text (g_free) of what b has built, in one line; *len (if not
 * NULL) its length. */
static inline char *json_text_of(JsonBuilder *b, gsize *len)
{
	JsonGenerator *gen = json_generator_new();
	JsonNode *root = json_builder_get_root(b);
	char *text;

	json_generator_set_root(gen, root);
	text = json_generator_to_data(gen, len);
	json_node_unref(root);
	g_object_unref(gen);
	return text;
}

#endif /* PINFS_JSONMEMBER_H */
