// publish.hpp - put a validated snapshot in place on this host, in the safe order.
//
// What: (1) the Postfix tables (credentials and TLS policy of new and
// changed partners, plus those of removed partners still in their grace
// period) through the tables tool's own install_tables(); (2) the partner
// file, atomically (temporary file, fsync, rename, fsync of the directory),
// mode 0600, owned by the milter's user; (3) the state file; (4) SIGUSR1 to
// the milter and to the token broker (their pid files). A step that fails
// stops the ones after it, so the milter never routes to a partner whose
// credentials Postfix does not have yet.
//
// Contract: nothing here prints a table value. Errors are texts naming the
// file and the step.
//
// Thread safety: none needed (one sync loop). Limits: those of install_tables().
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "sync/plan.hpp"
#include "sync/rows.hpp"

namespace prm {

struct PublishResult {
    bool ok = false;
    std::string error;
    std::vector<KeptEntry> state;  // the new state (already written when ok)
    std::size_t sasl = 0, tls = 0, kept = 0, expired = 0;
    std::vector<std::string> notes;  // non-fatal: a pid file missing, ...
};

// Publish BUILT (version VERSION) over the PREVIOUS state at NOW.
PublishResult publish(const Config& cfg, const BuiltPartners& built, std::int64_t version,
                      const std::vector<KeptEntry>& previous, std::time_t now);

// The grace period in seconds: [sync] grace, else Postfix's maximal_queue_lifetime.
long grace_seconds(const Config& cfg);

// Write TEXT to PATH atomically with MODE, owned by USER when we are root.
bool write_file_atomic(const std::string& path, const std::string& text, unsigned mode,
                       const std::string& user, std::string& err);

// Send SIGUSR1 to the pid in PIDFILE; false with ERR when it cannot.
bool signal_pidfile(const std::string& pidfile, std::string& err);

// The state file of CFG: its path, and reading it (false: none or unreadable).
std::string state_path(const Config& cfg);
bool read_state(const Config& cfg, std::int64_t& version, std::vector<KeptEntry>& state,
                std::string& err);

}  // namespace prm
