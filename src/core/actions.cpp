// actions.cpp - applying a decision's edits through the MtaActions interface.
//
// Contract: apply_edits() calls the MTA once per edit, in the order the
// decision lists them (deletions first, in descending index order, then the
// additions and changes; see decide.cpp), and stops at the first failure so
// that a half-applied partner route is reported, never silently continued.
// RecordingActions records each call as the line describe() gives for the
// same edit, so tests and `-t` print exactly what the daemon would do.
//
// Thread safety: apply_edits is reentrant; a RecordingActions object is not
// shared between threads.
#include "core/actions.hpp"

namespace prm {

// Apply EDITS in order; on failure name the failing edit in FAILED.
bool apply_edits(const std::vector<Edit>& edits, MtaActions& mta, std::string& failed) {
    failed.clear();
    for (const Edit& e : edits) {
        bool ok = false;
        switch (e.op) {
        case Edit::Op::add_header:
            ok = mta.add_header(e.name, e.value);
            break;
        case Edit::Op::delete_header:
            ok = mta.change_header(e.name, e.index, nullptr);
            break;
        case Edit::Op::change_header:
            ok = mta.change_header(e.name, e.index, &e.value);
            break;
        case Edit::Op::change_sender:
            ok = mta.change_sender(e.value, e.args);
            break;
        case Edit::Op::delete_rcpt:
            ok = mta.delete_rcpt(e.value);
            break;
        case Edit::Op::add_rcpt:
            ok = mta.add_rcpt(e.value, e.args);
            break;
        }
        if (!ok) {
            failed = describe(e);
            return false;
        }
    }
    return true;
}

// Record an added header.
bool RecordingActions::add_header(const std::string& name, const std::string& value) {
    Edit e;
    e.op = Edit::Op::add_header;
    e.name = name;
    e.value = value;
    lines.push_back(describe(e));
    return true;
}

// Record a changed header, or a deleted one when VALUE is null.
bool RecordingActions::change_header(const std::string& name, int index, const std::string* value) {
    Edit e;
    e.op = value ? Edit::Op::change_header : Edit::Op::delete_header;
    e.name = name;
    e.index = index;
    if (value) e.value = *value;
    lines.push_back(describe(e));
    return true;
}

// Record an envelope sender change.
bool RecordingActions::change_sender(const std::string& address, const std::string& args) {
    Edit e;
    e.op = Edit::Op::change_sender;
    e.value = address;
    e.args = args;
    lines.push_back(describe(e));
    return true;
}

// Record a deleted recipient.
bool RecordingActions::delete_rcpt(const std::string& rcpt) {
    Edit e;
    e.op = Edit::Op::delete_rcpt;
    e.value = rcpt;
    lines.push_back(describe(e));
    return true;
}

// Record an added recipient with its ESMTP parameters.
bool RecordingActions::add_rcpt(const std::string& rcpt, const std::string& args) {
    Edit e;
    e.op = Edit::Op::add_rcpt;
    e.value = rcpt;
    e.args = args;
    lines.push_back(describe(e));
    return true;
}

}  // namespace prm
