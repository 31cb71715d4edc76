// actions.hpp - applying a decision's edits to an MTA, behind an interface.
//
// MtaActions is implemented once over libmilter (src/milter/glue.cpp) and
// once as RecordingActions, a fake that records each call as a text line,
// used by the tests and by `partner-relay-milter -t`.
#pragma once

#include <string>
#include <vector>

#include "core/decide.hpp"

namespace prm {

class MtaActions {
public:
    virtual ~MtaActions() = default;
    virtual bool add_header(const std::string& name, const std::string& value) = 0;
    // VALUE null deletes the INDEX-th header called NAME.
    virtual bool change_header(const std::string& name, int index, const std::string* value) = 0;
    virtual bool change_sender(const std::string& address, const std::string& args) = 0;
    // Recipient edits (Sendmail partner routes); an MTA without them fails.
    virtual bool delete_rcpt(const std::string&) { return false; }
    virtual bool add_rcpt(const std::string&, const std::string&) { return false; }
};

// Apply EDITS in order. Returns false at the first failure and names the
// failing edit in FAILED.
bool apply_edits(const std::vector<Edit>& edits, MtaActions& mta, std::string& failed);

class RecordingActions : public MtaActions {
public:
    std::vector<std::string> lines;
    bool add_header(const std::string& name, const std::string& value) override;
    bool change_header(const std::string& name, int index, const std::string* value) override;
    bool change_sender(const std::string& address, const std::string& args) override;
    bool delete_rcpt(const std::string& rcpt) override;
    bool add_rcpt(const std::string& rcpt, const std::string& args) override;
};

}  // namespace prm
