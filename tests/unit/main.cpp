// main.cpp - runs every unit suite; exits non-zero on any failure.
// CK_FORK=no in the environment runs in one process (gdb, valgrind).
// Every file a test makes lands in one run directory (runner.hpp,
// tempdir.hpp), removed at the end even when a failing test's process left
// files behind.
#include "runner.hpp"  // first: <fstream> before check.h's "fail" macro
#include "suites.hpp"

int main() {
    return prm::test::run_suites({suite_ini(), suite_categories(), suite_config(), suite_partners(),
                                  suite_rfc5322(), suite_decide(), suite_actions(), suite_alert(),
                                  suite_hostguard(), suite_docs(), suite_sendmail(),
                                  suite_oauth_partners(), suite_published(), suite_reach()});
}
