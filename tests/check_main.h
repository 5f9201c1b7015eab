/* The main every test program shares: run the given suites, print Check's
 * summary, exit non-zero on any failure. */
#ifndef MSTTOP_TEST_CHECK_MAIN_H
#define MSTTOP_TEST_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int mst_check_main(Suite *first, Suite **more, size_t nmore)
{
	SRunner *sr = srunner_create(first);
	for (size_t i = 0; i < nmore; i++)
		srunner_add_suite(sr, more[i]);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
