/*
 * fcgi_ok: the FastCGI ceiling.  A minimal libfcgi responder that reads
 * the whole request body and answers 200 with a short text body, in
 * WORKERS pre-forked processes sharing one listening socket (as
 * formdrop.fcgi does).  SIGTERM to the parent stops the workers.
 *
 * usage: fcgi_ok unix:/path/to/socket WORKERS
 */
#define _GNU_SOURCE
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXW 256

static pid_t kids[MAXW];
static int nkids;
static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
serve(int sock)
{
	FCGX_Request req;
	char buf[65536];
	unsigned long total;
	int n;

	signal(SIGTERM, SIG_DFL);
	FCGX_InitRequest(&req, sock, 0);
	while (FCGX_Accept_r(&req) >= 0) {
		total = 0;
		while ((n = FCGX_GetStr(buf, sizeof(buf), req.in)) > 0)
			total += (unsigned long)n;
		FCGX_FPrintF(req.out, "Status: 200 OK\r\n"
		    "Content-Type: text/plain\r\n\r\nok %lu\n", total);
		FCGX_Finish_r(&req);
	}
	_exit(0);
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	const char *spec;
	int sock, w, i;
	pid_t pid;

	if (argc != 3 || strncmp(argv[1], "unix:", 5) != 0) {
		fprintf(stderr, "usage: %s unix:PATH WORKERS\n", argv[0]);
		return 64;
	}
	spec = argv[1] + 5;
	w = atoi(argv[2]);
	if (w < 1 || w > MAXW)
		return 64;
	unlink(spec);
	if (FCGX_Init() != 0 || (sock = FCGX_OpenSocket(spec, 128)) < 0) {
		perror("fcgi_ok: socket");
		return 1;
	}
	chmod(spec, 0666);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (i = 0; i < w; i++) {
		if ((pid = fork()) == 0)
			serve(sock);
		if (pid > 0)
			kids[nkids++] = pid;
	}
	while (!stop)
		pause();
	for (i = 0; i < nkids; i++)
		kill(kids[i], SIGTERM);
	for (i = 0; i < nkids; i++)
		waitpid(kids[i], NULL, 0);
	unlink(spec);
	return 0;
}
