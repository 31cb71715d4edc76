/* xoauth2.c - the Cyrus SASL client mechanism XOAUTH2 (libprmxoauth2.so).
 *
 * What: a pass-through client mechanism for SASL XOAUTH2 (Microsoft 365,
 * Google): it sends
 *     user=<username> ^A auth=Bearer <token> ^A ^A
 * and nothing else. It fetches no token itself: the application hands the
 * bearer token over as the SASL password. In Postfix's smtp(8) that is
 * smtp_sasl_password_maps, which partner-relay-tokend(8) answers through
 * socketmap with "username:token" for the envelope sender.
 *
 * Contract (what Postfix 3.7's xsasl_cyrus_client relies on):
 *   - The user name comes from the SASL_CB_AUTHNAME callback (else
 *     SASL_CB_USER), a getsimple callback. The token comes from the
 *     SASL_CB_PASS callback with the getsecret signature, which is what
 *     Postfix registers (kdexoauth2 calls it as getsimple and fails with
 *     "invalid parameter supplied"). A secret from the callback belongs to
 *     the application: it is never freed here.
 *   - Client first: the first step (serverin NULL, or an empty challenge
 *     when the application sent "AUTH XOAUTH2" alone and the server
 *     answered "334 ") produces the credentials; SASL_CONTINUE.
 *   - A later empty challenge sends the credentials again (once): that is
 *     the two-step form where the initial response was not sent with AUTH.
 *   - A non-empty challenge after the credentials is the server's JSON
 *     error ({"status":"401","schemes":"bearer","scope":...}): the answer
 *     is the empty response, the exchange is done (SASL_OK), and the
 *     server's final 535 ends it. Its printable text is logged (it holds
 *     no secret); the token never is.
 *   - No security layer (max_ssf 0). The mechanism is honest about being
 *     plaintext (a bearer token is a password for an hour), so Postfix's
 *     smtp_sasl_tls_security_options must allow plaintext (noanonymous):
 *     the partner-oauth transport only ever speaks it over verified TLS.
 *
 * Cyrus's seterror() and log() know only a few conversions (%s, %d, %m,
 * ...): %u and %lu crashed it in tests/sasl, so numbers go out as %d.
 *
 * Limits: user name at most 1024 bytes, token at most 16384 bytes; neither
 * may hold ^A, CR, LF or NUL (they would break the framing). At most three
 * steps; a fourth is a protocol error.
 *
 * Thread safety: no global state; each connection has its own context.
 * This is the project's one file that talks to Cyrus SASL (STYLE.md).
 * It conflicts with any other XOAUTH2 client plugin in the same directory
 * (kdexoauth2, sasl-xoauth2): Cyrus keeps one mechanism per name.
 */
#include <stddef.h>
#include <string.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#define XO_MECH "XOAUTH2"
#define XO_MAX_USER 1024u
#define XO_MAX_TOKEN 16384u
#define XO_MAX_LOGGED 256u

enum xo_state { XO_START, XO_SENT, XO_RESENT, XO_DONE };

/* One SASL connection's state. */
struct xo_ctx {
    enum xo_state state;
    char *out;          /* the credentials (utils->malloc), wiped on dispose */
    unsigned outlen;
};

/* Overwrite LEN bytes at P in a way the compiler keeps. */
static void xo_wipe(void *p, size_t len)
{
    volatile unsigned char *v = p;

    while (len--)
        *v++ = 0;
}

/* True when S[0..LEN) holds a byte that would break the XOAUTH2 framing. */
static int xo_bad_bytes(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (s[i] == '\001' || s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 1;
    return 0;
}

/* mech_new: a fresh context for one SASL connection. */
static int xo_new(void *glob, sasl_client_params_t *params, void **conn_ctx)
{
    struct xo_ctx *c;

    (void) glob;
    c = params->utils->malloc(sizeof(*c));
    if (c == NULL)
        return SASL_NOMEM;
    memset(c, 0, sizeof(*c));
    c->state = XO_START;
    *conn_ctx = c;
    return SASL_OK;
}

/* The user name from SASL_CB_AUTHNAME, else SASL_CB_USER (getsimple). */
static int xo_get_user(const sasl_utils_t *u, const char **user, unsigned *len)
{
    static const unsigned long ids[] = {SASL_CB_AUTHNAME, SASL_CB_USER};
    size_t i;

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        sasl_getsimple_t *cb = NULL;
        void *cb_ctx = NULL;

        if (u->getcallback(u->conn, ids[i], (sasl_callback_ft *) &cb, &cb_ctx) != SASL_OK
            || cb == NULL)
            continue;
        *user = NULL;
        *len = 0;
        if (cb(cb_ctx, (int) ids[i], user, len) == SASL_OK && *user != NULL) {
            if (*len == 0)
                *len = (unsigned) strlen(*user);
            return SASL_OK;
        }
    }
    u->seterror(u->conn, 0, "XOAUTH2: no user name (SASL_CB_AUTHNAME callback)");
    return SASL_BADPARAM;
}

