// asuser.cpp - act as another user for a while (see asuser.hpp).
//
// Order: groups and gid while still root (setgroups and setegid need the
// privilege), then the uid; back: the uid first, then gid and groups.
// Limits: Linux/glibc; the saved set-user-ID stays 0 so the switch back works.
#include "milter/asuser.hpp"

#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace prm {

// Become UID:GID; undo on failure.
bool EffectiveUser::enter(uid_t uid, gid_t gid, std::string& err) {
    if (entered_ || geteuid() != 0) return (err = "EffectiveUser::enter: not root", false);
    int n = getgroups(0, nullptr);
    if (n < 0) return (err = std::string("getgroups: ") + std::strerror(errno), false);
    saved_groups_.assign(static_cast<std::size_t>(n), 0);
    if (n > 0 && getgroups(n, saved_groups_.data()) != n)
        return (err = std::string("getgroups: ") + std::strerror(errno), false);
    saved_egid_ = getegid();
    entered_ = true;  // from here leave() restores whatever was changed
    if (setgroups(1, &gid) != 0) err = std::string("setgroups: ") + std::strerror(errno);
    else if (setegid(gid) != 0) err = std::string("setegid: ") + std::strerror(errno);
    else if (seteuid(uid) != 0) err = std::string("seteuid: ") + std::strerror(errno);
    else return true;
    leave();
    return false;
}

// Back to root with the saved gid and groups; abort when that fails.
void EffectiveUser::leave() noexcept {
    if (!entered_) return;
    entered_ = false;
    if (seteuid(0) != 0 || setegid(saved_egid_) != 0 ||
        setgroups(saved_groups_.size(), saved_groups_.data()) != 0) {
        std::fprintf(stderr, "EffectiveUser::leave: cannot become root again: %s\n",
                     std::strerror(errno));
        std::abort();
    }
}

EffectiveUser::~EffectiveUser() { leave(); }

}  // namespace prm
