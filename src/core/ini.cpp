// ini.cpp - read an INI file with inih, keeping file, line, section and order.
//
// What: Debian's libinih calls its handler without a line number, does not
// report empty sections, truncates section names to 49 bytes and silently
// splits or drops lines longer than its 200-byte buffer. We therefore feed
// ini_parse_stream() through our own fgets-like reader that sees every line
// first: it counts lines, classifies each line exactly as inih will (comment,
// continuation, section, key = value, error), records every section header
// with its full name, and replaces an over-long or NUL-carrying line by a
// harmless one after recording an error that names the line.
//
// Contract: entries come out in file order with the section and line they
// were written on. A continuation line (leading whitespace after a key,
// inih's multi-line values) is an error on the key's line, "KEY value
// continues on line N: an indented line?", and is never joined: no value holds a line
// break, so no message echoing a value can carry the next line (a password
// after an indented "password =" line, issue 17). Every syntax error is
// reported, not only inih's first one.
//
// Thread safety: pure; all state lives in one ReadState per call.
// Limits: kMaxIniBytes per file; lines as long as inih's buffer allows.
#include "core/ini.hpp"

#include <fcntl.h>
#include <ini.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace prm {
namespace {

// How inih will treat the line our reader just handed to it.
enum class LineKind { other, continuation, pair };

// Everything the reader and the handler share while one file is parsed.
struct ReadState {
    std::string_view text;
    std::size_t pos = 0;
    int lineno = 0;
    IniFile* out = nullptr;
    std::string section;     // current section, full name
    bool prev_name = false;  // mirrors inih's "prev_name is not empty"
    LineKind kind = LineKind::other;
    std::vector<int> error_lines;  // lines we already reported
};

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// Record a syntax error on the current line.
void line_error(ReadState& st, const std::string& message) {
    st.out->errors.push_back(Diag{st.out->path, st.lineno, st.section, "", message});
    st.error_lines.push_back(st.lineno);
}

// Index of the first char of CHARS in S, or of an inline comment (';' after
// whitespace), or S.size(): the same scan inih does.
std::size_t find_chars_or_comment(std::string_view s, std::string_view chars) {
    bool was_space = false;
    for (std::size_t i = 0; i < s.size(); i++) {
        if (chars.find(s[i]) != std::string_view::npos) return i;
        if (was_space && s[i] == ';') return i;
        was_space = is_space(s[i]);
    }
    return s.size();
}

// Remove trailing whitespace.
std::string_view rstrip(std::string_view s) {
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// Classify a "[section]" line (START begins with '[') and record it.
void classify_section(ReadState& st, std::string_view start) {
    std::size_t end = find_chars_or_comment(start.substr(1), "]");
    if (end == start.size() - 1 || start[1 + end] != ']') {
        line_error(st, "section header without a closing ']'");
        return;
    }
    st.section = std::string(start.substr(1, end));
    st.prev_name = false;
    st.out->sections.push_back(IniSection{st.section, st.lineno});
    std::string_view rest = rstrip(start.substr(end + 2));
    std::size_t i = 0;
    while (i < rest.size() && is_space(rest[i])) i++;
    if (i < rest.size() && rest[i] != ';')
        line_error(st, "unexpected text after ']' of section [" + st.section + "]");
}

// Classify LINE the way inih's ini_parse_stream() will, updating the mirror
// of its state, so the handler knows what each call means.
void classify(ReadState& st, std::string_view line) {
    st.kind = LineKind::other;
    std::size_t skip = 0;
    if (st.lineno == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") skip = 3;  // UTF-8 BOM
    std::string_view body = rstrip(line);
    std::size_t i = skip;
    while (i < body.size() && is_space(body[i])) i++;
    std::string_view start = body.substr(i);

    if (start.empty() || start[0] == ';' || start[0] == '#') return;  // blank, comment
    if (st.prev_name && i > 0) {  // leading whitespace after a key: continuation
        st.kind = LineKind::continuation;
        return;
    }
    if (start[0] == '[') {
        classify_section(st, start);
        return;
    }
    std::size_t sep = find_chars_or_comment(start, "=:");
    if (sep == start.size() || (start[sep] != '=' && start[sep] != ':')) {
        line_error(st, "expected 'key = value' or '[section]'");
        return;
    }
    bool named = !rstrip(start.substr(0, sep)).empty();
    st.prev_name = named;
    if (!named) {
        line_error(st, "missing key name before '" + std::string(1, start[sep]) + "'");
        return;
    }
    st.kind = LineKind::pair;
}

// Copy S plus a NUL into inih's buffer (S is known to fit: at most num - 3).
char* emit(char* str, std::string_view s) {
    std::memcpy(str, s.data(), s.size());
    str[s.size()] = '\0';
    return str;
}

// fgets-like reader for inih: hands over one line at a time, never more
// than inih's buffer holds.
char* reader(char* str, int num, void* stream) {
    auto& st = *static_cast<ReadState*>(stream);
    if (st.pos >= st.text.size() || num < 4) return nullptr;
    std::size_t nl = st.text.find('\n', st.pos);
    std::size_t end = nl == std::string_view::npos ? st.text.size() : nl + 1;
    std::string_view line = st.text.substr(st.pos, end - st.pos);
    st.pos = end;
    st.lineno++;

    // inih needs room for the text plus "\r\n" and the terminating NUL.
    std::size_t content = line.size();
    while (content > 0 && (line[content - 1] == '\n' || line[content - 1] == '\r')) content--;
    std::size_t limit = static_cast<std::size_t>(num) - 3;
    static_assert(INI_MAX_LINE - 3 == kMaxIniLine, "kMaxIniLine follows inih's buffer");
    if (line.find('\0') != std::string_view::npos) {
        line_error(st, "line contains a NUL byte");
        st.kind = LineKind::other;
        return emit(str, "\n");
    }
    if (content > limit) {
        line_error(st, "line is " + std::to_string(content) + " bytes long; at most " +
                           std::to_string(limit) + " bytes are allowed");
        // A long section header still starts a section, so that the keys
        // after it are not blamed on the previous one.
        std::string_view t = line.substr(0, content);
        std::size_t close = t.find(']');
        if (!t.empty() && t[0] == '[' && close != std::string_view::npos) {
            st.section = std::string(t.substr(1, close - 1));
            st.out->sections.push_back(IniSection{st.section, st.lineno});
            st.prev_name = false;
            st.kind = LineKind::other;
            return emit(str, "[]\n");
        }
        st.kind = LineKind::other;
        return emit(str, "\n");
    }
    classify(st, line);
    // Hand over the content and at most one "\n", never the raw line: its
    // trailing CRs are not counted in CONTENT, and a line of a few bytes
    // followed by thousands of CRs overflowed inih's stack buffer (fuzz
    // finding E). inih strips trailing whitespace anyway.
    std::string_view text = line.substr(0, content);
    emit(str, text);
    if (line.size() > content) {
        str[content] = '\n';
        str[content + 1] = '\0';
    }
    return str;
}

// inih's handler: turn each call into an entry (or extend the previous one).
int handler(void* user, const char* /*section*/, const char* name, const char* value) {
    auto& st = *static_cast<ReadState*>(user);
    if (st.kind == LineKind::continuation) {
        // Refused, never joined: a joined value would carry the next
        // line (often a password) into every message that echoes the
        // value. The message is fixed and never quotes either line.
        if (!st.out->entries.empty()) {
            const IniEntry& last = st.out->entries.back();
            st.out->errors.push_back(Diag{st.out->path, last.line, last.section, last.key,
                                          last.key + " value continues on line " +
                                              std::to_string(st.lineno) +
                                              ": an indented line?"});
            st.error_lines.push_back(st.lineno);
        }
        return 1;
    }
    if (st.kind == LineKind::pair)
        st.out->entries.push_back(
            IniEntry{st.section, name ? name : "", value ? value : "", st.lineno});
    return 1;
}

// True when LINE already carries one of our own error reports.
bool reported(const ReadState& st, int line) {
    for (int l : st.error_lines)
        if (l == line) return true;
    return false;
}

}  // namespace

// Parse TEXT as if it were the file NAME.
IniFile parse_ini_text(const std::string& name, const std::string& text) {
    IniFile out;
    out.path = name;
    if (text.size() > kMaxIniBytes) {
        out.errors.push_back(Diag{
            name, 0, "", "", "file is larger than " + std::to_string(kMaxIniBytes) + " bytes"});
        return out;
    }
    ReadState st;
    st.text = text;
    st.out = &out;
    int rc = ini_parse_stream(reader, &st, handler, &st);

    // inih only returns its first error; ours are more precise, so its
    // report matters only when we missed something.
    if (rc > 0 && !reported(st, rc))
        out.errors.push_back(Diag{name, rc, "", "", "syntax error"});
    else if (rc < 0)
        out.errors.push_back(
            Diag{name, 0, "", "", "the INI parser failed (code " + std::to_string(rc) + ")"});
    return out;
}

// Read PATH whole (bounded) and parse it.
IniFile read_ini(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        IniFile f;
        f.path = path;
        f.errors.push_back(Diag{path, 0, "", "", std::string("cannot read: ") + std::strerror(errno)});
        return f;
    }
    // The descriptor is closed on every path below.
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    return read_ini_fd(fd, path);
}

// Read the open file FD (named PATH in messages) whole, bounded, and parse it.
IniFile read_ini_fd(int fd, const std::string& path) {
    auto fail = [&](const std::string& why) {
        IniFile f;
        f.path = path;
        f.errors.push_back(Diag{path, 0, "", "", "cannot read: " + why});
        return f;
    };
    struct stat sb {};
    if (::fstat(fd, &sb) != 0) return fail(std::strerror(errno));
    if (!S_ISREG(sb.st_mode)) return fail("not a regular file");
    if (static_cast<unsigned long long>(sb.st_size) > kMaxIniBytes)
        return fail("file is larger than " + std::to_string(kMaxIniBytes) + " bytes");

    std::string text;
    text.reserve(static_cast<std::size_t>(sb.st_size));
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(std::strerror(errno));
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxIniBytes)
            return fail("file is larger than " + std::to_string(kMaxIniBytes) + " bytes");
    }
    return parse_ini_text(path, text);
}

}  // namespace prm
