// partners_lookup.cpp - PartnerTable::by_sender, the reverse sender lookup.
//
// Contract: returns the first partner, in file order, whose configured
// sender equals ADDR after both are normalized (domain lower-cased; local
// parts stay case-sensitive), or nullptr. Active and inactive partners are
// both considered: the result only names the partner for accounting.
//
// Why a scan: it is needed only on the fallback listener (mail that a
// partner relay refused), which is rare next to submission traffic, and it
// keeps this additive helper outside partners.cpp and its private maps.
// Cost is O(partners) per fallback message.
//
// Thread safety: reads an immutable table.
#include "core/partners.hpp"
#include "core/rfc5322.hpp"

namespace prm {

// The first partner whose sender is ADDR, or nullptr.
const Partner* PartnerTable::by_sender(std::string_view addr) const {
    if (addr.empty()) return nullptr;
    std::string want = normalize_address(addr);
    for (const Partner& p : partners)
        if (!p.sender.empty() && normalize_address(p.sender) == want) return &p;
    return nullptr;
}

}  // namespace prm
