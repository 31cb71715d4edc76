// reach.hpp - warn when Postfix could not connect to the milter's socket.
//
// What: gathers the facts core/reach.hpp decides on: the postfix user
// ([milter] postfix_user, getpwnam) and the stat of the UNIX socket and of
// every directory above it (canonical path), and turns each problem into a
// warning for the start-up log and the -n report. A socket Postfix cannot
// reach costs no mail (milter_default_action = accept) but routes nothing:
// every message leaves through the global relay, which nobody notices
// without this warning (issue 14 point 4).
//
// Contract: no warning for inet sockets, for mta = sendmail (Sendmail's
// daemon connects as root) or for an empty postfix_user; one warning when
// that user does not exist (then nothing else is checked). With PREDICTED
// set (-n, before the daemon made the socket) the socket is judged as the
// daemon would create it; otherwise the file at the path is.
//
// Thread safety: call from one thread (getpwnam_r, stat only).
#pragma once

#include <optional>
#include <string>

#include "core/config.hpp"
#include "core/diag.hpp"

namespace prm {

// The socket the daemon creates: its mode and owner.
struct SocketPlan {
    unsigned mode = 0660;
    long uid = 0;
    long gid = 0;
};

// Warnings about Postfix reaching SOCKET (a libmilter spec) under CFG.
Diags socket_reach_warnings(const Config& cfg, const std::string& socket,
                            const std::optional<SocketPlan>& predicted);

}  // namespace prm
