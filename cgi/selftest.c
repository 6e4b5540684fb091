/*
 * The S/MIME self-test: a sample submission of a form of the mailbox goes
 * through the real composition (sign, encrypt) with the configured
 * certificates; given a recipient's private key, the result is decrypted,
 * its signature verified against the chain in sign_cert, and the JSON
 * copy found inside.  Nothing is delivered.
 */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "handler.h"
#include "selftest.h"

#define SAMPLE_TEXT	"formdrop self-test \xc3\xa4\xc3\xb6\xc3\xbc"

/* A plausible value for each field, so every part gets exercised. */
static int
fill_sample(const struct formdef *def, struct form_data *data)
{
	const struct fielddef *f;
	char num[32];
	const char *v;
	size_t i;

	for (i = 0; i < def->nfields; i++) {
		f = &def->fields[i];
		switch (f->type) {
		case FT_EMAIL: v = "selftest@example.com"; break;
		case FT_TEL: v = "+1 555 0100"; break;
		case FT_INTEGER:
		case FT_DECIMAL:
			snprintf(num, sizeof(num), "%.0f", f->has_min ?
			    f->min : 1);
			v = num;
			break;
		case FT_CHOICE: v = f->choices[0]; break;
		case FT_CHECKBOX: v = "yes"; break;
		case FT_FILE:
			if (form_data_add(data, f->name, strlen(f->name),
			    "self-test attachment\n", 21, "selftest.txt",
			    "text/plain") == -1)
				return -1;
			continue;
		default: v = SAMPLE_TEXT; break;
		}
		if (form_data_add(data, f->name, strlen(f->name), v, strlen(v),
		    NULL, NULL) == -1)
			return -1;
	}
	return 0;
}

static void
print_ssl_error(const char *what)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	printf("selftest: FAILED: %s: %s\n", what, buf);
}

/* Remove quoted-printable soft line breaks, so an id can be searched. */
static void
unfold_qp(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '=' && s[1] == '\r' && s[2] == '\n')
			s += 2;
		else if (s[0] == '=' && s[1] == '\n')
			s += 1;
		else
			*o++ = *s;
	}
	*o = '\0';
}