/* The bearer token from SASL_CB_PASS (getsecret, as Postfix registers it). */
static int xo_get_token(const sasl_utils_t *u, sasl_secret_t **secret)
{
    sasl_getsecret_t *cb = NULL;
    void *cb_ctx = NULL;

    *secret = NULL;
    if (u->getcallback(u->conn, SASL_CB_PASS, (sasl_callback_ft *) &cb, &cb_ctx) != SASL_OK
        || cb == NULL) {
        u->seterror(u->conn, 0, "XOAUTH2: no token (SASL_CB_PASS callback)");
        return SASL_BADPARAM;
    }
    if (cb(u->conn, cb_ctx, SASL_CB_PASS, secret) != SASL_OK || *secret == NULL) {
        u->seterror(u->conn, 0, "XOAUTH2: the SASL_CB_PASS callback gave no token");
        return SASL_BADPARAM;
    }
    return SASL_OK;
}

/* Build "user=U^Aauth=Bearer T^A^A" into C->out from the callbacks. */
static int xo_build(struct xo_ctx *c, sasl_client_params_t *params, sasl_out_params_t *oparams)
{
    static const char p1[] = "user=", p2[] = "\001auth=Bearer ", p3[] = "\001\001";
    const sasl_utils_t *u = params->utils;
    const char *user;
    unsigned ulen;
    sasl_secret_t *secret;
    size_t tlen, n;
    int r;

    if ((r = xo_get_user(u, &user, &ulen)) != SASL_OK)
        return r;
    if (ulen == 0 || ulen > XO_MAX_USER || xo_bad_bytes(user, ulen)) {
        u->seterror(u->conn, 0, "XOAUTH2: the user name is empty, longer than %d bytes "
                    "or holds a control character", (int) XO_MAX_USER);
        return SASL_BADPARAM;
    }
    if ((r = xo_get_token(u, &secret)) != SASL_OK)
        return r;
    tlen = secret->len;
    if (tlen == 0 || tlen > XO_MAX_TOKEN || xo_bad_bytes((const char *) secret->data, tlen)) {
        u->seterror(u->conn, 0, "XOAUTH2: the token (%d bytes) is empty, longer than %d "
                    "bytes or holds a control character", (int) (tlen > XO_MAX_TOKEN ? XO_MAX_TOKEN + 1 : tlen),
                    (int) XO_MAX_TOKEN);
        return SASL_BADPARAM;
    }

    /* The user name is both the authentication and the authorization id. */
    r = params->canon_user(u->conn, user, ulen, SASL_CU_AUTHID | SASL_CU_AUTHZID, oparams);
    if (r != SASL_OK)
        return r;

    n = sizeof(p1) - 1 + ulen + sizeof(p2) - 1 + tlen + sizeof(p3) - 1;
    if ((c->out = u->malloc(n)) == NULL)
        return SASL_NOMEM;
    c->outlen = (unsigned) n;
    n = 0;
    memcpy(c->out + n, p1, sizeof(p1) - 1), n += sizeof(p1) - 1;
    memcpy(c->out + n, user, ulen), n += ulen;
    memcpy(c->out + n, p2, sizeof(p2) - 1), n += sizeof(p2) - 1;
    memcpy(c->out + n, secret->data, tlen), n += tlen;
    memcpy(c->out + n, p3, sizeof(p3) - 1);
    return SASL_OK;
}

