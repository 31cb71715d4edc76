// asuser.hpp - act as another user for a while: effective ids and groups.
//
// What: EffectiveUser switches the effective uid, gid and the supplementary
// groups of a root process to a target user, and back to root when it is
// destroyed. The daemon creates its UNIX socket this way when it starts as
// root with a user (issue 17, finding 1): the kernel then creates the socket
// owned by that user, with the mode the umask gives, and root never changes
// the mode or owner of anything by path in a directory the user can write
// (where a symlink renamed over the fresh socket would redirect a chmod or
// chown to any root-owned file).
//
// Contract: enter() only from a root process (euid 0), before any thread
// exists (ids are per process in glibc, but a switch while other threads
// run would change what they may do). Leaving restores euid 0, the saved
// egid and groups; a failure to restore aborts (it cannot happen for root,
// and a half-switched process must not go on).
// Thread safety: not thread safe (process-wide state).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace prm {

// Effective ids of a target user for the life of the object.
class EffectiveUser {
public:
    EffectiveUser() = default;
    EffectiveUser(const EffectiveUser&) = delete;
    EffectiveUser& operator=(const EffectiveUser&) = delete;
    ~EffectiveUser();

    // Become UID:GID (supplementary groups: GID only). False with ERR filled
    // when a step fails; what was already changed is undone.
    bool enter(uid_t uid, gid_t gid, std::string& err);

private:
    void leave() noexcept;
    bool entered_ = false;
    gid_t saved_egid_ = 0;
    std::vector<gid_t> saved_groups_;
};

}  // namespace prm
