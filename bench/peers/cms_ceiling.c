/*
 * cms_ceiling: the raw in-process S/MIME (CMS) rate of a key, with the
 * same OpenSSL calls formdrop uses (lib/smime.c): CMS_sign(...,
 * CMS_DETACHED) and CMS_encrypt(NULL, NULL, AES-256-CBC, CMS_PARTIAL) +
 * CMS_add1_recipient_cert + CMS_final, each serialised with
 * i2d_CMS_ContentInfo, on a ~2 KiB message, in THREADS threads for
 * SECONDS.  Prints one JSON line {"mode":..,"threads":..,"ops_per_s":..}.
 *
 * usage: cms_ceiling encrypt THREADS SECONDS CERT...
 *        cms_ceiling sign THREADS SECONDS CERT KEY
 *        cms_ceiling signencrypt THREADS SECONDS SIGNCERT SIGNKEY CERT...
 */
#define _GNU_SOURCE
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSGSZ 2048

static int do_sign, do_encrypt;
static X509 *signer;
static EVP_PKEY *signkey;
static X509 *recips[16];
static int nrecips;
static char msg[MSGSZ];
static double t_measure, t_end;

struct worker {
	pthread_t th;
	unsigned long ops;
	int err;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static X509 *
load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		fprintf(stderr, "%s: not a certificate\n", path);
		exit(1);
	}
	return x;
}

static EVP_PKEY *
load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL) {
		fprintf(stderr, "%s: not a key\n", path);
		exit(1);
	}
	return k;
}

/* One operation: sign and/or encrypt msg; 0 on success. */
static int
once(void)
{
	CMS_ContentInfo *cms;
	unsigned char *der = NULL, *sigder = NULL;
	const char *data = msg;
	size_t datalen = sizeof(msg);
	BIO *in;
	int len, i, r = -1;

	if (do_sign) {
		in = BIO_new_mem_buf(data, (int)datalen);
		cms = CMS_sign(signer, signkey, NULL, in, CMS_DETACHED);
		BIO_free(in);
		if (cms == NULL)
			return -1;
		len = i2d_CMS_ContentInfo(cms, &sigder);
		CMS_ContentInfo_free(cms);
		if (len <= 0)
			return -1;
		/* the signed entity (message + signature) is what gets
		 * encrypted, as in formdrop */
		datalen = sizeof(msg) + (size_t)len * 4 / 3;
	}
	if (do_encrypt) {
		char *big = malloc(datalen);

		memset(big, 'x', datalen);
		memcpy(big, msg, sizeof(msg));
		in = BIO_new_mem_buf(big, (int)datalen);
		cms = CMS_encrypt(NULL, NULL, EVP_aes_256_cbc(), CMS_PARTIAL);
		for (i = 0; cms != NULL && i < nrecips; i++)
			if (CMS_add1_recipient_cert(cms, recips[i], 0) == NULL)
				goto out;
		if (cms == NULL || CMS_final(cms, in, NULL, 0) != 1 ||
		    (len = i2d_CMS_ContentInfo(cms, &der)) <= 0)
			goto out;
		r = 0;
out:
		CMS_ContentInfo_free(cms);
		BIO_free(in);
		free(big);
	} else
		r = 0;
	OPENSSL_free(der);
	OPENSSL_free(sigder);
	return r;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	double t;

	for (;;) {
		if (once() != 0) {
			w->err = 1;
			ERR_print_errors_fp(stderr);
			break;
		}
		t = now();
		if (t >= t_end)
			break;
		if (t >= t_measure)
			w->ops++;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct worker *w;
	double seconds, warmup = 0.3;
	unsigned long ops = 0;
	int n, t, a, err = 0;
	size_t i;

	if (argc < 5)
		goto usage;
	if (strcmp(argv[1], "encrypt") == 0)
		do_encrypt = 1;
	else if (strcmp(argv[1], "sign") == 0)
		do_sign = 1;
	else if (strcmp(argv[1], "signencrypt") == 0)
		do_sign = do_encrypt = 1;
	else
		goto usage;
	n = atoi(argv[2]);
	seconds = atof(argv[3]);
	a = 4;
	if (do_sign) {
		if (argc < a + 2)
			goto usage;
		signer = load_cert(argv[a]);
		signkey = load_key(argv[a + 1]);
		a += 2;
	}
	if (do_encrypt)
		for (; a < argc && nrecips < 16; a++)
			recips[nrecips++] = load_cert(argv[a]);
	if (n < 1 || n > 256 || seconds <= 0 || (do_encrypt && !nrecips))
		goto usage;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (i % 72 == 71) ? '\n' : 'A' + (char)(i % 26);
	w = calloc((size_t)n, sizeof(*w));
	t_measure = now() + warmup;
	t_end = t_measure + seconds;
	for (t = 0; t < n; t++)
		pthread_create(&w[t].th, NULL, run, &w[t]);
	for (t = 0; t < n; t++) {
		pthread_join(w[t].th, NULL);
		ops += w[t].ops;
		err |= w[t].err;
	}
	if (err)
		return 1;
	printf("{\"mode\":\"%s\",\"threads\":%d,\"recipients\":%d,\"ops\":%lu,"
	    "\"seconds\":%.3f,\"ops_per_s\":%.1f}\n", argv[1], n, nrecips, ops,
	    seconds, ops / seconds);
	return 0;
usage:
	fprintf(stderr, "usage: %s encrypt|sign|signencrypt THREADS SECONDS "
	    "[SIGNCERT SIGNKEY] [CERT...]\n", argv[0]);
	return 64;
}