/* Log the server's error challenge, printable ASCII only and bounded. */
static void xo_log_challenge(const sasl_utils_t *u, const char *in, unsigned len)
{
    char text[XO_MAX_LOGGED + 1];
    unsigned i, n = len < XO_MAX_LOGGED ? len : XO_MAX_LOGGED;

    for (i = 0; i < n; i++)
        text[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    text[n] = '\0';
    u->log(u->conn, SASL_LOG_NOTE, "XOAUTH2: the server refused the token: %s%s", text,
           len > n ? "..." : "");
}

/* Mark the exchange done: no security layer, nothing to encode. */
static void xo_finish(sasl_out_params_t *oparams)
{
    oparams->doneflag = 1;
    oparams->mech_ssf = 0;
    oparams->maxoutbuf = 0;
    oparams->encode_context = NULL;
    oparams->encode = NULL;
    oparams->decode_context = NULL;
    oparams->decode = NULL;
    oparams->param_version = 0;
}

/* mech_step: credentials first, the empty answer to an error challenge. */
static int xo_step(void *conn_ctx, sasl_client_params_t *params, const char *serverin,
                   unsigned serverinlen, sasl_interact_t **prompt_need, const char **clientout,
                   unsigned *clientoutlen, sasl_out_params_t *oparams)
{
    struct xo_ctx *c = conn_ctx;
    int r;

    (void) prompt_need;
    *clientout = NULL;
    *clientoutlen = 0;
    switch (c->state) {
    case XO_START:
        if ((r = xo_build(c, params, oparams)) != SASL_OK)
            return r;
        c->state = XO_SENT;
        *clientout = c->out;
        *clientoutlen = c->outlen;
        return SASL_CONTINUE;
    case XO_SENT:
        /* "334 " with nothing: the server still waits for the credentials. */
        if (serverinlen == 0) {
            c->state = XO_RESENT;
            *clientout = c->out;
            *clientoutlen = c->outlen;
            return SASL_CONTINUE;
        }
        /* FALLTHROUGH */
    case XO_RESENT:
        if (serverinlen == 0)
            break;
        xo_log_challenge(params->utils, serverin, serverinlen);
        c->state = XO_DONE;
        *clientout = "";
        xo_finish(oparams);
        return SASL_OK;
    case XO_DONE:
        break;
    }
    params->utils->seterror(params->utils->conn, 0, "XOAUTH2: unexpected server challenge");
    return SASL_BADPROT;
}

/* mech_dispose: wipe and free the credentials, then the context. */
static void xo_dispose(void *conn_ctx, const sasl_utils_t *utils)
{
    struct xo_ctx *c = conn_ctx;

    if (c == NULL)
        return;
    if (c->out != NULL) {
        xo_wipe(c->out, c->outlen);
        utils->free(c->out);
    }
    utils->free(c);
}

static sasl_client_plug_t xo_plugin = {
    XO_MECH,                                        /* mech_name */
    0,                                              /* max_ssf: no security layer */
    SASL_SEC_NOANONYMOUS | SASL_SEC_PASS_CREDENTIALS, /* security_flags (plaintext) */
    SASL_FEAT_WANT_CLIENT_FIRST,                    /* features: client first */
    NULL,                                           /* required_prompts */
    NULL,                                           /* glob_context */
    xo_new,                                         /* mech_new */
    xo_step,                                        /* mech_step */
    xo_dispose,                                     /* mech_dispose */
    NULL,                                           /* mech_free */
    NULL,                                           /* idle */
    NULL,                                           /* spare_fptr1 */
    NULL                                            /* spare_fptr2 */
};

int sasl_client_plug_init(const sasl_utils_t *utils, int maxversion, int *out_version,
                          sasl_client_plug_t **pluglist, int *plugcount);

/* The entry point Cyrus looks up in every plugin it loads. */
int sasl_client_plug_init(const sasl_utils_t *utils, int maxversion, int *out_version,
                          sasl_client_plug_t **pluglist, int *plugcount)
{
    if (maxversion < SASL_CLIENT_PLUG_VERSION) {
        utils->seterror(utils->conn, 0, "XOAUTH2: SASL client plugin version %d is too old",
                        maxversion);
        return SASL_BADVERS;
    }
    *out_version = SASL_CLIENT_PLUG_VERSION;
    *pluglist = &xo_plugin;
    *plugcount = 1;
    return SASL_OK;
}
