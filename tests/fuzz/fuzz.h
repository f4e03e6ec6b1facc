/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz.h - what every fuzz target in tests/fuzz/ shares: the libFuzzer
 * entry point, a byte reader over the input, and a check that aborts (so
 * that libFuzzer and the corpus replay both report it) with a message.
 */
#ifndef PINFS_FUZZ_H
#define PINFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input, read front to back; reads past the end give zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)fuzz_u8(in) << (8 * i);
	return v;
}

/* Copy n bytes into buf, zero-padded when the input runs out. */
static inline void fuzz_bytes(struct fuzz_in *in, void *buf, size_t n)
{
	size_t k = n < in->left ? n : in->left;

	memcpy(buf, in->p, k);
	memset((uint8_t *)buf + k, 0, n - k);
	in->p += k;
	in->left -= k;
}

#define FUZZ_CHECK(cond, ...)                                                            \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, \
				#cond);                                                  \
			fprintf(stderr, __VA_ARGS__);                                    \
			fputc('\n', stderr);                                             \
			abort();                                                         \
		}                                                                        \
	} while (0)

#endif /* PINFS_FUZZ_H */
