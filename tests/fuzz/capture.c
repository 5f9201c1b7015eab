/* capture PID FILE: record what the CPython decoder reads from a live
 * process (runtime discovery, every thread state, frame, code object,
 * string and dict of a full walk with names, every frame's locals, the
 * GIL) into a fuzz seed:
 * real memory, so the fuzzer starts from images that decode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "msttop/maps.h"
#include "msttop/proc.h"
#include "msttop/py.h"
#include "msttop/py_locals.h"

struct rec {
	pid_t pid;
	FILE *out;
	size_t n;
};

static int rec_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct rec *r = ctx;
	int rc = mst_pid_reader_read(&r->pid, addr, buf, len);
	if (rc == 0 && len <= (1u << 20)) {
		struct image_seg sg = {.addr = addr, .len = (uint32_t)len};
		fwrite(&sg, sizeof(sg), 1, r->out);
		fwrite(buf, 1, len, r->out);
		r->n++;
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: capture PID FILE\n");
		return 2;
	}
	struct rec rc = {.pid = atoi(argv[1])};
	/* Segments first into a temporary file; the header needs the walk's
	 * results. */
	FILE *tmp = tmpfile();
	FILE *out = fopen(argv[2], "wb");
	if (!tmp || !out) {
		perror("capture");
		return 1;
	}
	rc.out = tmp;
	struct mst_err err = {0};
	struct mst_maps *maps = NULL;
	struct mst_py *py = NULL;
	struct mst_reader r = {rec_read, &rc};
	if (mst_maps_read(rc.pid, &maps, &err) < 0 ||
	    mst_py_open(rc.pid, maps, &r, &py, &err) < 0) {
		fprintf(stderr, "capture: %s\n", err.msg);
		return 1;
	}
	struct mst_py_threads t = {0};
	mst_py_read_threads(py, true, &t, &err);
	for (size_t i = 0; i < t.n; i++)
		for (size_t k = 0; k < t.v[i].nframes; k++) {
			struct mst_py_locals l = {0};
			mst_py_read_locals(py, &t.v[i].frames[k], &l, &err);
			mst_py_locals_fini(&l);
		}
	mst_py_threads_free(&t);
	struct mst_py_gil g;
	mst_py_read_gil(py, &g);
	const struct mst_py_runtime_info *i = mst_py_info(py);
	struct image_hdr h = {.magic = "MSTC",
	                      .major = (uint8_t)i->major,
	                      .minor = (uint8_t)i->minor,
	                      .micro = (uint8_t)i->micro,
	                      .runtime = i->runtime,
	                      .tstate_current = i->tstate_current,
	                      .interp_head = i->has_interp_head ? i->interp_head : 0,
	                      .gil_locked = i->has_gil_locked ? i->gil_locked : 0,
	                      .gil_last_holder = i->has_gil_last_holder ? i->gil_last_holder : 0,
	                      .gc_collecting = i->has_gc_collecting ? i->gc_collecting : 0,
	                      .code_type = i->code_type,
	                      .unicode_type = i->unicode_type,
	                      .bytes_type = i->bytes_type,
	                      .frame_type = i->frame_type,
	                      .none = i->none};
	fwrite(&h, sizeof(h), 1, out);
	rewind(tmp);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), tmp)) > 0)
		fwrite(buf, 1, n, out);
	fclose(out);
	fprintf(stderr, "capture: %zu reads of Python %s\n", rc.n, mst_py_version(py));
	mst_py_close(py);
	mst_maps_free(maps);
	return 0;
}
