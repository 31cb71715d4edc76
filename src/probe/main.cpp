// main.cpp - partner-relay-probe(8): command line, configuration, reports.
//
// What: parses the command line, loads the configuration snapshot (main
// config + partner table, core/snapshot.hpp), runs the probe for one
// partner or for every active one (--all), and prints the result as text,
// as JSON (--json) or as a table (--all).
//
// Contract: the exit status is the ExitCode of probe.hpp (for --all, the
// highest among the active partners). Nothing printed ever contains a
// password, a client secret or a token: results are built from sanitised
// text only (probe.cpp), and configuration diagnostics never carry values
// of secret keys.
//
// Thread safety: single-threaded program. Limits: see probe.hpp.
#include <curl/curl.h>
#include <getopt.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/rfc5322.hpp"
#include "core/snapshot.hpp"
#include "probe/probe.hpp"

#ifndef PRM_VERSION
#define PRM_VERSION "unknown"
#endif

namespace prm::probe {
namespace {

struct Cli {
    std::string config = kDefaultConfigPath;
    std::string partner;
    bool json = false;
    bool all = false;
    ProbeOptions opts;
};

// The usage text (also for --help).
void usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: partner-relay-probe [-c FILE] PARTNER [--send-test RCPT] [--cafile FILE]\n"
                 "           [--json] [--timeout SECONDS] [--starttls | --implicit-tls]\n"
                 "           [--auth-mechanism PLAIN|LOGIN] [--helo NAME] [--force]\n"
                 "       partner-relay-probe [-c FILE] --all [options]\n"
                 "       partner-relay-probe -V\n"
                 "exit status: 0 ok, 1 internal, 2 usage, 3 config, 4 connect, 5 greeting,\n"
                 "             6 tls, 7 certificate, 8 auth, 9 send\n");
}

// A usage error: message, usage, exit 2.
[[noreturn]] void bad_usage(const std::string& why) {
    std::fprintf(stderr, "partner-relay-probe: %s\n", why.c_str());
    usage(stderr);
    std::exit(static_cast<int>(ExitCode::usage));
}

// Parse argv into a Cli; usage errors exit.
Cli parse_cli(int argc, char** argv) {
    enum { o_send = 256, o_cafile, o_json, o_all, o_timeout, o_starttls, o_implicit, o_mech, o_helo, o_force };
    static const option longopts[] = {
        {"config", required_argument, nullptr, 'c'},     {"send-test", required_argument, nullptr, o_send},
        {"cafile", required_argument, nullptr, o_cafile}, {"json", no_argument, nullptr, o_json},
        {"all", no_argument, nullptr, o_all},             {"timeout", required_argument, nullptr, o_timeout},
        {"starttls", no_argument, nullptr, o_starttls},   {"implicit-tls", no_argument, nullptr, o_implicit},
        {"auth-mechanism", required_argument, nullptr, o_mech}, {"helo", required_argument, nullptr, o_helo},
        {"force", no_argument, nullptr, o_force},
        {"help", no_argument, nullptr, 'h'},              {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0}};
    Cli cli;
    bool tls_flag = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", longopts, nullptr)) != -1) {
        std::string arg = optarg ? optarg : "";
        switch (c) {
            case 'c': cli.config = arg; break;
            case o_send:
                if (!valid_addr_spec(arg)) bad_usage("--send-test: not a valid address: " + arg);
                cli.opts.send_test = arg;
                break;
            case o_cafile: cli.opts.cafile = arg; break;
            case o_json: cli.json = true; break;
            case o_all: cli.all = true; break;
            case o_timeout: {
                char* end = nullptr;
                long t = std::strtol(arg.c_str(), &end, 10);
                if (arg.empty() || *end != '\0' || t < 1 || t > 3600)
                    bad_usage("--timeout wants seconds from 1 to 3600, got " + arg);
                cli.opts.timeout = static_cast<int>(t);
                break;
            }
            case o_starttls:
            case o_implicit:
                if (tls_flag) bad_usage("--starttls and --implicit-tls exclude each other");
                tls_flag = true;
                cli.opts.tls_mode = c == o_starttls ? TlsMode::starttls : TlsMode::implicit;
                break;
            case o_mech:
                for (auto& ch : arg) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
                if (arg != "PLAIN" && arg != "LOGIN") bad_usage("--auth-mechanism wants PLAIN or LOGIN");
                cli.opts.auth_mechanism = arg;
                break;
            case o_helo:
                if (arg.empty() || arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789.-[]:") != std::string::npos)
                    bad_usage("--helo wants a host name or address literal");
                cli.opts.helo_name = arg;
                break;
            case o_force:
                cli.opts.force = true;
                break;
            case 'h': usage(stdout); std::exit(0);
            case 'V': std::printf("partner-relay-probe %s\n", PRM_VERSION); std::exit(0);
            default: usage(stderr); std::exit(static_cast<int>(ExitCode::usage));
        }
    }
    int rest = argc - optind;
    if (cli.all && rest != 0) bad_usage("--all takes no PARTNER");
    if (!cli.all && rest != 1) bad_usage(rest == 0 ? "which PARTNER?" : "only one PARTNER, or --all");
    if (!cli.all) cli.partner = argv[optind];
    return cli;
}

