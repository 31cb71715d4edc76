// test_reach.cpp - suite_reach: can Postfix reach the socket (core/reach.hpp,
// synthetic stat data), pid files root writes and reads next to the milter's
// user (core/pidfile.hpp, real files in a temporary directory), and the
// journal check that keeps the daemons from logging every line twice under
// systemd (core/logging.hpp).
#include <fcntl.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/logging.hpp"
#include "core/pidfile.hpp"
#include "core/reach.hpp"
#include "helpers.hpp"
#include "suites.hpp"
#include "tempdir.hpp"

using namespace prm;
using prm::test::TempDir;

namespace {

void expect_eq(const std::string& got, const std::string& want, const char* what) {
    ck_assert_msg(got == want, "%s: got '%s', want '%s'", what, got.c_str(), want.c_str());
}

// uid 107 / gid 113 play postfix, 999 the milter's user and group.
const Connector kPostfix{"postfix", 107, {113}};

// Debian's layout above the socket directory.
std::vector<PathFacts> spool_dirs(unsigned sockdir_mode, long sockdir_gid) {
    return {{"/", true, 0755, 0, 0},
            {"/var", true, 0755, 0, 0},
            {"/var/spool", true, 0755, 0, 0},
            {"/var/spool/postfix", true, 0755, 0, 0},
            {"/var/spool/postfix/partner-relay-milter", true, sockdir_mode, 999, sockdir_gid}};
}

PathFacts sock(unsigned mode, long uid = 999, long gid = 999) {
    return {"/var/spool/postfix/partner-relay-milter/milter.sock", true, mode, uid, gid};
}

// All problems joined by " | ".
std::string problems(const std::vector<PathFacts>& dirs, const PathFacts& s,
                     const Connector& who = kPostfix) {
    std::string out;
    for (const std::string& p : reach_problems(dirs, s, who)) out += (out.empty() ? "" : " | ") + p;
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void spit(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

}  // namespace

START_TEST(readme_layout_is_reachable) {
    // README step 2: 0666 socket in a 0750 directory of group postfix.
    expect_eq(problems(spool_dirs(0750, 113), sock(0666)), "", "README layout");
}
END_TEST

START_TEST(group_socket_is_not_reachable) {
    // The old example: 0660, group = the milter's group, not postfix's.
    expect_eq(problems(spool_dirs(0750, 113), sock(0660)),
              "user postfix (uid 107, gid 113) cannot write to socket "
              "/var/spool/postfix/partner-relay-milter/milter.sock (mode 0660, owner 999:999): "
              "connecting needs write permission",
              "0660 socket");
    // 0660 with the socket's group postfix would do.
    expect_eq(problems(spool_dirs(0750, 113), sock(0660, 999, 113)), "", "0660 group postfix");
}
END_TEST

START_TEST(private_directory_and_socket_both_reported) {
    std::string got = problems(spool_dirs(0700, 999), sock(0600));
    expect_eq(got,
              "user postfix (uid 107, gid 113) cannot search directory "
              "/var/spool/postfix/partner-relay-milter (mode 0700, owner 999:999) | "
              "user postfix (uid 107, gid 113) cannot write to socket "
              "/var/spool/postfix/partner-relay-milter/milter.sock (mode 0600, owner 999:999): "
              "connecting needs write permission",
              "0600 socket under 0700 directory");
}
END_TEST

START_TEST(kernel_permission_classes) {
    struct Row {
        PathFacts f;
        Connector who;
        unsigned want;
        const char* name;
    } rows[] = {
        {{"/s", true, 0066, 107, 0}, kPostfix, 0, "owner bits win over others' bits"},
        {{"/s", true, 0606, 0, 113}, kPostfix, 0, "group bits win over others' bits"},
        {{"/s", true, 0750, 0, 113}, kPostfix, 5, "group class"},
        {{"/s", true, 0751, 0, 5}, kPostfix, 1, "others class"},
        {{"/s", true, 0000, 5, 5}, Connector{"root", 0, {0}}, 7, "root passes"},
        {{"/s", true, 0070, 0, 200}, Connector{"p", 107, {113, 200}}, 7, "second gid counts"},
    };
    for (const Row& r : rows)
        expect_eq(std::to_string(access_bits(r.f, r.who)), std::to_string(r.want), r.name);
}
END_TEST

START_TEST(missing_directory_and_socket) {
    auto dirs = spool_dirs(0750, 113);
    dirs[4].exists = false;
    expect_eq(problems(dirs, sock(0666)),
              "directory /var/spool/postfix/partner-relay-milter does not exist", "missing dir");
    PathFacts none = sock(0666);
    none.exists = false;
    expect_eq(problems(spool_dirs(0750, 113), none),
              "socket /var/spool/postfix/partner-relay-milter/milter.sock does not exist",
              "missing socket");
    // A parent anywhere on the path counts, not only the socket's own.
    auto closed = spool_dirs(0750, 113);
    closed[1].mode = 0700;
    ck_assert_msg(problems(closed, sock(0666)).find("cannot search directory /var (") !=
                      std::string::npos,
                  "a 0700 /var: got '%s'", problems(closed, sock(0666)).c_str());
}
END_TEST

START_TEST(paths_and_socket_specs) {
    auto join = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& s : v) out += s + ",";
        return out;
    };
    expect_eq(join(parent_dirs("/var/spool/postfix/x/m.sock")),
              "/,/var,/var/spool,/var/spool/postfix,/var/spool/postfix/x,", "parents");
    expect_eq(join(parent_dirs("/m.sock")), "/,", "parents of /m.sock");
    expect_eq(join(parent_dirs("/a//b/m.sock")), "/,/a,/a//b,", "doubled slash");
    expect_eq(join(parent_dirs("rel/m.sock")), "", "relative");
    expect_eq(unix_socket_path("local:/run/x.sock"), "/run/x.sock", "local:");
    expect_eq(unix_socket_path("unix:/run/x.sock"), "/run/x.sock", "unix:");
    expect_eq(unix_socket_path("/run/x.sock"), "/run/x.sock", "bare path");
    expect_eq(unix_socket_path("inet:8895@127.0.0.1"), "", "inet");
    expect_eq(unix_socket_path("inet6:8895@::1"), "", "inet6");
}
END_TEST

