// runner.hpp - the main() body of every check program of the tests.
//
// Contract: run_suites() runs the suites with check's default (forking)
// runner and CK_NORMAL output inside a RunDir (tempdir.hpp), so every file
// a test makes under $TMPDIR is removed at the end, even after a failure;
// it returns EXIT_SUCCESS when no test failed. CK_FORK=no in the
// environment runs in one process (gdb, valgrind).
//
// Thread safety: call once, from main(). Limits: at least one suite.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <initializer_list>

#include "tempdir.hpp"  // first: <fstream> before check.h's "fail" macro

namespace prm::test {

// Run SUITES (the runner frees them); EXIT_SUCCESS when every test passed.
inline int run_suites(std::initializer_list<Suite*> suites) {
    RunDir run("prm-check-run");
    if (!run.ok()) {
        std::perror("cannot make a temporary directory for the tests");
        return EXIT_FAILURE;
    }
    auto it = suites.begin();
    SRunner* sr = srunner_create(*it);
    for (++it; it != suites.end(); ++it) srunner_add_suite(sr, *it);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

}  // namespace prm::test
