/*
 * libFuzzer target: formdrop.conf, loaded with conf_load(CONF_CHECK) as
 * "formdrop.fcgi --check" does.  The input is written to formdrop.conf in
 * a folder made once per process, which also holds what a configuration
 * may name, so that deep paths are reachable:
 *
 *	forms/		contact.form (mailbox contact, body contact.txt),
 *			contact.txt and error.html: a valid forms folder
 *	bad/		bad.form, which does not load, and no error.html
 *	empty/		no forms at all
 *	maildir/	tmp/ new/ cur/: a ready Maildir
 *	certs/		ec.crt and ec.key, a self-signed EC certificate
 *			valid until 2126, fit for signing and encryption
 *			(S/MIME), and noeku.crt, which lacks emailProtection
 *
 * so that "forms = forms" plus a [mailbox contact] with "maildir =
 * maildir" loads whole, with or without S/MIME.  The same text is also
 * loaded in the two other modes: CONF_SERVE (where a configuration that
 * passes --check must load too; serving creates the state folder, so it
 * is skipped for a text that might name one outside the fuzz folder) and
 * CONF_POP3D (the [pop3] section).
 * conf_load must succeed exactly when it reports no error, and free
 * everything either way.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "diag.h"
#include "fuzz_util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	root[64];
static char	conf_path[PATH_MAX];

static const char *const dirs[] = {
	"forms", "bad", "empty", "maildir", "maildir/tmp", "maildir/new",
	"maildir/cur", "certs",
};

static const char *const files[][2] = {
	{ "forms/contact.form",
	    "; The contact form (a copy of templates/contact.form).\n"
	    "[form]\nmailbox  = contact\nsubject  = Contact form: {{name}}\n"
	    "body     = contact.txt\nthanks   = /thanks.html\n"
	    "reply_to = email\nunknown  = reject\n\n"
	    "[field name]\nlabel    = Your name\ntype     = text\n"
	    "required = yes\nmax      = 200\n\n"
	    "[field email]\nlabel    = Email address\ntype     = email\n"
	    "required = yes\n\n"
	    "[field message]\nlabel     = Message\ntype      = text\n"
	    "multiline = yes\nrequired  = yes\nmax       = 5000\n" },
	{ "forms/contact.txt",
	    "A message arrived through the contact form.\n\n"
	    "Name:    {{name}}\nEmail:   {{email}}\n\n{{message}}\n\n--\n"
	    "Submission {{id}}, received {{date}} from {{client}}.\n" },
	{ "forms/error.html",
	    "<!doctype html>\n<title>{{title}}</title>\n<h1>{{title}}</h1>\n"
	    "<p>{{message}}</p>\n<ul>\n{{#rows label reason field}}"
	    "<li id=\"error-{{field}}\"><strong>{{label}}</strong> "
	    "{{reason}}</li>\n{{/rows}}</ul>\n<p>Error {{status}}</p>\n" },
	{ "bad/bad.form",
	    "[form]\nsubject = {{nosuchfield}}\nbody = missing.txt\n"
	    "[field x]\ntype = choice\n" },
	/* openssl req -x509 -days 36500, EC P-256, see the comment above. */
	{ "certs/ec.crt",
	    "-----BEGIN CERTIFICATE-----\n"
	    "MIIBtzCCAVygAwIBAgIUWCwWZYbT2LyZn3LDSxhkb3lzcnAwCgYIKoZIzj0EAwIw\n"
	    "DzENMAsGA1UEAwwEZnV6ejAgFw0yNjExMjkwNTA5MzFaGA8yMTI2MTEwNTA1MDkz\n"
	    "MVowDzENMAsGA1UEAwwEZnV6ejBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABP7o\n"
	    "jGlRkimRt6HtznPWM/9ndsz3auf+QAW06Xm13JvIDXGXM3zwHjZ1ckLJVSbk5KGG\n"
	    "EPSffR4Afs6847exS1ujgZMwgZAwHQYDVR0OBBYEFNJQOscQxOoHTmQ7d2mrDuYj\n"
	    "BAYyMB8GA1UdIwQYMBaAFNJQOscQxOoHTmQ7d2mrDuYjBAYyMAwGA1UdEwEB/wQC\n"
	    "MAAwDgYDVR0PAQH/BAQDAgOIMBMGA1UdJQQMMAoGCCsGAQUFBwMEMBsGA1UdEQQU\n"
	    "MBKBEGZ1enpAZXhhbXBsZS5jb20wCgYIKoZIzj0EAwIDSQAwRgIhAKhYhMxcUHHh\n"
	    "VF13GBn+W84TEWt4C/Z7ZXChbLOisRhbAiEAvfdiBDsA8ABzWNfiKYbk+H+ER2mO\n"
	    "54O2a/bhBLMgik8=\n"
	    "-----END CERTIFICATE-----\n" },
	{ "certs/ec.key",
	    "-----BEGIN PRIVATE KEY-----\n"
	    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRdrqJe/prhWG64Hi\n"
	    "uxXnsYsaKy/Sv53IgR8SUQ8IHMahRANCAAT+6IxpUZIpkbeh7c5z1jP/Z3bM92rn\n"
	    "/kAFtOl5tdybyA1xlzN88B42dXJCyVUm5OShhhD0n30eAH7OvOO3sUtb\n"
	    "-----END PRIVATE KEY-----\n" },
	{ "certs/noeku.crt",
	    "-----BEGIN CERTIFICATE-----\n"
	    "MIIBhzCCAS2gAwIBAgIUF/M0QQOi0ub/b7x77qMIxmwpStYwCgYIKoZIzj0EAwIw\n"
	    "EDEOMAwGA1UEAwwFbm9la3UwIBcNMjYxMTI5MDUwOTMxWhgPMjEyNjExMDUwNTA5\n"
	    "MzFaMBAxDjAMBgNVBAMMBW5vZWt1MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
	    "/uiMaVGSKZG3oe3Oc9Yz/2d2zPdq5/5ABbTpebXcm8gNcZczfPAeNnVyQslVJuTk\n"
	    "oYYQ9J99HgB+zrzjt7FLW6NjMGEwHQYDVR0OBBYEFNJQOscQxOoHTmQ7d2mrDuYj\n"
	    "BAYyMB8GA1UdIwQYMBaAFNJQOscQxOoHTmQ7d2mrDuYjBAYyMA8GA1UdEwEB/wQF\n"
	    "MAMBAf8wDgYDVR0PAQH/BAQDAgeAMAoGCCqGSM49BAMCA0gAMEUCIQD3r6hU3NpF\n"
	    "L/I9TFhTPxMEOT04ndtkYpGRMEJMlepZiAIgVC/PN5mdebezEtbmupvB+FSa5EIq\n"
	    "pboVkEsNzirDQzQ=\n"
	    "-----END CERTIFICATE-----\n" },
};