// Append a JSON string value (or null when S is empty and NULL_IF_EMPTY).
void jstr(std::string& out, const std::string& s, bool null_if_empty = false) {
    if (null_if_empty && s.empty()) {
        out += "null";
        return;
    }
    out += '"' + json_escape(s) + '"';
}

// The token step as JSON: null when none was attempted; never the token.
std::string token_json(const TokenInfo& t) {
    if (!t.attempted) return "null";
    std::string o = std::string("{\"ok\":") + (t.ok ? "true" : "false") + ",\"endpoint\":";
    jstr(o, t.endpoint);
    o += ",\"http_status\":" + (t.http_status ? std::to_string(t.http_status) : std::string("null"));
    o += ",\"error\":";
    jstr(o, t.ok ? "" : t.error, true);
    o += ",\"code\":";
    jstr(o, t.code, true);
    o += ",\"description\":";
    jstr(o, t.description, true);
    o += ",\"expires_in\":" + (t.ok ? std::to_string(t.expires_in) : std::string("null"));
    o += std::string(",\"jwt\":") + (t.jwt ? "true" : "false") + ",\"roles\":";
    if (!t.jwt) return o + "null}";
    o += "[";
    for (std::size_t i = 0; i < t.roles.size(); ++i) {
        o += i ? "," : "";
        jstr(o, t.roles[i]);
    }
    return o + "]}";
}

// Print the result of a run that never reached a partner (bad config).
int report_config_errors(const Cli& cli, const Diags& errors) {
    std::string why;
    for (const auto& d : errors) why += (why.empty() ? "" : "; ") + d.str();
    if (!cli.json) {
        for (const auto& d : errors) std::fprintf(stderr, "partner-relay-probe: %s\n", d.str().c_str());
    } else if (cli.all) {
        std::string out = "{\"partners\":[],\"error\":";
        jstr(out, why);
        out += ",\"exit_code\":" + std::to_string(static_cast<int>(ExitCode::config)) + "}";
        std::puts(out.c_str());
    } else {
        std::puts(render_json(config_failure(cli.partner, why)).c_str());
    }
    return static_cast<int>(ExitCode::config);
}

// Print the load warnings (file mode, stray lines, main config), except the
// one line per inactive partner: every report shows that status itself.
void print_warnings(const prm::SnapshotResult& loaded) {
    for (const auto& d : loaded.warnings) {
        bool inactive_line = false;
        for (const auto& p : loaded.snapshot->partners.partners)
            if (!p.active && d.message.rfind("partner " + p.id + " inactive: ", 0) == 0) inactive_line = true;
        if (!inactive_line) std::fprintf(stderr, "partner-relay-probe: warning: %s\n", d.str().c_str());
    }
}

// Probe one partner by id.
int probe_one(const Cli& cli, const Snapshot& snap) {
    const Partner* p = snap.partners.find(cli.partner);
    ProbeResult r = p ? run_probe(snap, *p, cli.opts)
                      : config_failure(cli.partner, "unknown partner " + cli.partner + " in " + snap.partners.path);
    std::puts((cli.json ? render_json(r) : render_text(r)).c_str());
    return static_cast<int>(r.exit);
}

// Probe every active partner; the exit status is the highest.
int probe_all(const Cli& cli, const Snapshot& snap) {
    TokenCache tokens;  // partners of one application: one token request
    ProbeOptions opts = cli.opts;
    opts.tokens = &tokens;
    std::vector<ProbeResult> results;
    int worst = 0;
    for (const auto& p : snap.partners.partners) {
        if (!p.active) {
            ProbeResult r;
            r.partner = p.id;
            r.host = p.host;
            r.port = p.port ? *p.port : -1;
            r.tls_level = tls_level_name(p.tls);
            r.inactive_reason = p.reason;
            r.add("config", StepStatus::skip, "inactive (" + p.reason + "): not probed");
            r.exit = ExitCode::config;
            results.push_back(std::move(r));
            continue;
        }
        results.push_back(run_probe(snap, p, opts));
        worst = std::max(worst, static_cast<int>(results.back().exit));
    }
    if (cli.json) {
        std::string out = "{\"partners\":[";
        for (std::size_t i = 0; i < results.size(); ++i) out += (i ? "," : "") + render_json(results[i]);
        out += "],\"exit_code\":" + std::to_string(worst) + "}";
        std::puts(out.c_str());
    } else {
        std::fputs(render_table(results).c_str(), stdout);
    }
    return worst;
}

}  // namespace

