// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * main.c - pinfs's command line, mount and session loop.
 *
 *   pinfs [options] BACKING MOUNTPOINT
 *
 * BACKING is passed through at MOUNTPOINT (they may be the same
 * directory).  Options are libfuse's plus pinfs's own; see pinfs(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster.h"
#include "atime.h"
#include "daemon.h"
#include "passthrough.h"
#include "wire.h"
#include "logwriter.h"
#include "handles.h"
#include "window.h"
#include "opts.h"
#include "pinfs_abi.h"
#include "readahead.h"

static void usage(const char *prog)
{
	printf(
	    "usage: %s [options] BACKING MOUNTPOINT\n\n"
	    "Pass BACKING through at MOUNTPOINT with layout leases.\n\n"
	    "pinfs options:\n"
	    "    -o break_time=SECONDS  revoke a lease this long after its break\n"
	    "                           began (default 45; 0: never)\n"
	    "    -o pinned=wait|fail    a layout change over registered pins waits\n"
	    "                           for them (default) or fails with ETXTBSY\n"
	    "    -o leases=on|off       off: a plain passthrough (default on)\n"
	    "    -o timeout=SECONDS     attribute and entry cache time (default 1)\n"
	    "    -o writeback_cache     with leases=off: cache writes in the kernel;\n"
	    "                           changes made in BACKING directly may not\n"
	    "                           show (see pinfs(8))\n"
	    "    -o passthrough=auto|off\n"
	    "                           auto (the default): Linux 6.9+ serves reads,\n"
	    "                           writes and mappings of files without leases\n"
	    "                           from BACKING itself; off: through the daemon\n"
	    "                           (staging windows shared by processes)\n"
	    "    -o user_leases=N       leases one user may hold (default 4096;\n"
	    "                           0: no limit; root is not limited)\n"
	    "    -o user_pins=N         pins one user may register (default 65536;\n"
	    "                           0: no limit); staging windows count too\n"
	    "    -o window=auto|always|never\n"
	    "                           staging windows for F_LAYOUT holders' shared\n"
	    "                           mappings: where the kernel refuses to pin\n"
	    "                           them (auto, the default), always, or never\n"
	    "    -o dma_module=auto|require\n"
	    "                           require: while the pinfs_dma module is absent,\n"
	    "                           layout changes of files others have open\n"
	    "                           O_RDWR fail with ENOPKG (default auto)\n"
	    "    -o etcd=URL[+URL...]   join the cluster of pinfs daemons over the\n"
	    "                           same shared BACKING, through these etcd\n"
	    "                           endpoints (see docs/cluster.md)\n"
	    "    -o node=NAME           this daemon's name in it (default: host name)\n"
	    "    -o cluster=NAME        the cluster (default: BACKING's filesystem id)\n"
	    "    -o etcd_ttl=SECONDS    a node silent this long is dead (default 10)\n"
	    "    -o quorum=fail|wait    without etcd's quorum a layout change fails\n"
	    "                           with ENOLCK, or waits (default fail)\n\n",
	    prog);
}

static int open_backing(struct pinfs *fs)
{
	char *real = realpath(fs->cfg.backing, NULL);
	struct stat st;

	if (!real) {
		fprintf(stderr, "pinfs: %s: %s\n", fs->cfg.backing, strerror(errno));
		return -1;
	}
	free(fs->cfg.backing);
	fs->cfg.backing = real;
	fs->root.fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->root.fd < 0 || fstat(fs->root.fd, &st) < 0) {
		fprintf(stderr, "pinfs: %s: %s\n", real, strerror(errno));
		return -1;
	}
	fs->root.dev = st.st_dev;
	fs->root.ino = st.st_ino;
	fs->root.type = S_IFDIR;
	fs->root.nlookup = 2;
	pthread_rwlock_init(&fs->root.layout_lock, NULL);
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = {0};
	struct fuse_loop_config *loop_cfg = NULL;
	struct fuse_session *se = NULL;
	struct pinfs fs = {0};
	GError *error = NULL;
	int ret = 1;

	opts_init(&fs.cfg);
	fs.root.fd = -1;

	if (opts_parse(&args, &fs.cfg) < 0)
		goto out;
	if (fuse_parse_cmdline(&args, &opts) != 0)
		goto out;
	if (opts.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (opts.show_version) {
		printf("pinfs version %s (layout lease ABI %d)\n", PINFS_VERSION,
		       PINFS_ABI_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (!opts.mountpoint) {
		fprintf(stderr, "pinfs: missing MOUNTPOINT (see --help)\n");
		goto out;
	}
	if (opts_check(&fs.cfg) < 0 || open_backing(&fs) < 0)
		goto out;
	fs.cfg.mountpoint = opts.mountpoint;
	fs.running_as_root = geteuid() == 0;

	/* Permission checks are the kernel's, against the backing modes. */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	{
		char *max_read = g_strdup_printf("-omax_read=%u", PINFS_MAX_READ);

		fuse_opt_add_arg(&args, max_read);
		g_free(max_read);
	}
	if (!strchr(fs.cfg.backing, ',')) {
		char *fsname = g_strdup_printf("-ofsname=%s", fs.cfg.backing);

		fuse_opt_add_arg(&args, fsname);
		g_free(fsname);
	}
	umask(0);
	inode_table_init(&fs);
	handles_init(&fs);

	se = fuse_session_new(&args, &lo_ops, sizeof(lo_ops), &fs);
	if (!se)
		goto out_inodes; /* libfuse said why, e.g. an unknown option */
	fs.se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	if (fs.cfg.atime_rule || fs.cfg.nodiratime) {
		int err = atime_set_mount_flags(opts.mountpoint, fs.cfg.atime_rule,
						fs.cfg.nodiratime);

		if (err) {
			fprintf(stderr,
				"pinfs: cannot set %s%s%s on %s: %s (mount -o "
				"remount,bind,... sets them)\n",
				fs.cfg.atime_rule == 2	 ? "strictatime"
				: fs.cfg.atime_rule == 1 ? "relatime"
							 : "",
				fs.cfg.atime_rule && fs.cfg.nodiratime ? "," : "",
				fs.cfg.nodiratime ? "nodiratime" : "", opts.mountpoint,
				strerror(err));
			goto out_unmount;
		}
	}
	wire_install(se);
	if (fuse_daemonize(opts.foreground) != 0)
		goto out_unmount;
	logwriter_install(); /* stderr and stdout are final now */

	/* Threads only after fuse_daemonize: it forks. */
	if (!layout_new(&fs, &error)) {
		fprintf(stderr, "pinfs: %s\n", error->message);
		g_error_free(error);
		goto out_unmount;
	}
	if (fs.cfg.leases_on)
		fs.windows = windows_new(&fs, (enum window_mode)fs.cfg.window_mode);
	if (fs.cfg.etcd) {
		fs.cluster = cluster_new(&fs, &error);
		if (!fs.cluster) {
			fprintf(stderr, "pinfs: %s\n", error->message);
			g_error_free(error);
			windows_free(fs.windows);
			fs.windows = NULL;
			layout_free(fs.layout);
			goto out_unmount;
		}
	}
	layout_start_control(fs.layout);

	fs.single_thread = opts.singlethread;
	if (opts.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop_cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(loop_cfg, opts.clone_fd);
		/* fuse_parse_cmdline leaves UINT_MAX for "not given". */
		if (opts.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop_cfg, opts.max_idle_threads);
		if (opts.max_threads != UINT_MAX && opts.max_threads != 0)
			fuse_loop_cfg_set_max_threads(loop_cfg, opts.max_threads);
		ret = fuse_session_loop_mt(se, loop_cfg);
		fuse_loop_cfg_destroy(loop_cfg);
	}
	/* A signal handler ends the loop with the signal's number, and an
	 * unmount racing queued requests with -ECONNABORTED: both are a clean
	 * end, not an error. */
	ret = (ret == 0 || ret == SIGINT || ret == SIGTERM || ret == SIGHUP ||
	       ret == -ECONNABORTED)
		  ? 0
		  : 1;
	windows_free(fs.windows);
	fs.windows = NULL;
	layout_free(fs.layout);
	cluster_free(fs.cluster);
	passthrough_free(&fs);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_inodes:
	handles_destroy(&fs);
	inode_table_destroy(&fs);
out:
	if (fs.root.fd >= 0)
		close(fs.root.fd);
	free(opts.mountpoint);
	opts_free(&fs.cfg);
	fuse_opt_free_args(&args);
	return ret;
}