static int
check_content(BIO *content, const char *id)
{
	char *data;
	long len;
	struct buf b;

	len = BIO_get_mem_data(content, &data);
	buf_init(&b, (size_t)len + 1);
	if (buf_append(&b, data, (size_t)len) == -1)
		return -1;
	unfold_qp(b.data);
	if (strstr(b.data, "multipart/mixed") == NULL ||
	    strstr(b.data, id) == NULL) {
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	return 0;
}

/* Decrypt msg with keyfile, verify a signature inside, find id. */
static int
decrypt_and_verify(const struct mailbox *mb, BIO *msg, const char *keyfile,
    const char *id)
{
	CMS_ContentInfo *cms = NULL, *sig = NULL;
	BIO *in = msg, *plain = NULL, *detached = NULL, *out = NULL, *kb;
	X509_STORE *store = NULL;
	EVP_PKEY *key = NULL;
	int r = -1, i;

	if ((kb = BIO_new_file(keyfile, "r")) == NULL ||
	    (key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL) {
		BIO_free(kb);
		print_ssl_error(keyfile);
		return -1;
	}
	BIO_free(kb);
	/* The end of what was written is the end of the message. */
	BIO_set_mem_eof_return(in, 0);
	plain = BIO_new(BIO_s_mem());
	if ((cms = SMIME_read_CMS(in, NULL)) == NULL) {
		print_ssl_error("reading the S/MIME message");
		goto out;
	}
	if (CMS_decrypt(cms, key, NULL, NULL, plain, 0) != 1) {
		print_ssl_error("decrypting with the key");
		goto out;
	}
	printf("selftest: decrypted with %s\n", keyfile);
	if (mb->smime.signer != NULL) {
		out = BIO_new(BIO_s_mem());
		store = X509_STORE_new();
		for (i = 0; i < sk_X509_num(mb->smime.chain); i++)
			X509_STORE_add_cert(store,
			    sk_X509_value(mb->smime.chain, i));
		if ((sig = SMIME_read_CMS(plain, &detached)) == NULL ||
		    CMS_verify(sig, NULL, store, detached, out,
		    sk_X509_num(mb->smime.chain) > 0 ? 0 :
		    CMS_NO_SIGNER_CERT_VERIFY) != 1) {
			print_ssl_error("verifying the signature");
			goto out;
		}
		printf("selftest: signature verified%s\n",
		    sk_X509_num(mb->smime.chain) > 0 ?
		    " against the chain in sign_cert" :
		    " (no chain in sign_cert: signer not checked)");
	} else
		out = plain, plain = NULL;
	if (check_content(out, id) == -1) {
		printf("selftest: FAILED: the decrypted content is not the "
		    "sample message\n");
		goto out;
	}
	printf("selftest: MIME round trip ok: the submission id is in the "
	    "decrypted JSON copy\n");
	r = 0;
out:
	CMS_ContentInfo_free(cms);
	CMS_ContentInfo_free(sig);
	X509_STORE_free(store);
	EVP_PKEY_free(key);
	BIO_free(plain);
	BIO_free(detached);
	BIO_free(out);
	return r;
}

int
selftest_run(const struct conf *conf, const char *mailbox, const char *keyfile)
{
	const struct mailbox *mb = conf_mailbox(conf, mailbox);
	const struct formdef *def = NULL;
	struct submission sub;
	struct form_data data;
	BIO *msg;
	const char *why = NULL;
	size_t i;
	int r = 1, encrypts;

	if (mb == NULL) {
		printf("selftest: FAILED: no [mailbox %s]\n", mailbox);
		return 1;
	}
	for (i = 0; i < conf->nforms && def == NULL; i++)
		if (strcmp(conf->forms[i].mailbox, mailbox) == 0)
			def = &conf->forms[i];
	if (def == NULL) {
		printf("selftest: FAILED: no form delivers to %s\n", mailbox);
		return 1;
	}
	form_data_init(&data);
	if ((msg = BIO_new(BIO_s_mem())) == NULL) {
		printf("selftest: FAILED: out of memory\n");
		return 1;
	}
	memset(&sub, 0, sizeof(sub));
	sub.def = def;
	sub.data = &data;
	sub.received = time(NULL);
	sub.client = "127.0.0.1";
	sub.hostname = conf->hostname;
	sub.from = mb->from;
	sub.to = mb->to;
	encrypts = smime_encrypts(&mb->smime) &&
	    def->encryption != ENCRYPT_OFF;
	printf("selftest: mailbox %s, form %s (encryption %s)\n", mailbox,
	    def->name, def->encryption == ENCRYPT_OFF ? "off" :
	    def->encryption == ENCRYPT_REQUIRED ? "required" : "optional");
	if (fill_sample(def, &data) == -1 || submission_make_id(&sub) == -1 ||
	    handler_compose(mb, &sub, msg, &why) == -1) {
		printf("selftest: FAILED: %s\n", why != NULL ? why :
		    "cannot build the sample");
		goto out;
	}
	printf("selftest: composed %ld bytes: %s, %s\n",
	    BIO_get_mem_data(msg, NULL),
	    mb->smime.signer != NULL ? "signed" : "not signed", encrypts ?
	    "encrypted" : "NOT encrypted");
	if (encrypts)
		printf("selftest: recipients: %d certificate(s), %s\n",
		    sk_X509_num(mb->smime.recipients),
		    mb->smime.cipher == SMIME_AES256_GCM ? "AES-256-GCM" :
		    "AES-256-CBC");
	if (keyfile != NULL && !encrypts) {
		printf("selftest: FAILED: --key given but the message is not "
		    "encrypted\n");
		goto out;
	}
	if (keyfile != NULL && decrypt_and_verify(mb, msg, keyfile,
	    sub.id) == -1)
		goto out;
	printf("selftest: OK\n");
	r = 0;
out:
	BIO_free(msg);
	form_data_free(&data);
	return r;
}