// ---------------------------------------------------------------------------
// Rendering (declared in probe.hpp).

std::string json_escape(std::string_view s) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else if (c < 0x80) {
            out += static_cast<char>(c);
        } else {
            // Copy one well-formed UTF-8 sequence (no overlongs, no
            // surrogates, nothing above U+10FFFF), else emit U+FFFD.
            std::size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
            bool ok = n != 0 && i + n <= s.size();
            for (std::size_t k = 1; ok && k < n; ++k) {
                auto d = static_cast<unsigned char>(s[i + k]);
                unsigned lo = 0x80, hi = 0xbf;
                if (k == 1 && c == 0xe0) lo = 0xa0;
                if (k == 1 && c == 0xed) hi = 0x9f;
                if (k == 1 && c == 0xf0) lo = 0x90;
                if (k == 1 && c == 0xf4) hi = 0x8f;
                ok = d >= lo && d <= hi;
            }
            if (ok) {
                out.append(s.substr(i, n));
                i += n - 1;
            } else {
                out += "\\ufffd";
            }
        }
    }
    return out;
}

std::string sanitize(std::string_view text, const std::vector<std::string>& secrets, std::size_t max) {
    // Redact first: cutting first could leave a prefix of a secret behind.
    std::string s(text);
    for (const auto& secret : secrets) {
        if (secret.empty()) continue;
        for (auto pos = s.find(secret); pos != std::string::npos; pos = s.find(secret, pos + 10))
            s.replace(pos, secret.size(), "[redacted]");
    }
    for (auto& c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) c = '?';
    }
    if (s.size() > max) s = s.substr(0, max) + "...";
    return s;
}

std::string render_text(const ProbeResult& r) {
    std::string out = "partner " + r.partner;
    if (!r.host.empty()) {
        out += ": " + r.host + " port " + (r.port >= 0 ? std::to_string(r.port) : "?") + ", tls = " + r.tls_level +
               ", " + (r.tls_mode == "implicit" ? "implicit TLS" : "STARTTLS");
    }
    if (r.auth_kind == "oauth2") out += ", auth = oauth2";
    out += r.active || r.inactive_reason.empty() ? "" : " (inactive: " + r.inactive_reason + ")";
    out += "\n";
    for (const auto& s : r.steps) {
        char line[64];
        std::snprintf(line, sizeof line, "  %-12s %-5s ", s.name.c_str(), status_name(s.status));
        out += line + s.detail + "\n";
    }
    for (const auto& w : r.warnings) out += "warning: " + w + "\n";
    if (!r.diagnosis.what.empty()) out += "problem: " + r.diagnosis.what + "\nfix: " + r.diagnosis.fix + "\n";
    out += "result: " + std::string(exit_name(r.exit)) + " (exit " + std::to_string(static_cast<int>(r.exit)) + ")";
    if (r.exit == ExitCode::config && !r.failed())
        out += ": the relay answered, but the entry is inactive (" + r.inactive_reason + ")";
    return out;
}

std::string render_json(const ProbeResult& r) {
    std::string o = "{\"partner\":";
    jstr(o, r.partner);
    o += ",\"host\":";
    jstr(o, r.host, true);
    o += ",\"port\":" + (r.port >= 0 ? std::to_string(r.port) : "null");
    o += ",\"tls_level\":";
    jstr(o, r.tls_level, true);
    o += ",\"tls_mode\":";
    jstr(o, r.tls_mode, true);
    o += std::string(",\"active\":") + (r.active ? "true" : "false") + ",\"inactive_reason\":";
    jstr(o, r.inactive_reason, true);
    o += ",\"steps\":[";
    for (std::size_t i = 0; i < r.steps.size(); ++i) {
        o += (i ? ",{\"name\":" : "{\"name\":");
        jstr(o, r.steps[i].name);
        o += ",\"status\":";
        jstr(o, status_name(r.steps[i].status));
        o += ",\"detail\":";
        jstr(o, r.steps[i].detail);
        o += "}";
    }
    o += "],\"tls\":{\"version\":";
    jstr(o, r.tls_version, true);
    o += ",\"cipher\":";
    jstr(o, r.tls_cipher, true);
    const CertInfo& c = r.cert;
    o += std::string("},\"certificate\":{\"present\":") + (c.present ? "true" : "false") + ",\"subject\":";
    jstr(o, c.subject, true);
    o += ",\"issuer\":";
    jstr(o, c.issuer, true);
    o += ",\"notAfter\":";
    jstr(o, c.not_after, true);
    o += std::string(",\"verified\":") + (c.verified ? "true" : "false") + ",\"verify_error\":";
    jstr(o, c.verify_error, true);
    o += ",\"checked_name\":";
    jstr(o, c.checked_name, true);
    o += ",\"names\":[";
    for (std::size_t i = 0; i < c.names.size(); ++i) {
        o += i ? "," : "";
        jstr(o, c.names[i]);
    }
    o += "],\"common_name\":";
    jstr(o, c.common_name, true);
    o += ",\"sha256_fingerprint\":";
    jstr(o, c.sha256, true);
    o += ",\"days_left\":" + (c.present ? std::to_string(c.days_left) : std::string("null"));
    o += std::string(",\"expires_soon\":") + (c.expires_soon ? "true" : "false");
    o += "},\"warnings\":[";
    for (std::size_t i = 0; i < r.warnings.size(); ++i) {
        o += i ? "," : "";
        jstr(o, r.warnings[i]);
    }
    o += "],\"auth\":{\"kind\":";
    jstr(o, r.auth_kind);
    o += ",\"result\":";
    jstr(o, r.auth_result);
    o += ",\"mechanism\":";
    jstr(o, r.auth_mechanism, true);
    o += ",\"form\":";
    jstr(o, r.auth_form, true);
    o += ",\"user\":";
    jstr(o, r.auth_user, true);
    o += "},\"token\":" + token_json(r.token);
    o += ",\"diagnosis\":";
    if (r.diagnosis.what.empty()) {
        o += "null";
    } else {
        o += "{\"problem\":";
        jstr(o, r.diagnosis.what);
        o += ",\"fix\":";
        jstr(o, r.diagnosis.fix);
        o += "}";
    }
    o += ",\"message_id\":";
    jstr(o, r.message_id, true);
    o += ",\"result\":";
    jstr(o, exit_name(r.exit));
    o += ",\"exit_code\":" + std::to_string(static_cast<int>(r.exit)) + "}";
    return o;
}

