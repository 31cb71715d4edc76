"""postfixconf.py - the base main.cf/master.cf of the private test instance.

What it is: the site part of a Postfix configuration that the tests do not
get from contrib/postfix: private directories, loopback listeners, the
global relay as relayhost with the platform's credentials, quick retries.
prmtest.Instance appends the contrib fragments (with paths and ports
substituted) after these lines, so a recipe setting always wins.

Contract: base_main_cf(inst) and base_master_cf(inst) return text; INST
provides path(), ports{"smtpd"} and relays["global"].  Nothing here is a
copy of the recipe: the partner transports, fallback listeners, cleanup-fb
and milter settings come only from contrib/postfix.

Limits: IPv4 loopback only; no chroot; no local delivery (mydestination is
empty, so bounces and everything else leave through relayhost).
"""


def base_main_cf(inst):
    """main.cf settings of a private, loopback-only, quickly retrying instance."""
    p = inst.path
    g = inst.relays["global"]
    return "\n".join([
        "# main.cf of a private partner-relay-milter test instance (generated)",
        "compatibility_level = 3.6",
        "queue_directory = " + p("spool"),
        "data_directory = " + p("data"),
        "meta_directory = /etc/postfix",
        "maillog_file = " + p("maillog"),
        "maillog_file_prefixes = " + inst.dir,
        "mail_owner = postfix",
        "setgid_group = postdrop",
        "myhostname = mta.prm-test.example",
        "mydomain = prm-test.example",
        "myorigin = $myhostname",
        "mydestination =",
        "local_recipient_maps =",
        "alias_maps =",
        "alias_database =",
        "relay_domains =",
        "inet_interfaces = loopback-only",
        "inet_protocols = ipv4",
        "mynetworks = 127.0.0.0/8",
        "smtpd_relay_restrictions = permit_mynetworks, reject",
        "smtpd_recipient_restrictions = permit_mynetworks, reject",
        "biff = no",
        # No DNS on test machines: resolve partner host names (localhost)
        # through /etc/hosts.
        "smtp_host_lookup = native",
        "disable_dns_lookups = yes",
        "smtputf8_enable = no",
        "delay_warning_time = 0",
        # Quick retries so that deferred mail settles within seconds.
        "queue_run_delay = 1s",
        "minimal_backoff_time = 1s",
        "maximal_backoff_time = 2s",
        "maximal_queue_lifetime = 1h",
        "bounce_queue_lifetime = 1h",
        # The platform's own relay: TLS and its own credentials.
        "relayhost = [127.0.0.1]:%d" % g.port,
        "smtp_sasl_auth_enable = yes",
        "smtp_sasl_password_maps = texthash:" + p("etc", "global_sasl"),
        "smtp_sasl_security_options = noanonymous",
        "smtp_sasl_tls_security_options = noanonymous",
        "smtp_tls_security_level = encrypt",
        # No smtp_tls_CAfile here: the partner transports get the test CA
        # from [milter] relay_cafile (prmtest), so a test sees that the
        # recipe carries it; the global relay is at level encrypt.
        "smtp_tls_loglevel = 1",
        # Certificate for the implicit-TLS fallback listener (10465-style).
        "smtpd_tls_chain_files = %s, %s" % (p("certs", "server.key"),
                                            p("certs", "server.pem")),
        "smtpd_tls_security_level = may",
        "",
    ])


# Postfix's own services, unchrooted; "smtpd" is the submission listener.
_SERVICES = """\
{smtpd} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def base_master_cf(inst):
    """master.cf with Postfix's services and the submission smtpd."""
    return ("# master.cf of a private partner-relay-milter test instance "
            "(generated)\n" +
            _SERVICES.format(smtpd="127.0.0.1:%d" % inst.ports["smtpd"]))
