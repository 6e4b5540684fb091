/*
 * Every hard bound of formdrop in one place, so that a reviewer sees at a
 * glance how much any input can make us allocate or wait for.
 *
 * The DEFAULT_* values are the defaults of the [limits] section of
 * formdrop.conf; the *_MAX values bound what the configuration may set and
 * what the fixed-size parsers accept.
 */
#ifndef FORMDROP_BOUNDS_H
#define FORMDROP_BOUNDS_H

/* Request bodies (configurable in [limits]). */
#define DEFAULT_BODY_MAX	(1024 * 1024)	/* whole request body */
#define DEFAULT_FIELDS_MAX	100		/* parts/pairs, files included */
#define DEFAULT_FIELD_MAX	(16 * 1024)	/* one non-file value */
#define DEFAULT_FILES_MAX	4		/* uploaded files */
#define DEFAULT_FILE_MAX	(512 * 1024)	/* one uploaded file */

/* Upper bounds a configuration may not exceed. */
#define CONF_BODY_MAX		(256 * 1024 * 1024)
#define CONF_FIELDS_MAX		10000
#define CONF_WORKERS_MAX	256

/* Fixed parser bounds. */
#define FIELD_NAME_MAX		128	/* bytes of a field name */
#define FILENAME_MAX_LEN	255	/* bytes of an uploaded file's name */
#define FILENAME_SENT_MAX	1024	/* as sent (an old browser's whole
					 * path), before folders and cut */
#define PART_HEADERS_MAX	(8 * 1024) /* header block of one multipart part */
#define BOUNDARY_MAX		70	/* RFC 2046 */
#define CTYPE_MAX		127	/* bytes of a part's Content-Type */

/* Form definitions and templates. */
#define FORM_NAME_MAX		64
#define FORM_FIELDS_MAX		100
#define FORM_CHOICES_MAX	100
#define FIELD_REPEAT_MAX	100	/* "multiple =" in a field definition */
#define TEMPLATE_FILE_MAX	(256 * 1024)
#define TEMPLATE_DEPTH_MAX	1	/* {{#rows}} sections do not nest */
#define RENDER_MAX		(1024 * 1024) /* a rendered template, besides
						 * the values it holds */
#define JSON_MAX		(1024 * 1024 * 1024) /* a JSON copy (bounded by the limits) */
#define SUBJECT_MAX		998	/* characters of a rendered subject */

/* Delivery. */
#define HOSTNAME_LEN_MAX	255
#define MAILDIR_TMP_MAX_AGE	(36 * 60 * 60)	/* maildir(5): stale tmp/ files */
#define RETRY_AFTER_SECONDS	120

/* Exactly once. */
#define ONCE_RECORD_MAX_AGE	(31 * 86400)	/* > any token_max_age */
#define ONCE_CLEAN_EVERY	256	/* requests between record clean-ups */
#define CLEAN_EVERY_CGI		256	/* CGI requests (processes) between
					 * tmp/ clean-ups */

/* POP3 (formdrop-pop3d). */
#define POP3_LINE_MAX		255	/* RFC 2449: command line incl. CRLF */
#define POP3_TIMEOUT_MIN	600	/* RFC 1939: autologout >= 10 min */
#define POP3_MESSAGES_MAX	200000	/* messages listed in one session */
#define POP3_CONNECTIONS_MAX	100	/* default, all clients together */
#define POP3_PER_CLIENT_MAX	10	/* default, per client address */
#define POP3_FAIL_DELAY_MAX	30	/* seconds after repeated failures */
#define POP3_QUIT_ANSWER_TIMEOUT 5	/* seconds to send QUIT's answer */
#define TLS_WARN_DAYS		14	/* days left on the TLS certificate
					 * that are reported at start */
#define CERT_CHECK_EVERY	86400	/* seconds between those reports
					 * while pop3d runs */
#define POP3_LOGIN_TIMEOUT	180	/* default, seconds from connect to
					 * login (Dovecot's is 3 minutes) */
#define POP3_EXIT_FAILURES_MAX	63	/* a session's exit status: its
					 * failed logins, below sysexits' 64;
					 * also the most max_login_failures */
#define POP3_EXIT_LOGIN_TIMEOUT	100	/* + failed logins: ended by
					 * login_timeout */
#define POP3_FAIL_REFUSE	10	/* failures from an address ... */
#define POP3_FAIL_MEMORY	(15 * 60) /* ... within this: refused */
#define UIDL_MAX		70	/* RFC 1939 */

#endif
