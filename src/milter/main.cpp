// main.cpp - partner-relay-milter(8): command line and dispatch.
//
// What: parses the options (getopt_long: the short options of the contract
// plus long options for -t's envelope) and runs one mode: -V, -n, -t or the
// daemon. Everything else lives in daemon.cpp.
//
// Contract: exit status as daemon.hpp; usage errors print the usage to
// stderr and exit 2.
#include <getopt.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "core/config.hpp"
#include "milter/daemon.hpp"
#include "milter/glue.hpp"

#ifndef PRM_VERSION
#define PRM_VERSION "unknown"
#endif

namespace prm {

namespace {

enum LongOnly { kFrom = 256, kClient, kAuth, kDaemon, kRcpt, kLocal };

const struct option kLongOptions[] = {
    {"from", required_argument, nullptr, kFrom}, {"client", required_argument, nullptr, kClient},
    {"auth", required_argument, nullptr, kAuth}, {"daemon", required_argument, nullptr, kDaemon},
    {"rcpt", required_argument, nullptr, kRcpt}, {"local", no_argument, nullptr, kLocal},
    {"help", no_argument, nullptr, 'h'},         {nullptr, 0, nullptr, 0},
};

// Parse a whole decimal or octal number within [LO, HI].
bool parse_number(const char* s, int base, long lo, long hi, long& out) {
    char* end = nullptr;
    long v = std::strtol(s, &end, base);
    if (!*s || *end || v < lo || v > hi) return false;
    out = v;
    return true;
}

// Apply one long-only option.
void long_option(int c, Options& o) {
    switch (c) {
        case kFrom:
            o.test_from = optarg;
            break;
        case kClient:
            o.test_client = optarg;
            break;
        case kAuth:
            o.test_auth = optarg;
            break;
        case kDaemon:
            o.test_daemon = optarg;
            break;
        case kRcpt:
            o.test_rcpts.emplace_back(optarg);
            break;
        case kLocal:
            o.test_local = true;
            break;
    }
}

}  // namespace

// The usage text.
std::string usage_text() {
    return "usage: partner-relay-milter [-c FILE] [-f] [-u USER] [-R] [-p SOCKET] [-m MODE] [-d "
           "SECONDS]\n"
           "       partner-relay-milter [-c FILE] [-q] [-u USER] [-p SOCKET] [-m MODE] -n\n"
           "       partner-relay-milter [-c FILE] -t MSGFILE [--from ADDR] [--client ADDR] [--auth "
           "LOGIN]\n"
           "                            [--daemon NAME] [--rcpt ADDR]... [--local]\n"
           "       partner-relay-milter -V\n";
}

// Parse the command line.
int parse_options(int argc, char** argv, Options& o, std::string& err) {
    o.config_path = kDefaultConfigPath;
    optind = 1;
    opterr = 0;
    int c;
    long n = 0;
    while ((c = getopt_long(argc, argv, ":c:fnqt:Vu:Rp:m:d:h", kLongOptions, nullptr)) != -1) {
        switch (c) {
            case 'c':
                o.config_path = optarg;
                break;
            case 'f':
                o.foreground = true;
                break;
            case 'n':
                o.check = true;
                break;
            case 'q':
                o.quiet = true;
                break;
            case 't':
                o.test_file = optarg;
                break;
            case 'V':
                o.version = true;
                break;
            case 'u':
                o.user = optarg;
                break;
            case 'R':
                o.allow_root = true;
                break;
            case 'p':
                o.socket = optarg;
                break;
            case 'm':
                if (!parse_number(optarg, 8, 0, 0777, n))
                    return err = "-m: not an octal mode: " + std::string(optarg), kExitUsage;
                o.socket_mode = static_cast<int>(n);
                break;
            case 'd':
                if (!parse_number(optarg, 10, 0, 3600, n))
                    return err = "-d: not 0-3600 seconds: " + std::string(optarg), kExitUsage;
                o.drain_seconds = static_cast<int>(n);
                break;
            case 'h':
                return err = "", kExitUsage;
            case ':':
                return err = std::string("option needs an argument: ") + argv[optind - 1],
                       kExitUsage;
            case '?':
                return err = std::string("unknown option: ") + argv[optind - 1], kExitUsage;
            default:
                long_option(c, o);
                break;
        }
    }
    if (optind < argc) return err = std::string("unexpected argument: ") + argv[optind], kExitUsage;
    if (o.check + !o.test_file.empty() + o.version > 1)
        return err = "-n, -t and -V exclude each other", kExitUsage;
    if (o.quiet && !o.check) return err = "-q goes with -n only", kExitUsage;
    return kExitOk;
}

// -V.
int run_version() {
    std::cout << "partner-relay-milter " << PRM_VERSION << " (" << glue_version() << ")\n";
    return kExitOk;
}

}  // namespace prm

int main(int argc, char** argv) {
    prm::Options opts;
    std::string err;
    if (prm::parse_options(argc, argv, opts, err) != prm::kExitOk) {
        if (!err.empty()) std::cerr << "partner-relay-milter: " << err << "\n";
        std::cerr << prm::usage_text();
        return prm::kExitUsage;
    }
    if (opts.version) return prm::run_version();
    if (opts.check) return prm::run_check(opts);
    if (!opts.test_file.empty()) return prm::run_test(opts);
    return prm::run_daemon(opts);
}
