// glue.hpp - the thin libmilter layer: callbacks, negotiation, the socket.
//
// What: registers the filter with libmilter, opens the listening socket
// (removing a stale UNIX socket safely), and runs smfi_main(). The callbacks
// collect connection and message facts and hand them to the daemon's
// per-message path (daemon.hpp finish_message) at end of message.
// glue.cpp is the only file of the project that includes <libmilter/mfapi.h>.
//
// Contract: glue_set_env() before glue_open(); the environment outlives
// glue_run(). Every callback catches every exception and maps it to the
// snapshot's on_error action (accept or tempfail).
//
// Thread safety: libmilter runs one thread per connection; per-connection
// state lives in an object owned through smfi_setpriv, shared state is the
// atomic snapshot holder and the thread-safe counters.
#pragma once

#include <atomic>
#include <string>

#include "core/counters.hpp"
#include "core/snapshot.hpp"

namespace prm {

// What the callbacks share with the daemon. Not owned by the glue.
struct GlueEnv {
    SnapshotHolder* holder = nullptr;
    Counters* counters = nullptr;
    std::atomic<bool>* stopping = nullptr;  // set at SIGTERM: new messages tempfail
};

// Install ENV for the callbacks (once, before glue_open).
void glue_set_env(GlueEnv* env);

// The mode of a UNIX socket (through the umask at its creation) and the user
// it is created as, when the daemon starts as root (never a chown by path).
struct SocketPerms {
    unsigned mode = 0660;
    long uid = -1;  // -1: leave the owner alone
    long gid = -1;
};

// Register the filter and open SOCKET (libmilter syntax). A stale UNIX
// socket (nobody listening) is removed; a live one or a non-socket file at
// that path is an error. Returns false with ERR filled.
bool glue_open(const std::string& socket, const SocketPerms& perms, std::string& err);

// Run libmilter's accept loop until SIGTERM/SIGHUP (stop) or SIGINT (abort).
// Returns true on a clean stop.
bool glue_run();

// Ask libmilter to stop accepting (as SIGTERM would).
void glue_stop();

// "libmilter 1.0.2" for -V.
std::string glue_version();

// Remove the UNIX socket file of SOCKET, if it is one (at exit).
void glue_remove_socket(const std::string& socket);

}  // namespace prm
