// categories.cpp - the category registry and the compiled classification rules.
//
// What: the built-in registry (DESIGN.md rule 4: eleven eligible categories,
// plus "unclassified", always global), site overrides, and classification
// rules compiled once with POSIX regcomp(3).
//
// Why POSIX regex and not std::regex: libstdc++'s std::regex matches
// recursively and overflows the stack on long input; regexec(3) does not,
// and it is what Postfix regexp tables use, so admins get the same dialect
// (extended syntax, case-insensitive).
//
// Thread safety: a registry and a compiled rule are immutable after
// construction; regexec(3) on a shared regex_t is thread-safe.
// Limits: a rule looks at the first kMaxMatchBytes bytes of its input; its
// expression may expand to at most kMaxRegexCost atoms (ere_cost()).
#include "core/categories.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace prm {
namespace {

// Input beyond this is not looked at by a rule (bounds regexec time).
constexpr std::size_t kMaxMatchBytes = 16 * 1024;

// Bound of ere_cost(): a rule's expression may expand to this many atoms.
constexpr std::size_t kMaxRegexCost = 10000;

// Saturating product and sum (everything above the bound is "too much").
std::size_t cap(std::size_t v) { return v > kMaxRegexCost ? kMaxRegexCost + 1 : v; }

// The count of a "{n}", "{n,}" or "{n,m}" at P[I] ('{'); I ends after '}'.
// An unparsable brace counts as one copy (regcomp rejects it anyway).
std::size_t brace_count(std::string_view p, std::size_t& i) {
    std::size_t n = 0, m = 0, j = i + 1;
    bool comma = false;
    for (; j < p.size() && p[j] != '}'; j++) {
        if (p[j] == ',')
            comma = true;
        else if (p[j] >= '0' && p[j] <= '9')
            (comma ? m : n) = cap((comma ? m : n) * 10 + (p[j] - '0'));
        else
            return i++, 1;
    }
    i = j < p.size() ? j + 1 : j;
    return comma ? (m ? m : n + 1) : n;
}

// An upper bound of the atoms regcomp(3) builds for the extended regex P.
// Why: glibc expands "X+" to "XX*" and "X{n,m}" to m copies of X, so
// stacked or nested repetitions grow exponentially (fuzz finding F: 20
// stacked '+' took 700 MB and 22 exhausted 1 GB).
std::size_t ere_cost(std::string_view p) {
    struct Frame {
        std::size_t total = 0, last = 0;
    };
    std::vector<Frame> st(1);
    bool after_repetition = false;
    for (std::size_t i = 0; i < p.size();) {
        char c = p[i];
        Frame& f = st.back();
        std::size_t mult = 0;
        if (c == '*' || c == '?') mult = 1;
        if (c == '+') mult = 2;
        // Stacked repetitions ("a*+", "a+*?", "a{2}*") are undefined in
        // POSIX EREs and make glibc's epsilon closures explode even when the
        // atom count stays small (fuzz finding I: "/*****+++++" took more
        // than 2 GB): refused as too complex.
        if ((mult || c == '{') && after_repetition) return kMaxRegexCost + 1;
        after_repetition = mult || c == '{';
        if (c == '{')
            mult = brace_count(p, i);
        else if (mult)
            i++;
        if (mult || c == '{') {
            f.total = cap(f.total + cap(f.last * (mult ? mult - 1 : 0)));
            f.last = cap(f.last * std::max<std::size_t>(mult, 1));
            continue;
        }
        if (c == '(') {
            st.emplace_back();
            i++;
            continue;
        }
        if (c == ')' && st.size() > 1) {
            std::size_t inner = std::max<std::size_t>(st.back().total, 1);
            st.pop_back();
            st.back().total = cap(st.back().total + inner);
            st.back().last = inner;
            i++;
            continue;
        }
        if (c == '[') {  // a bracket expression is one atom: skip to its ']'
            std::size_t j = i + 1;
            if (j < p.size() && p[j] == '^') j++;
            if (j < p.size() && p[j] == ']') j++;
            while (j < p.size() && p[j] != ']') j += (p[j] == '[' && j + 1 < p.size()) ? 2 : 1;
            i = j + 1;
        } else {
            i += (c == '\\' && i + 1 < p.size()) ? 2 : 1;
        }
        f.total = cap(f.total + 1);
        f.last = c == '|' ? 0 : 1;
    }
    std::size_t total = 0;
    for (const Frame& f : st) total = cap(total + f.total);
    return total;
}

// The product brief's eligible categories, in its order.
const Category kBuiltin[] = {
    {"verification-link", Eligibility::eligible,
     "verification link emails sent to clients in KYC and KYB flows"},
    {"verification-url", Eligibility::eligible, "verification URL dispatch"},
    {"kyb-info-request", Eligibility::eligible, "KYB \"request more info\" emails"},
    {"kyb-expiration-extension", Eligibility::eligible, "KYB expiration extension reminders"},
    {"custom", Eligibility::eligible, "custom ad-hoc emails sent via the notification/admin APIs"},
    {"verification-result", Eligibility::eligible,
     "verification result notifications (approved, declined, expired, resubmitted)"},
    {"aml-alert", Eligibility::eligible, "AML monitoring alerts"},
    {"expiration-reminder", Eligibility::eligible, "document and company expiration reminders"},
    {"webhook-failure", Eligibility::eligible, "webhook failure alerts"},
    {"finance-report", Eligibility::eligible, "finance reports"},
    {"admin-notification", Eligibility::eligible, "internal admin notifications"},
};

// A header name: printable ASCII except ':' (RFC 5322 ftext), bounded.
bool valid_rule_header(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= 33 && c <= 126 && c != ':'; });
}

}  // namespace

