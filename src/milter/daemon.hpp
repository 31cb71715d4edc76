// daemon.hpp - partner-relay-milter(8): options, modes, lifecycle, the message path.
//
// What: parses the command line; runs one of -V, -n (check), -t (decide one
// message file offline) or the daemon: load the snapshot, open the socket
// as root, daemonize unless -f, write the pid file, drop privileges
// (Postfix order), start the signal thread (SIGUSR1 reload, SIGUSR2 dump
// counters, stats file timer) with those signals blocked in every thread,
// then hand over to libmilter. finish_message() is the one per-message path
// shared by the daemon's end-of-message callback and -t.
//
// Contract: exit status 0 success, 1 configuration error, 2 usage error,
// 3 cannot start or run (socket, user, pid file, privileges).
//
// Thread safety: finish_message() may run on any libmilter thread; it only
// reads the snapshot it is given and uses the thread-safe counters/logger.
#pragma once

#include <string>
#include <vector>

#include "core/actions.hpp"
#include "core/counters.hpp"
#include "core/decide.hpp"
#include "core/snapshot.hpp"

namespace prm {

inline constexpr int kExitOk = 0;
inline constexpr int kExitConfig = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRuntime = 3;

struct Options {
    std::string config_path;      // -c
    bool foreground = false;      // -f
    bool check = false;           // -n
    bool quiet = false;           // -q: -n prints errors only
    bool version = false;         // -V
    bool allow_root = false;      // -R: run as root without a user
    std::string user;             // -u: overrides [milter] user
    std::string socket;           // -p: overrides [milter] socket
    int socket_mode = -1;         // -m: mode of a UNIX socket; -1: socket_mode of the config
    int drain_seconds = 30;       // -d: wait for messages in flight at stop

    // -t MSGFILE and its envelope options.
    std::string test_file;
    std::string test_from;                  // --from (default: the From header address)
    std::string test_client = "127.0.0.1";  // --client
    std::string test_auth;                  // --auth
    std::string test_daemon;                // --daemon
    std::vector<std::string> test_rcpts;    // --rcpt (repeatable)
    bool test_local = false;                // --local: a non-SMTP submission
};

// Parse ARGV into OPTS. Returns kExitOk, or kExitUsage with ERR filled.
int parse_options(int argc, char** argv, Options& opts, std::string& err);

// The usage text.
std::string usage_text();

// -V: print the version.
int run_version();
// -n: load and report; 1 on a main configuration error.
int run_check(const Options& opts);
// -t MSGFILE: decide offline and print the decision and the edits.
int run_test(const Options& opts);
// The daemon itself.
int run_daemon(const Options& opts);

// What finish_message() did.
struct MessageOutcome {
    Decision decision;
    bool applied = false;  // every edit was accepted by the MTA
    std::string failed;    // the failing edit, when not applied
};

// Decide for MSG under SNAP, apply the edits through MTA in decide()'s order
// (deletions of one name highest index first, so no index shifts whatever
// way the MTA counts deleted headers), log the summary line with the queue
// id and count it in COUNTERS (may be null).
MessageOutcome finish_message(const Snapshot& snap, const MessageFacts& msg, MtaActions& mta,
                              Counters* counters);

}  // namespace prm
