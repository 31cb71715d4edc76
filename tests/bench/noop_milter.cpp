// noop_milter.cpp - the protocol floor: a libmilter filter that does nothing.
//
// What: registers every callback (connect, HELO, MAIL, RCPT, DATA, header,
// EOH, body, EOM, abort, close, unknown) and answers each with CONTINUE,
// negotiating no skipped step and no no-reply flag: what a naive milter
// costs Postfix. The benchmark compares partner-relay-milter with it.
//
// Contract: noop_milter SOCKET (libmilter syntax, e.g. inet:port@127.0.0.1
// or unix:/path); runs in the foreground until SIGTERM/SIGINT. A test tool:
// it includes <libmilter/mfapi.h> itself.
//
// Thread safety: no state at all. Limits: none of its own.
#include <libmilter/mfapi.h>
#include <sys/stat.h>

#include <cstdio>

namespace {

// Every callback: continue.
sfsistat on_connect(SMFICTX*, char*, struct sockaddr*) { return SMFIS_CONTINUE; }
sfsistat on_helo(SMFICTX*, char*) { return SMFIS_CONTINUE; }
sfsistat on_argv(SMFICTX*, char**) { return SMFIS_CONTINUE; }
sfsistat on_header(SMFICTX*, char*, char*) { return SMFIS_CONTINUE; }
sfsistat on_ctx(SMFICTX*) { return SMFIS_CONTINUE; }
sfsistat on_body(SMFICTX*, unsigned char*, size_t) { return SMFIS_CONTINUE; }
sfsistat on_unknown(SMFICTX*, const char*) { return SMFIS_CONTINUE; }

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: noop_milter SOCKET\n");
        return 2;
    }
    struct smfiDesc d {};
    d.xxfi_name = const_cast<char*>("noop-milter");
    d.xxfi_version = SMFI_VERSION;
    d.xxfi_flags = 0;
    d.xxfi_connect = on_connect;
    d.xxfi_helo = on_helo;
    d.xxfi_envfrom = on_argv;
    d.xxfi_envrcpt = on_argv;
    d.xxfi_header = on_header;
    d.xxfi_eoh = on_ctx;
    d.xxfi_body = on_body;
    d.xxfi_eom = on_ctx;
    d.xxfi_abort = on_ctx;
    d.xxfi_close = on_ctx;
    d.xxfi_unknown = on_unknown;
    d.xxfi_data = on_ctx;
    if (smfi_register(d) != MI_SUCCESS || smfi_setconn(argv[1]) != MI_SUCCESS) {
        std::fprintf(stderr, "noop_milter: cannot register on %s\n", argv[1]);
        return 1;
    }
    umask(0);  // a UNIX socket Postfix's processes (user postfix) can reach
    if (smfi_opensocket(1) != MI_SUCCESS) {
        std::fprintf(stderr, "noop_milter: cannot open %s\n", argv[1]);
        return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
