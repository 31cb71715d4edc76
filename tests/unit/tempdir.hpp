// tempdir.hpp - temporary directories for the unit tests, removed with all
// they hold.
//
// Contract: TempDir makes a fresh mode-0700 directory PREFIX-XXXXXX under
// $TMPDIR (or /tmp) and removes it recursively when it goes out of scope.
// RunDir, made once by each test program's main(), is a directory for the
// whole run that TMPDIR points into while the suites run: a test whose
// forked child fails (check's ck_assert exits the child, so destructors do
// not run) leaves its files there, and main() removes them all at the end.
// No test writes outside these directories.
//
// Thread safety: none needed (check runs one test per process). Limits:
// removal ignores errors (a file a test made unremovable stays).
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

// check.h defines a macro "fail": include it after the standard headers.
#include <check.h>

namespace prm::test {

// $TMPDIR, or /tmp when it is unset or empty.
inline std::string temp_base() {
    const char* base = std::getenv("TMPDIR");
    return base && *base ? base : "/tmp";
}

// A fresh directory PREFIX-XXXXXX under BASE; empty on failure.
inline std::string make_temp_dir(const std::string& base, const std::string& prefix) {
    std::string t = base + "/" + prefix + "-XXXXXX";
    return mkdtemp(t.data()) ? t : "";
}

// Remove PATH and everything below it, ignoring errors.
inline void remove_tree(const std::string& path) {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
}

// One test's scratch directory under $TMPDIR.
class TempDir {
public:
    // A fresh directory PREFIX-XXXXXX; fails the test when it cannot be made.
    explicit TempDir(const std::string& prefix = "prm-unit")
        : path_(make_temp_dir(temp_base(), prefix)) {
        ck_assert_msg(!path_.empty(), "cannot make a temporary directory under %s",
                      temp_base().c_str());
    }
    ~TempDir() { remove_tree(path_); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    // The directory.
    const std::string& path() const { return path_; }

    // DIR/NAME.
    std::string at(const std::string& name) const { return path_ + "/" + name; }

    // Write TEXT to DIR/NAME with MODE (replacing it); returns its path.
    std::string file(const std::string& name, const std::string& text, mode_t mode = 0600) const {
        std::string p = at(name);
        {
            std::ofstream out(p, std::ios::trunc);
            out << text;
            ck_assert_msg(out.good(), "cannot write %s", p.c_str());
        }
        chmod(p.c_str(), mode);
        return p;
    }

private:
    std::string path_;
};

// The directory of one test program's run; TMPDIR points into it meanwhile.
class RunDir {
public:
    // Make PREFIX-XXXXXX under $TMPDIR and point TMPDIR at it.
    explicit RunDir(const std::string& prefix) : path_(make_temp_dir(temp_base(), prefix)) {
        if (!path_.empty()) setenv("TMPDIR", path_.c_str(), 1);
    }
    ~RunDir() { remove_tree(path_); }
    RunDir(const RunDir&) = delete;
    RunDir& operator=(const RunDir&) = delete;

    // False when the directory could not be made (the tests then fail).
    bool ok() const { return !path_.empty(); }

private:
    std::string path_;
};

}  // namespace prm::test
