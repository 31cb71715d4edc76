// categories.hpp - the email category registry and classification rules.
//
// The registry maps a category id to its eligibility for partner relays. The
// built-in default is the eleven eligible categories of the product brief;
// `[categories]` in the main config adds categories or overrides
// eligibility. "unclassified" always exists and is always global.
//
// Classification rules (`[classify]`, in file order) give a category to a
// message that carries no trusted category header: POSIX extended regular
// expressions, case-insensitive, on a named header's value or on the
// envelope sender. First match wins.
//
// Thread safety: immutable after construction; regexec on a compiled regex_t
// is thread-safe.
#pragma once

#include <regex.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/diag.hpp"

namespace prm {

inline constexpr std::string_view kUnclassified = "unclassified";

enum class Eligibility { eligible, global };

struct Category {
    std::string id;
    Eligibility eligibility = Eligibility::global;
    std::string description;  // built-in ones only
};

class CategoryRegistry {
public:
    // The built-in default registry (DESIGN.md rule 4) plus "unclassified".
    static CategoryRegistry defaults();

    // Add or override a category. "unclassified" cannot be made eligible:
    // returns false then.
    bool set(const std::string& id, Eligibility e);

    const Category* find(std::string_view id) const;
    bool known(std::string_view id) const { return find(id) != nullptr; }
    bool eligible(std::string_view id) const;
    const std::vector<Category>& all() const { return categories_; }

private:
    std::vector<Category> categories_;
};

// A category id is 1-64 chars of a-z0-9._- (lower case).
bool valid_category_id(std::string_view id);

// One compiled classification rule.
class ClassifyRule {
public:
    enum class Kind { header, sender };

    // Parse "header:NAME:REGEX" or "sender:REGEX" for CATEGORY. On error
    // returns nullptr and fills ERR with the reason.
    static std::shared_ptr<const ClassifyRule> compile(const std::string& category,
                                                       const std::string& spec,
                                                       std::string& err);
    ~ClassifyRule();
    ClassifyRule(const ClassifyRule&) = delete;
    ClassifyRule& operator=(const ClassifyRule&) = delete;

    Kind kind() const { return kind_; }
    const std::string& header() const { return header_; }
    const std::string& category() const { return category_; }
    const std::string& spec() const { return spec_; }
    bool matches(std::string_view text) const;

private:
    ClassifyRule() = default;
    Kind kind_ = Kind::sender;
    std::string header_, category_, spec_;
    regex_t re_{};
    bool compiled_ = false;
};

using ClassifyRules = std::vector<std::shared_ptr<const ClassifyRule>>;

}  // namespace prm
