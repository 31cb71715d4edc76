// rows.cpp - database rows to a validated partner table (see rows.hpp).
//
// How: each row becomes one INI section ("[id]" and "key = value" lines),
// the whole text is parsed with parse_ini_text() and validated with
// load_partners_ini(), as the milter will do with the file. Before that,
// values that cannot go into a line are left out and their partner marked;
// after it, every parsed value is compared with the row's, so whatever the
// reader would change (trimmed blanks, a " ;" comment) is caught too.
//
// Thread safety: pure. Limits: see rows.hpp.
#include "sync/rows.hpp"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "core/ini.hpp"

namespace prm {
namespace {

constexpr const char* kSource = "partner database";

// One rendered row: its section text and which line holds which column.
struct Rendered {
    std::size_t row = 0;
    int section_line = 0;
    std::string text;
    Diags problems;  // found before parsing: values left out
};

// Why VALUE cannot be a line of the partner file, or "".
std::string unwritable(const std::string& key, const std::string& value) {
    for (char c : value) {
        auto u = static_cast<unsigned char>(c);
        if (u < 32 || u == 127)
            return "column " + key + " holds a control character (CR, LF, NUL or another); "
                   "the partner file cannot carry it";
    }
    std::size_t line = key.size() + 3 + value.size();
    if (line > kMaxIniLine)
        return "column " + key + " is " + std::to_string(value.size()) +
               " bytes long; a partner file line holds at most " + std::to_string(kMaxIniLine) +
               " bytes";
    return "";
}

// Render every row with a valid id; note the others in OUT.rejected.
std::vector<Rendered> render(const RowSet& rows, std::size_t id_col, long enabled_col,
                             BuiltPartners& out, std::unordered_map<int, std::pair<std::size_t, std::size_t>>& at) {
    std::vector<Rendered> rendered;
    rendered.reserve(rows.rows.size());
    int line = 0;
    for (std::size_t r = 0; r < rows.rows.size(); r++) {
        const auto& row = rows.rows[r];
        if (enabled_col >= 0) {
            const auto& en = row[static_cast<std::size_t>(enabled_col)];
            if (en && (*en == "f" || *en == "false" || *en == "0")) continue;
        }
        const auto& id = row[id_col];
        if (!id || !valid_partner_id(*id)) {
            out.rejected.push_back(
                "row with id " + (id ? "'" + printable(*id) + "'" : std::string("NULL")) +
                " ignored: invalid partner id (expected 1-64 characters of a-z, 0-9, '.', '_', '-')");
            continue;
        }
        Rendered rd;
        rd.row = r;
        rd.text = "[" + *id + "]\n";
        rd.section_line = ++line;
        for (std::size_t c = 0; c < rows.columns.size(); c++) {
            if (c == id_col || static_cast<long>(c) == enabled_col || !row[c]) continue;
            const std::string& key = rows.columns[c];
            std::string why = unwritable(key, *row[c]);
            if (!why.empty()) {
                rd.problems.push_back(Diag{kSource, rd.section_line, *id, key, why});
                continue;
            }
            rd.text += key + " = " + *row[c] + "\n";
            at[++line] = {r, c};
        }
        rendered.push_back(std::move(rd));
    }
    return rendered;
}

// Compare each parsed value with its row's; a difference is a problem.
void check_round_trip(const IniFile& ini, const RowSet& rows,
                      const std::unordered_map<int, std::pair<std::size_t, std::size_t>>& at,
                      std::unordered_map<std::size_t, Diags>& problems) {
    std::unordered_map<int, const IniEntry*> parsed;
    for (const IniEntry& e : ini.entries) parsed[e.line] = &e;
    for (const auto& [line, rc] : at) {
        auto it = parsed.find(line);
        const std::string& key = rows.columns[rc.second];
        const std::string& want = *rows.rows[rc.first][rc.second];
        if (it != parsed.end() && it->second->key == key && it->second->value == want) continue;
        problems[rc.first].push_back(
            Diag{kSource, line, "", key,
                 "column " + key + " would not read back unchanged from the partner file "
                 "(leading or trailing blanks, or an inline ' ;' comment)"});
    }
}

}  // namespace

// ID with unprintable bytes escaped.
std::string printable(const std::string& id) {
    std::string out;
    for (char c : id.substr(0, 80)) {
        auto u = static_cast<unsigned char>(c);
        if (u < 32 || u >= 127 || c == '\\') {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    return id.size() > 80 ? out + "..." : out;
}

// Rows -> INI text -> the core's validation; see the file header.
BuiltPartners build_partners(const RowSet& rows, const Config& cfg, const HostResolver* resolve) {
    BuiltPartners out;
    long id_col = -1, enabled_col = -1;
    for (std::size_t c = 0; c < rows.columns.size(); c++) {
        if (rows.columns[c] == "id") id_col = static_cast<long>(c);
        if (rows.columns[c] == "enabled") enabled_col = static_cast<long>(c);
    }
    if (id_col < 0) {
        out.error = "the query returns no id column";
        return out;
    }

    std::unordered_map<int, std::pair<std::size_t, std::size_t>> at;  // line -> (row, column)
    std::vector<Rendered> rendered = render(rows, static_cast<std::size_t>(id_col), enabled_col, out, at);
    std::string text;
    for (const Rendered& rd : rendered) text += rd.text;
    IniFile ini = parse_ini_text(kSource, text);
    for (const Diag& d : ini.errors)
        if (d.line == 0) return out.error = d.message, out;

    std::unordered_map<std::size_t, Diags> late;
    check_round_trip(ini, rows, at, late);
    out.table = load_partners_ini(ini, cfg);
    for (const Diag& d : out.table.errors) return out.error = d.str(), out;

    // Sections and rendered rows are in the same order: add our own findings.
    for (std::size_t i = 0; i < out.table.partners.size() && i < rendered.size(); i++) {
        Partner& p = out.table.partners[i];
        Diags extra = rendered[i].problems;
        auto it = late.find(rendered[i].row);
        if (it != late.end()) extra.insert(extra.end(), it->second.begin(), it->second.end());
        if (extra.empty()) continue;
        // A value we left out is not "missing": say why it was left out.
        Diags kept;
        for (const Diag& d : p.problems) {
            bool omitted = std::any_of(extra.begin(), extra.end(),
                                       [&](const Diag& x) { return x.key == d.key; });
            if (!(omitted && d.message == "missing " + d.key)) kept.push_back(d);
        }
        for (Diag& d : extra) d.section = p.id;
        kept.insert(kept.end(), extra.begin(), extra.end());
        p.problems = std::move(kept);
        p.active = false;
        p.reason.clear();
        for (const Diag& d : p.problems) p.reason += (p.reason.empty() ? "" : "; ") + d.message;
    }
    if (resolve)
        guard_partner_hosts(out.table, cfg, out.warnings, *resolve);
    else
        guard_partner_hosts(out.table, cfg, out.warnings);
    out.table.index();

    for (std::size_t i = 0; i < out.table.partners.size() && i < rendered.size(); i++)
        if (out.table.partners[i].active) out.file_text += rendered[i].text;
    out.ok = true;
    return out;
}

}  // namespace prm
