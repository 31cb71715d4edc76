divert(-1)
# partner-relay.m4 - route partner mail through partner relays on Sendmail 8.17
# (partner-relay-milter with [milter] mta = sendmail).
#
# Include it at the END of sendmail.mc, after the smtp mailer line (its TLS
# server and TLS rcpt hooks must follow the mailers), with the PRM_ settings
# defined before the include when the defaults below do not fit, and the
# partner ports in PRM_PORTS (partner-relay-tables --mta sendmail prints
# these lines); then rebuild sendmail.cf. README, "Setting it up with
# Sendmail, step by step", and partner-relay-milter(8), SENDMAIL, explain
# every line.
#
# How it works: for a partner-routed message the milter replaces each
# recipient bob@example.com by bob@example.com.PARTNER.PTNRELAY (NOTIFY and
# ORCPT kept). The rule 0 hook looks PARTNER up in the routes map and
# resolves it to the partner mailer, the host list [relay]:[loopback
# fallback] and the ORIGINAL recipient: the relay sees bob@example.com, and
# every queue run routes again from the map. Sendmail moves on to the
# fallback host in the same delivery attempt when the relay refuses, fails
# TLS, fails AUTH or answers 4xx. The fallback listener has its own Name
# (the milter sees it as {daemon_name}): there the milter puts the platform
# From back, and the message leaves through the smart host.

# ---- settings (define them before including this file to change them) ----
# the maps partner-relay-tables --mta sendmail writes (routes, authinfo, tls)
ifdef(`PRM_MAPDIR', `', `define(`PRM_MAPDIR', `/etc/mail/partner-relay')')
# the milter's socket, as [milter] socket says
ifdef(`PRM_MILTER_SOCKET', `', `define(`PRM_MILTER_SOCKET', `local:/run/partner-relay-milter/milter.sock')')
# the loopback fallback listeners' address (not one the main daemon binds)
ifdef(`PRM_FALLBACK_ADDR', `', `define(`PRM_FALLBACK_ADDR', `127.0.0.2')')
# their Name=, which must equal [milter] fallback_daemon_name
ifdef(`PRM_FALLBACK_NAME', `', `define(`PRM_FALLBACK_NAME', `FALLBACK')')
# the milter's timeouts (connect, send, read, end of message)
ifdef(`PRM_MILTER_TIMEOUTS', `', `define(`PRM_MILTER_TIMEOUTS', `C:10s;S:30s;R:60s;E:5m')')

# Outbound SMTP timeouts, short so that a partner relay that accepts TCP
# but never greets (or never answers EHLO) falls back within seconds, as
# the Postfix fragment's smtp_connect_timeout=5s and smtp_helo_timeout=10s
# do. Sendmail has no per-mailer timeouts: these options apply to EVERY
# outbound connection (smart host included; a slow one is retried from
# the queue, nothing is lost). Define them before the include to keep
# other values (Sendmail's own defaults: connect = the kernel's, 5m).
ifdef(`confTO_CONNECT', `', `define(`confTO_CONNECT', `5s')')
ifdef(`confTO_ICONNECT', `', `define(`confTO_ICONNECT', `5s')')
ifdef(`confTO_INITIAL', `', `define(`confTO_INITIAL', `10s')')
ifdef(`confTO_HELO', `', `define(`confTO_HELO', `10s')')

# ---- PARTNER_RELAY_PORT(port): one fallback listener and one mailer per port
# Sendmail takes the port from the mailer (A=TCP $h port), never from the
# host list, so relay and fallback share it: a listener on
# PRM_FALLBACK_ADDR:port and a mailer ptnrPORT.
#  Listener M=A: offers no AUTH, so no partner password is ever sent to it;
#   M=S: no STARTTLS; M=E: no ETRN. InputMailFilters: only the milter entry
#   with F=T, so while the milter is down the fallback answers 4xx and the
#   message waits in the queue instead of leaving with the partner From.
#  Mailer F=k: without it the fallback bounces ("mail loops back to me",
#   553 5.3.5) and poisons the host status of the fallback for every partner.
#   m=1: one message per connection, so a connection authenticated as one
#   partner never carries another partner's message. F=a: ESMTP.
define(`PARTNER_RELAY_PORT',
`DAEMON_OPTIONS(`Family=inet, Name='PRM_FALLBACK_NAME`, Addr='PRM_FALLBACK_ADDR`, Port=$1, M=AES, InputMailFilters=partnerrelayfb')dnl
ifdef(`_PRM_FB_MAILER', `', `define(`_PRM_FB_MAILER', `ptnr$1')')dnl
pushdef(`_prm_div', divnum)divert(7)dnl
Mptnr$1,	P=[IPC], F=mDFMuXak, S=EnvFromSMTP/HdrFromSMTP, R=EnvToSMTP, E=\r\n, L=990, m=1,
	T=DNS/RFC822/SMTP,
	A=TCP $h $1
divert(_prm_div)popdef(`_prm_div')dnl
')

# ---- the milter
# Every listener without InputMailFilters= runs partnerrelay. No F= flag:
# when the milter is down, mail is accepted and goes out globally (F=T
# would answer 4xx to every submission).
INPUT_MAIL_FILTER(`partnerrelay', `S='PRM_MILTER_SOCKET`, T='PRM_MILTER_TIMEOUTS)
# The same milter for the fallback listeners only, failing temporarily.
MAIL_FILTER(`partnerrelayfb', `S='PRM_MILTER_SOCKET`, F=T, T='PRM_MILTER_TIMEOUTS)
# ---- the ports your partners use (PRM_PORTS, comma separated): one
# listener and mailer each; the first one also carries mail of a partner
# whose route has gone (removed since the message was queued)
ifdef(`PRM_PORTS', `', `define(`PRM_PORTS', `587')')
define(`_prm_each', `ifelse(`$1', `', `', `PARTNER_RELAY_PORT(`$1')_prm_each(shift($@))')')
divert(0)dnl
_prm_each(PRM_PORTS)dnl
LOCAL_CONFIG
# partner-relay: the pseudo top-level label is canonical (no DNS lookup)
CPPTNRELAY
# routes: partner key -> mailer:[relay host]
Kptnroute hash -o PRM_MAPDIR/routes
# authinfo: AuthInfo:relay host:partner sender -> "U:login" "P:password" "M:PLAIN LOGIN"
Kptnauth hash -o PRM_MAPDIR/authinfo
# tls: relay host -> the TLS_Srv requirement (VERIFY:112+CN, VERIFY:112, ENCR:112)
Kptntls hash -o PRM_MAPDIR/tls
# the pseudo label as a whole word anywhere in an address, any case (the
# key is the address inside <>, so a label always has a neighbour)
Kptnguard regex -aFOUND [^a-z0-9-]ptnrelay[^a-z0-9-]
# The operator characters, set here because the ruleset below comes before
# the generated option line: without it '+' stays part of a word in every
# map value, and VERIFY:112+CN loses its +CN (name) check.
O OperatorChars=confOPERATORS
# Sender-keyed client credentials, so partners sharing a relay host each log
# in as themselves: tried before the authinfo rules Sendmail generates
# (they follow, unchanged, for every other server). A miss must fall
# through, never return.
Sauthinfo
R$*	$: <$(ptnauth AuthInfo:$&{server_name}:$&f $: ? $)>
R<?>	$: NOPARTNERAUTH
R<$+>	$# $1

