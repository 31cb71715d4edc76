// main.cpp - runs every unit suite; exits non-zero on any failure.
// CK_FORK=no in the environment runs in one process (gdb, valgrind).
// Every file a test makes lands in one run directory (tempdir.hpp), removed
// at the end even when a failing test's process left files behind.
#include <cstdio>
#include <cstdlib>
#include <initializer_list>

#include "tempdir.hpp"  // first: <fstream> before check.h's "fail" macro
#include "suites.hpp"

int main() {
    prm::test::RunDir run("prm-unit-run");
    if (!run.ok()) {
        std::perror("unit_tests: cannot make a temporary directory");
        return EXIT_FAILURE;
    }
    SRunner* sr = srunner_create(suite_ini());
    for (Suite* s : {suite_categories(), suite_config(), suite_partners(), suite_rfc5322(),
                     suite_decide(), suite_actions(), suite_alert(), suite_hostguard(), suite_docs(),
                     suite_sendmail(), suite_oauth_partners(), suite_published(), suite_reach()})
        srunner_add_suite(sr, s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