static void
setup(void)
{
	fuzz_workdir(root, "conf", dirs, sizeof(dirs) / sizeof(dirs[0]),
	    files, sizeof(files) / sizeof(files[0]));
	snprintf(conf_path, sizeof(conf_path), "%s/formdrop.conf", root);
}

/* Load the text at conf_path in mode; 0 if it loaded. */
static int
load(enum conf_mode mode)
{
	static const char *const names[] = { "serve", "check", "pop3d" };
	struct conf c;
	struct diag d;
	size_t i;
	int r;

	diag_init(&d);
	r = conf_load(conf_path, mode, &c, &d);
	if (fuzz_verbose()) {
		fprintf(stderr, "conf %s: %s, %zu errors, %zu warnings\n",
		    names[mode], r == 0 ? "loaded" : "refused", d.errors,
		    d.warnings);
		diag_print(&d, stderr);
	}
	/* Refused exactly when a problem was reported, and said why. */
	if ((r == 0) != (d.errors == 0) || (r != 0 && d.text.len == 0))
		abort();
	if (r != 0) {
		diag_free(&d);
		return -1;
	}
	/* A loaded configuration is whole and cross-checked. */
	if (c.workers < 1 || c.workers > CONF_WORKERS_MAX ||
	    c.limits.fields_max < 1 || c.limits.fields_max > CONF_FIELDS_MAX ||
	    c.limits.body_max < 1 || c.limits.body_max > CONF_BODY_MAX)
		abort();
	for (i = 0; i < c.nboxes; i++)
		if (conf_mailbox(&c, c.boxes[i].name) != &c.boxes[i])
			abort();
	if (mode == CONF_POP3D) {
		if (c.pop3.line == 0 || c.pop3.users == NULL ||
		    c.pop3.nlisten + c.pop3.nlisten_tls == 0 ||
		    c.pop3.nlisten > POP3_LISTEN_MAX ||
		    c.pop3.nlisten_tls > POP3_LISTEN_MAX ||
		    c.pop3.timeout == 0 || c.pop3.max_connections == 0 ||
		    c.pop3.max_per_client == 0)
			abort();
	} else {
		if (c.forms_dir == NULL || c.error_page == NULL ||
		    c.nforms == 0 || c.hostname[0] == '\0')
			abort();
		for (i = 0; i < c.nboxes; i++)
			if (c.boxes[i].maildir == NULL ||
			    c.boxes[i].from == NULL || c.boxes[i].to == NULL ||
			    c.boxes[i].encrypted_subject == NULL ||
			    (mode == CONF_CHECK && c.boxes[i].smime_broken))
				abort();
		for (i = 0; i < c.nforms; i++)
			if (conf_form(&c, c.forms[i].name) != &c.forms[i] ||
			    conf_mailbox(&c, c.forms[i].mailbox) == NULL)
				abort();
	}
	conf_free(&c);
	diag_free(&d);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int checked, served;

	if (root[0] == '\0')
		setup();
	fuzz_write_file(conf_path, data, size);
	checked = load(CONF_CHECK);
	/*
	 * Serving creates the state folder and its token key: only when
	 * the text cannot name another place than the folder's own
	 * "state" (no "state =" with a '/' or ".." anywhere), so that the
	 * fuzzer never writes outside its folder.
	 */
	if (memmem(data, size, "state", 5) == NULL ||
	    (memchr(data, '/', size) == NULL &&
	    memmem(data, size, "..", 2) == NULL)) {
		served = load(CONF_SERVE);
		/* --check is stricter than serving: what it accepts serves. */
		if (checked == 0 && served != 0)
			abort();
	}
	(void)load(CONF_POP3D);
	return 0;
}