LOCAL_RULE_0
# partner-relay: user<@domain.PARTNER.PTNRELAY.>, written by the milter
R$+ < @ $+ . $- . PTNRELAY . >	$: $1 < @ $2 . > $| $(ptnroute $3 $: NOROUTE $)
# partner removed since: straight to the fallback (platform From, global relay)
R$+ < @ $+ > $| NOROUTE	$# _PRM_FB_MAILER $@ [PRM_FALLBACK_ADDR] $: $1 < @ $2 >
# known partner: its relay first, the loopback fallback second, same mailer
R$+ < @ $+ > $| $- : $+	$# $3 $@ $4 : [PRM_FALLBACK_ADDR] $: $1 < @ $2 >

LOCAL_TLS_SERVER
# partner-relay: a partner relay must present the TLS its tls entry requires,
# checked after STARTTLS and before AUTH; failing it, Sendmail quits and
# tries the fallback (no STARTTLS at all fails VERIFY too: no AUTH in clear)
R$*	$: $1 $| $(ptntls $&{server_name} $: NOPTN $)
R$* $| NOPTN	$@ OK
R$* $| $+	$: $(macro {TLS_Name} $@ $&{server_name} $) $1 $| <$2>
R$* $| <$+>	$@ $>TLS_connection $1 $| <$2>

LOCAL_TLS_RCPT
# partner-relay: a partner relay reached without a successful AUTH (535)
# gets a 4xx for the recipient, so Sendmail tries the fallback
R$*	$: $&{server_name} $| $&{auth_type}
R$+ $| $+	$@ OK
R$+ $|	$: $(ptntls $1 $: OK $)
ROK	$@ OK
R$*	$#error $@ 4.7.0 $: "454 4.7.0 AUTH to the partner relay did not succeed"

LOCAL_RULESETS
# partner-relay: only the milter may write a pseudo-domain recipient; one a
# client typed (quoted local parts included) would borrow partner credentials
SLocal_check_rcpt
R$*	$: $(ptnguard <$1> $: OK $)
RFOUND	$#error $@ 5.1.1 $: "550 5.1.1 invalid recipient"