START_TEST(pid_file_replaces_planted_links) {
    // The milter's user owns the directory and plants, at the pid file's
    // name and at its temporary name, a symlink, a hard link and a FIFO to
    // a file it wants root to overwrite; root's write must go around them.
    TempDir tmp("prm-reach");
    std::string d = tmp.path();
    std::string victim = d + "/victim", pid = d + "/milter.pid";
    spit(victim, "precious\n");
    for (int round = 0; round < 3; ++round) {
        unlink(pid.c_str());
        unlink((pid + ".new").c_str());
        if (round == 0) {
            ck_assert_int_eq(symlink(victim.c_str(), pid.c_str()), 0);
            ck_assert_int_eq(symlink(victim.c_str(), (pid + ".new").c_str()), 0);
        } else if (round == 1) {
            ck_assert_int_eq(link(victim.c_str(), pid.c_str()), 0);
            ck_assert_int_eq(link(victim.c_str(), (pid + ".new").c_str()), 0);
        } else {
            ck_assert_int_eq(mkfifo(pid.c_str(), 0666), 0);
            ck_assert_int_eq(mkfifo((pid + ".new").c_str(), 0666), 0);
        }
        std::string err;
        ck_assert_msg(write_pid_file(pid, 4242, err), "round %d: %s", round, err.c_str());
        expect_eq(slurp(victim), "precious\n", "the planted link's target");
        expect_eq(slurp(pid), "4242\n", "pid file");
        struct stat st {};
        ck_assert_int_eq(lstat(pid.c_str(), &st), 0);
        ck_assert_msg(S_ISREG(st.st_mode) && st.st_nlink == 1 && (st.st_mode & 07777) == 0644,
                      "round %d: pid file mode %o, links %lu: want a fresh 0644 file", round,
                      st.st_mode, static_cast<unsigned long>(st.st_nlink));
        ck_assert_msg(access((pid + ".new").c_str(), F_OK) != 0, "temporary name left behind");
    }
}
END_TEST