std::string render_table(const std::vector<ProbeResult>& results) {
    std::vector<std::vector<std::string>> rows = {{"ID", "HOST:PORT", "TLS", "CERT", "AUTH", "RESULT"}};
    std::string notes;
    for (const auto& r : results) {
        // Cells without spaces, so that the table splits cleanly in awk(1).
        std::string host = r.host.find(':') != std::string::npos ? "[" + r.host + "]" : r.host;
        std::string hp = r.host.empty() ? "-" : host + ":" + (r.port >= 0 ? std::to_string(r.port) : "?");
        std::string tls = r.tls_level + "/" + (r.tls_version.empty() ? "-" : r.tls_version);
        std::string cert = !r.cert.present ? "-" : r.cert.verified ? "verified" : "unverified";
        if (r.cert.present) cert += "/" + std::to_string(r.cert.days_left) + "d";
        std::string result = r.inactive_reason.empty() || r.active ? exit_name(r.exit) : "inactive";
        std::string auth = r.auth_result == "not attempted" ? "-"
                           : r.auth_mechanism.empty() ? r.auth_result
                                                      : r.auth_result + "/" + r.auth_mechanism;
        rows.push_back({r.partner, hp, tls, cert, auth, result});
        for (const auto& s : r.steps)
            if (s.status == StepStatus::fail || (!r.active && s.status == StepStatus::skip))
                notes += r.partner + ": " + s.name + ": " + s.detail + "\n";
        for (const auto& w : r.warnings) notes += r.partner + ": warning: " + w + "\n";
        if (!r.diagnosis.what.empty()) notes += r.partner + ": fix: " + r.diagnosis.fix + "\n";
    }
    std::vector<std::size_t> w(rows[0].size(), 0);
    for (const auto& row : rows)
        for (std::size_t i = 0; i < row.size(); ++i) w[i] = std::max(w[i], row[i].size());
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i)
            line += row[i] + (i + 1 < row.size() ? std::string(w[i] - row[i].size() + 2, ' ') : "");
        out += line + "\n";
    }
    return notes.empty() ? out : out + "\n" + notes;
}

}  // namespace prm::probe

int main(int argc, char** argv) {
    using namespace prm::probe;
    // OpenSSL writes to the socket with write(2): a reset peer must be an
    // error return, not a fatal SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    Cli cli = parse_cli(argc, argv);
    // The token fetch of oauth2 partners (oauth/fetch.hpp) needs it once.
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        std::fprintf(stderr, "partner-relay-probe: cannot initialise libcurl\n");
        return static_cast<int>(ExitCode::internal);
    }

    prm::SnapshotResult loaded = prm::load_snapshot(cli.config);
    if (!loaded.snapshot) return report_config_errors(cli, loaded.errors);
    if (!cli.json) print_warnings(loaded);
    // [milter] relay_cafile, as the partner transports use it, unless --cafile.
    if (cli.opts.cafile.empty()) cli.opts.cafile = loaded.snapshot->config.relay_cafile;
    return cli.all ? probe_all(cli, *loaded.snapshot) : probe_one(cli, *loaded.snapshot);
}
