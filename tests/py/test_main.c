/* Runs the CPython decoder's suites. */
#include <check.h>

#include "../check_main.h"
#include "../harness.h"

Suite *py_layout_suite(void);
Suite *py_decode_suite(void);
Suite *py_runtime_suite(void);
Suite *py_repr_suite(void);
#ifdef HAVE_PY_WALK_SUITE
Suite *py_walk_suite(void);
#endif

int main(void)
{
	Suite *more[] = {
	    py_decode_suite(),
	    py_runtime_suite(),
	    py_repr_suite(),
#ifdef HAVE_PY_WALK_SUITE
	    py_walk_suite(),
#endif
	};
	return mst_check_main(py_layout_suite(), more, sizeof(more) / sizeof(more[0]));
}
