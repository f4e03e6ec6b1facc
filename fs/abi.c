// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * abi.c - decode the PINFS_IOC_* requests of lib/pinfs_abi.h and apply
 * them to the lease table.  Nothing here knows FUSE: layout.c calls
 * abi_ioctl() from its ioctl handler, and tests/fuzz/ calls it directly.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>

#include "abi.h"

int abi_range(uint64_t off, uint64_t len, uint64_t *tlen)
{
	if (off > (uint64_t)INT64_MAX)
		return EOVERFLOW;
	if (len == PINFS_LEN_EOF) {
		*tlen = LT_LEN_EOF;
		return 0;
	}
	if (len > (uint64_t)INT64_MAX - off)
		return EOVERFLOW;
	*tlen = len;
	return 0;
}

static int do_setlease(const struct abi_file *f, const struct pinfs_lease *in)
{
	uint64_t len;
	int err;

	if (in->size != sizeof(*in) || in->reserved ||
	    (in->flags & ~PINFS_LEASE_FLAGS_ALL) || in->type > PINFS_LEASE_UNLOCK)
		return EINVAL;
	err = abi_range(in->offset, in->length, &len);
	if (err)
		return err;
	f->in_table(f->arg);
	if (in->flags & PINFS_LEASE_IF_HELD) {
		if (in->type != PINFS_LEASE_UNLOCK)
			return EINVAL;
		return -lt_release_held(f->t, f->fh, f->fx);
	}
	return -lt_setlease(f->t, f->ino, f->fh, f->pid(f->arg), f->uid,
			    (enum lt_type)in->type, in->flags & PINFS_LEASE_EXCLUSIVE,
			    in->offset, len, f->owner_ok(f->arg), f->fx);
}

static void fill_status(const struct abi_file *f, struct pinfs_lease_status *out)
{
	struct lt_status st;

	lt_getlease(f->t, f->ino, f->fh, &st);
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->type = st.type;
	out->flags = st.exclusive ? PINFS_LEASE_EXCLUSIVE : 0;
	out->state = st.state;
	out->offset = st.off;
	out->length = st.len == LT_LEN_EOF ? PINFS_LEN_EOF : st.len;
	out->lease_id = st.lease_id;
	out->pinned_bytes = st.pinned_bytes;
	out->end_reason = st.end_reason;
	out->signal = st.signal;
}

static int do_setsig(const struct abi_file *f, const struct pinfs_setsig *sig)
{
	if (sig->size != sizeof(*sig) || sig->reserved || sig->signal < 0 ||
	    sig->signal > SIGRTMAX || (sig->signal && sig->fd < 0))
		return EINVAL;
	f->in_table(f->arg);
	return -lt_setsig(f->t, f->ino, f->fh, sig->signal, sig->fd);
}

static int do_pin(const struct abi_file *f, struct pinfs_pin *pin)
{
	uint64_t len, id = 0;
	int err;

	if (pin->size != sizeof(*pin) || pin->flags)
		return EINVAL;
	if (pin->length == 0)
		return EINVAL;
	err = abi_range(pin->offset, pin->length, &len);
	if (err)
		return err;
	f->in_table(f->arg);
	err = -lt_pin(f->t, f->ino, f->fh, pin->offset, len, &id, f->fx);
	pin->pin_id = id;
	return err;
}

static int do_unpin(const struct abi_file *f, const struct pinfs_pin *pin)
{
	if (pin->size != sizeof(*pin) || pin->flags)
		return EINVAL;
	return -lt_unpin(f->t, f->ino, f->fh, pin->pin_id, f->fx);
}

/*
 * Regular-file ioctls are restricted, so in_bufsz and out_bufsz are
 * _IOC_SIZE(cmd); they are checked anyway, before anything is read.
 */
int abi_ioctl(const struct abi_file *f, unsigned int cmd, const void *in_buf,
	      size_t in_bufsz, size_t out_bufsz, union abi_buf *u, size_t *out_size)
{
	size_t size = _IOC_SIZE(cmd);
	int err;

	*out_size = 0;
	if (_IOC_TYPE(cmd) != PINFS_IOC_MAGIC)
		return ENOTTY;
	if (size > sizeof(*u) || ((_IOC_DIR(cmd) & _IOC_WRITE) && in_bufsz != size) ||
	    ((_IOC_DIR(cmd) & _IOC_READ) && out_bufsz != size))
		return EINVAL;
	memset(u, 0, sizeof(*u));
	if (_IOC_DIR(cmd) & _IOC_WRITE)
		memcpy(u, in_buf, size);

	if (cmd == PINFS_IOC_NOOP)
		return 0;
	if (cmd == PINFS_IOC_VERSION) {
		if (u->v.size != sizeof(u->v))
			return EINVAL;
		u->v.abi_version = PINFS_ABI_VERSION;
		u->v.features = f->t ? PINFS_FEAT_LEASES : 0;
		u->v.reserved = 0;
		*out_size = sizeof(u->v);
		return 0;
	}
	switch (cmd) {
	case PINFS_IOC_SETLEASE:
	case PINFS_IOC_GETLEASE:
	case PINFS_IOC_SETSIG:
	case PINFS_IOC_PIN:
	case PINFS_IOC_UNPIN:
		break;
	default:
		return ENOTTY;
	}
	if (!f->t)
		return EOPNOTSUPP;
	if (!f->regular)
		return EISDIR;

	switch (cmd) {
	case PINFS_IOC_SETLEASE:
		return do_setlease(f, &u->l);
	case PINFS_IOC_GETLEASE:
		if (u->s.size != sizeof(u->s))
			return EINVAL;
		fill_status(f, &u->s);
		*out_size = sizeof(u->s);
		return 0;
	case PINFS_IOC_SETSIG:
		return do_setsig(f, &u->sig);
	case PINFS_IOC_PIN:
		err = do_pin(f, &u->pin);
		if (!err)
			*out_size = sizeof(u->pin);
		return err;
	default: /* PINFS_IOC_UNPIN */
		return do_unpin(f, &u->pin);
	}
}