// The built-in registry plus "unclassified".
CategoryRegistry CategoryRegistry::defaults() {
    CategoryRegistry r;
    for (const Category& c : kBuiltin) r.categories_.push_back(c);
    r.categories_.push_back(Category{std::string(kUnclassified), Eligibility::global,
                                     "messages no header or rule classified"});
    return r;
}

// Add a category or change its eligibility.
bool CategoryRegistry::set(const std::string& id, Eligibility e) {
    if (!valid_category_id(id)) return false;
    if (id == kUnclassified && e == Eligibility::eligible) return false;
    for (Category& c : categories_) {
        if (c.id == id) {
            c.eligibility = e;
            return true;
        }
    }
    categories_.push_back(Category{id, e, ""});
    return true;
}

// Look a category up by id (registries are small: a linear scan is enough).
const Category* CategoryRegistry::find(std::string_view id) const {
    for (const Category& c : categories_)
        if (c.id == id) return &c;
    return nullptr;
}

// True when ID is known and eligible for partner relays.
bool CategoryRegistry::eligible(std::string_view id) const {
    const Category* c = find(id);
    return c != nullptr && c->eligibility == Eligibility::eligible;
}

// 1-64 chars of a-z0-9._- (they appear in headers, logs and metric labels).
bool valid_category_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    });
}

// Parse and compile one "header:NAME:REGEX" or "sender:REGEX" rule.
std::shared_ptr<const ClassifyRule> ClassifyRule::compile(const std::string& category,
                                                          const std::string& spec,
                                                          std::string& err) {
    // The constructor is private, so make_shared cannot be used here.
    std::shared_ptr<ClassifyRule> rule(new ClassifyRule());
    rule->category_ = category;
    rule->spec_ = spec;

    std::string_view s = spec;
    std::string pattern;
    if (s.substr(0, 7) == "header:") {
        std::string_view rest = s.substr(7);
        std::size_t colon = rest.find(':');
        if (colon == std::string_view::npos) {
            err = "expected header:NAME:REGEX";
            return nullptr;
        }
        rule->kind_ = Kind::header;
        rule->header_ = std::string(rest.substr(0, colon));
        if (!valid_rule_header(rule->header_)) {
            err = "invalid header name '" + rule->header_ +
                  "' (printable ASCII without ':', at most 64)";
            return nullptr;
        }
        pattern = std::string(rest.substr(colon + 1));
    } else if (s.substr(0, 7) == "sender:") {
        rule->kind_ = Kind::sender;
        pattern = std::string(s.substr(7));
    } else {
        err = "expected header:NAME:REGEX or sender:REGEX";
        return nullptr;
    }
    if (pattern.empty()) {
        err = "empty regular expression";
        return nullptr;
    }

    if (ere_cost(pattern) > kMaxRegexCost) {
        err =
            "regular expression too complex (nested or stacked repetitions expand to more "
            "than " +
            std::to_string(kMaxRegexCost) + " atoms)";
        return nullptr;
    }
    int rc = regcomp(&rule->re_, pattern.c_str(), REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (rc != 0) {
        char buf[256];
        regerror(rc, &rule->re_, buf, sizeof buf);
        err = "bad regular expression '" + pattern + "': " + buf;
        return nullptr;
    }
    rule->compiled_ = true;
    return rule;
}

ClassifyRule::~ClassifyRule() {
    if (compiled_) regfree(&re_);
}

// Match the (bounded) TEXT against the rule's expression.
bool ClassifyRule::matches(std::string_view text) const {
    if (!compiled_) return false;
    // regexec needs a NUL-terminated string; the copy is also the bound.
    std::string bounded(text.substr(0, kMaxMatchBytes));
    return regexec(&re_, bounded.c_str(), 0, nullptr, 0) == 0;
}

}  // namespace prm