START_TEST(pid_file_read_for_signalling) {
    TempDir tmp("prm-reach");
    std::string d = tmp.path();
    std::string pid = d + "/milter.pid", link_name = d + "/link.pid";
    std::string err;
    long got = 0;
    ck_assert(write_pid_file(pid, getpid(), err));
    // A process of another name (a reused pid): refused.
    char saved[17] = {};
    prctl(PR_GET_NAME, saved, 0, 0, 0);
    prctl(PR_SET_NAME, "some-daemon", 0, 0, 0);
    ck_assert_msg(!read_trusted_pid(pid, got, err) &&
                      err.find("'some-daemon', not a partner-relay program") != std::string::npos,
                  "a pid of another program: got '%s'", err.c_str());
    // One of ours ("partner-relay-m", as the kernel cuts the milter's name).
    prctl(PR_SET_NAME, "partner-relay-milter", 0, 0, 0);
    expect_eq(process_name(getpid()), "partner-relay-m", "comm");
    ck_assert_msg(read_trusted_pid(pid, got, err), "own pid file: %s", err.c_str());
    ck_assert_int_eq(got, getpid());

    ck_assert_int_eq(symlink(pid.c_str(), link_name.c_str()), 0);
    ck_assert_msg(!read_trusted_pid(link_name, got, err), "a symlink: got trusted");
    chmod(pid.c_str(), 0666);
    ck_assert_msg(!read_trusted_pid(pid, got, err) && err.find("writable by group or others") !=
                                                           std::string::npos,
                  "a 0666 pid file: got '%s'", err.c_str());
    chmod(pid.c_str(), 0644);
    spit(pid, "1\n");
    ck_assert_msg(!read_trusted_pid(pid, got, err), "pid 1: got trusted");
    spit(pid, "12x\n");
    ck_assert_msg(!read_trusted_pid(pid, got, err), "'12x': got trusted");

    // Someone else's file naming my process, and root's file naming anyone.
    ck_assert(pid_owner_trusted(0, 999));
    ck_assert(pid_owner_trusted(999, 999));
    ck_assert(!pid_owner_trusted(999, 0));
    ck_assert(!pid_owner_trusted(999, 1000));
    ck_assert(!pid_owner_trusted(0, -1));
    expect_eq(std::to_string(process_uid(getpid())), std::to_string(getuid()), "own uid");
    if (geteuid() == 0) {
        // As root: a file owned by nobody naming this root process is refused.
        ck_assert(write_pid_file(pid, getpid(), err));
        ck_assert_int_eq(chown(pid.c_str(), 65534, 65534), 0);
        ck_assert_msg(!read_trusted_pid(pid, got, err) &&
                          err.find("not as the file's owner") != std::string::npos,
                      "nobody's pid file naming root's process: got '%s'", err.c_str());
    }
    prctl(PR_SET_NAME, saved, 0, 0, 0);
}
END_TEST

START_TEST(no_stderr_copy_when_stderr_is_the_journal) {
    // stderr to a file; JOURNAL_STREAM names that file (as systemd names
    // the journal stream), then another one.
    TempDir tmp("prm-reach");
    std::string d = tmp.path(), out = d + "/stderr";
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    int saved = dup(2);
    dup2(fd, 2);
    struct stat st {};
    fstat(fd, &st);
    std::string same = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    setenv("JOURNAL_STREAM", same.c_str(), 1);
    bool journal = stderr_is_journal();
    make_syslog_logger("prm-unit", "local7", 7, true)->log(Level::debug, "journal-line");
    setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":1").c_str(), 1);
    bool other = stderr_is_journal();
    make_syslog_logger("prm-unit", "local7", 7, true)->log(Level::debug, "file-line");
    unsetenv("JOURNAL_STREAM");
    bool unset = stderr_is_journal();
    dup2(saved, 2);
    close(saved);
    close(fd);
    ck_assert_msg(journal && !other && !unset, "stderr_is_journal: got %d %d %d, want 1 0 0",
                  journal, other, unset);
    std::string text = slurp(out);
    ck_assert_msg(text.find("journal-line") == std::string::npos,
                  "stderr is the journal: the line was copied there too:\n%s", text.c_str());
    ck_assert_msg(text.find("file-line") != std::string::npos,
                  "stderr is a file: the line is missing:\n%s", text.c_str());
}
END_TEST

Suite* suite_reach() {
    Suite* s = suite_create("reach");
    TCase* tc = tcase_create("reach");
    tcase_add_test(tc, readme_layout_is_reachable);
    tcase_add_test(tc, group_socket_is_not_reachable);
    tcase_add_test(tc, private_directory_and_socket_both_reported);
    tcase_add_test(tc, kernel_permission_classes);
    tcase_add_test(tc, missing_directory_and_socket);
    tcase_add_test(tc, paths_and_socket_specs);
    tcase_add_test(tc, pid_file_replaces_planted_links);
    tcase_add_test(tc, pid_file_read_for_signalling);
    tcase_add_test(tc, no_stderr_copy_when_stderr_is_the_journal);
    suite_add_tcase(s, tc);
    return s;
}
