/* http_server.c — `ca-server serve`: load the CA, start CivetWeb with
 * mutual TLS (server key handed to OpenSSL from memory in init_ssl, client
 * certificates optional and verified against the Infrastructure CA only),
 * print where it listens, and on SIGTERM/SIGINT stop accepting, let
 * in-flight requests finish and close every registry connection. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <civetweb.h>
#include <openssl/ssl.h>

#include "ca_cmp.h"
#include "ca_ocsp.h"
#include "http_api.h"
#include "http_connlimit.h"
#include "http_int.h"

static const char usage[] =
    "usage: ca-server serve --data DIR [--listen HOST:PORT] [--key-pass-file FILE | --key-pass-env VAR]\n"
    "                       [--web DIR] [--plain-listen HOST:PORT] [--db URL] [--routes]\n"
    "  --db          the registry on PostgreSQL, postgresql://USER@HOST:PORT/DB\n"
    "                (default: config \"db\", else DIR/registry.db); several\n"
    "                serves with the same DIR material on one database are nodes\n"
    "  --listen      address to bind (default: config \"listen\"); port 0 picks one\n"
    "  --plain-listen  address of the read-only plain-HTTP listener (CRLs, CA\n"
    "                certificates, OCSP; default: config \"plain_http_listen\",\n"
    "                off when empty); port 0 picks one\n"
    "  --web         folder of the portal's static files (default: config\n"
    "                \"web_dir\", else the installed share/provca/web, else the\n"
    "                source tree's web/)\n"
    "  --routes      print the route table (METHOD PATTERN ROLES) and exit\n";

/* TLS sessions kept for resumption (each holds the client's parsed
 * certificate, a few KiB). */
#define HTTP_TLS_SESSION_CACHE 4096

typedef struct {
	const char *data_dir;
	const char *listen;
	const char *key_pass_file;
	const char *key_pass_env;
	const char *web_dir;
	const char *plain_listen;
	const char *db;
	int routes_only;
} serve_opts;

/* ---- CivetWeb callbacks ---------------------------------------------- */

/* Configure the server's TLS context ourselves (returning 1 tells CivetWeb
 * not to touch certificates or verification). */
static int cb_init_ssl(void *ssl_ctx, void *user_data)
{
	static const unsigned char sid_ctx[] = "provca-ca-server";
	http_server *srv = user_data;
	SSL_CTX *ctx = ssl_ctx;
	STACK_OF(X509_NAME) * names;

	if (ca_tls_configure(srv->ca, ctx, srv->tls_err,
	        sizeof(srv->tls_err)) != CA_OK)
		return -1;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		snprintf(srv->tls_err, sizeof(srv->tls_err),
		    "cannot require TLS 1.2+");
		return -1;
	}
	/* Optional client certificate: public routes and the portal work
	 * without one; a certificate that is sent must verify. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* Resumption with client certificates needs a session id context. */
	if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) !=
	    1) {
		snprintf(srv->tls_err, sizeof(srv->tls_err),
		    "cannot set session id context");
		return -1;
	}
	/* Name the acceptable issuers in the CertificateRequest so a client
	 * holding several certificates picks the right one. */
	names = SSL_load_client_CA_file(srv->client_ca_file);
	if (names == NULL) {
		snprintf(srv->tls_err, sizeof(srv->tls_err),
		    "cannot read %.200s", srv->client_ca_file);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	/* Resumption from the server's own session cache, not from
	 * self-contained tickets: a stateless ticket carries the session with
	 * the client's certificate in DER, and OpenSSL 3.0 decodes that
	 * certificate's key through its decoder framework on every resumed
	 * handshake (~40 % of a resumed connection's CPU, profiled). A cached
	 * session keeps the parsed certificate. With SSL_OP_NO_TICKET TLS 1.3
	 * still sends tickets, but each is only a key into this cache; TLS 1.2
	 * resumes by session id. The cache is bounded (oldest dropped first),
	 * sessions expire after 300 s, and a resumed session carries the same
	 * verified certificate, which http_auth maps to its principal on every
	 * request as before. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ctx, HTTP_TLS_SESSION_CACHE);
	SSL_CTX_set_timeout(ctx, 300);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	/* Many clients (Python's ssl, most HTTP libraries on close) end a
	 * connection with a TCP FIN and no close_notify. OpenSSL 3.0 takes
	 * that EOF for a fatal error and drops the session from the cache,
	 * so such a client never resumed (measured: Python's ssl, 0 of 3).
	 * Every request here is framed by its own length, so a truncation
	 * cannot pass for a complete request; nginx sets the same option. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* An idle connection gives its ~34 KiB of record buffers back (about
	 * a sixth of the memory of 1,000 open connections, measured). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* One ticket per handshake (OpenSSL sends two): each is a cache entry
	 * holding a certificate, and a client resumes with one. */
	if (SSL_CTX_set_num_tickets(ctx, 1) != 1) {
		snprintf(srv->tls_err, sizeof(srv->tls_err),
		    "cannot set ticket count");
		return -1;
	}
	/* Connections per client address and the handshake timeout. */
	if (http_connlimit_attach(srv->connlimit, ctx, srv->tls_err,
	        sizeof(srv->tls_err)) != 0)
		return -1;
	return 1;
}

static void *cb_init_thread(const struct mg_context *ctx, int thread_type)
{
	(void)ctx;
	if (thread_type != 1) /* only request workers identify callers */
		return NULL;
	return calloc(1, sizeof(http_thread_t));
}

static void cb_exit_thread(const struct mg_context *ctx, int thread_type,
    void *thread_pointer)
{
	(void)ctx;
	if (thread_type == 1)
		free(thread_pointer);
}

static int cb_log_message(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	fprintf(stderr, "ca-server: civetweb: %s\n", message);
	return 1;
}

/* Every route is authorised by http_dispatch (client certificate or
 * session, role per route). Without a handler of its own CivetWeb looks for
 * .htpasswd files on every request (stat calls per request, and a stray
 * file in the working folder would switch on digest authentication). */
static int cb_authorize(struct mg_connection *conn, void *cbdata)
{
	(void)conn;
	(void)cbdata;
	return 1;
}

/* ---- set-up helpers --------------------------------------------------- */

/* Descriptors besides the connections: each pooled registry connection
 * (database, -wal, -shm), the listener, logs, certificates being read. */
#define FD_RESERVE (3 * HTTP_REG_POOL_MAX + 256)

/* Every open connection holds a descriptor: raise the soft limit on open
 * files towards the hard one when the worker count could exceed it. When
 * the limit stays too low, say so and return the worker count that fits
 * (at least 16), so connections fail at accept time no more than they
 * would have without us. */
static int fd_limit_raise(int nthreads)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)nthreads + FD_RESERVE;
	int fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return nthreads;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ?
	    want :
	    rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 &&
	    getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return nthreads;
	if (rl.rlim_cur >= want)
		return nthreads;
	fit = rl.rlim_cur > (rlim_t)FD_RESERVE + 16 ?
	    (int)(rl.rlim_cur - FD_RESERVE) :
	    16;
	fprintf(stderr,
	    "ca-server: open-file limit %llu is too low for %d worker "
	    "threads; running %d (raise the hard limit, ulimit -Hn)\n",
	    (unsigned long long)rl.rlim_cur, nthreads, fit);
	return fit;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The "web_dir" setting of DATA/config.json, if any (config.h does not
 * carry it: it belongs to the HTTP service). */
static void config_web_dir(char *out, size_t outlen, const char *data_dir)
{
	char path[PATH_MAX];
	char *text = NULL;
	cJSON *doc = NULL, *v;
	FILE *f = NULL;
	long n;

	out[0] = '\0';
	if (ca_path(path, sizeof(path), data_dir, CA_FILE_CONFIG) != 0)
		return;
	f = fopen(path, "rb");
	if (f == NULL)
		goto out;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    n > CONFIG_FILE_MAX || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	text = malloc((size_t)n + 1);
	if (text == NULL || fread(text, 1, (size_t)n, f) != (size_t)n)
		goto out;
	text[n] = '\0';
	doc = cJSON_Parse(text);
	v = cJSON_GetObjectItemCaseSensitive(doc, "web_dir");
	if (cJSON_IsString(v) && v->valuestring[0] != '\0')
		snprintf(out, outlen, "%s", v->valuestring);
out:
	cJSON_Delete(doc);
	free(text);
	if (f != NULL)
		fclose(f);
}

/* Choose the static-file folder: flag, config, installed copy, source. */
static void web_dir_resolve(http_server *srv, const char *flag)
{
	char cand[PATH_MAX], exe[PATH_MAX];
	ssize_t n;

	srv->web_dir[0] = '\0';
	if (flag != NULL) {
		snprintf(cand, sizeof(cand), "%s", flag);
	} else {
		config_web_dir(cand, sizeof(cand), srv->data_dir);
		if (cand[0] == '\0') {
			n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
			if (n > 0) {
				exe[n] = '\0';
				snprintf(cand, sizeof(cand), "%s/%s",
				    dirname(exe), PROVCA_INSTALL_WEB_REL);
			}
			if (cand[0] == '\0' || !is_dir(cand))
				snprintf(cand, sizeof(cand), "%s",
				    PROVCA_SOURCE_WEB_DIR);
		}
	}
	if (is_dir(cand) && realpath(cand, srv->web_dir) == NULL)
		srv->web_dir[0] = '\0';
}

static int parse_args(serve_opts *o, int argc, char **argv)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--routes") == 0) {
			o->routes_only = 1;
			continue;
		}
		if (i + 1 >= argc)
			return -1;
		if (strcmp(a, "--data") == 0)
			o->data_dir = argv[++i];
		else if (strcmp(a, "--listen") == 0)
			o->listen = argv[++i];
		else if (strcmp(a, "--key-pass-file") == 0)
			o->key_pass_file = argv[++i];
		else if (strcmp(a, "--key-pass-env") == 0)
			o->key_pass_env = argv[++i];
		else if (strcmp(a, "--web") == 0)
			o->web_dir = argv[++i];
		else if (strcmp(a, "--plain-listen") == 0)
			o->plain_listen = argv[++i];
		else if (strcmp(a, "--db") == 0)
			o->db = argv[++i];
		else
			return -1;
	}
	return o->data_dir != NULL || o->routes_only ? 0 : -1;
}

/* Split "host:port" (or "[v6]:port") into CivetWeb's "host:portS" form. */
static int listen_option(char *out, size_t outlen, char *host, size_t hostlen,
    const char *listen)
{
	const char *colon = strrchr(listen, ':');
	char *end;
	long port;

	if (colon == NULL || colon == listen ||
	    (size_t)(colon - listen) >= hostlen)
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 ||
	    port > 65535)
		return -1;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	if ((size_t)snprintf(out, outlen, "%s:%lds", host, port) >= outlen)
		return -1;
	return 0;
}

/* Print shell lines that work when pasted as they are: add a manufacturer
 * and its principal, enroll one device over HTTPS with that principal, and
 * look the device up as the administrator. A fresh name per paste (N) so
 * they can be pasted again; absolute paths so any folder will do. */
static void print_try_lines(const http_server *srv, const char *url)
{
	char exe[PATH_MAX], data[PATH_MAX], root[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0 || realpath(srv->data_dir, data) == NULL ||
	    ca_path(root, sizeof(root), data, CA_FILE_ROOT_CERT) != 0)
		return;
	exe[n] = '\0';
	printf(
	    "try it: paste these lines into a shell (a manufacturer and its principal,\n"
	    "one device enrolled over HTTPS, then looked up by the administrator):\n");
	printf("  CA='%s' DATA='%s' URL='%s' N=demo$(date +%%s)\n", exe, data,
	    url);
	printf(
	    "  \"$CA\" manufacturer add --data \"$DATA\" --id \"$N\" --name \"Demo $N\" && "
	    "\"$CA\" principal add --data \"$DATA\" --role manufacturer --manufacturer-id \"$N\" "
	    "--name \"$N\" --out \"$DATA/try-$N\"\n");
	printf(
	    "  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj \"/CN=$N\" "
	    "-keyout \"$DATA/try-$N/device.key\" -out \"$DATA/try-$N/device.csr\" 2>/dev/null\n");
	printf(
	    "  curl -sS --cacert '%s' --cert \"$DATA/try-$N/$N.crt\" --key \"$DATA/try-$N/$N.key\" "
	    "-H 'Content-Type: application/json' --data-binary "
	    "\"{\\\"serial\\\":\\\"SN-1\\\",\\\"model\\\":\\\"demo\\\",\\\"csr\\\":\\\""
	    "$(awk '{printf \"%%s\\\\n\", $0}' \"$DATA/try-$N/device.csr\")\\\"}\" "
	    "\"$URL/api/v1/devices\" > \"$DATA/try-$N/device.json\" && cat \"$DATA/try-$N/device.json\"; echo\n",
	    root);
	printf(
	    "  ID=$(sed -n 's/.*\"device_id\": *\"\\([^\"]*\\)\".*/\\1/p' \"$DATA/try-$N/device.json\")\n");
	printf(
	    "  curl -sS --cacert '%s' --cert \"$DATA/admin/admin.crt\" --key \"$DATA/admin/admin.key\" "
	    "\"$URL/devices/$ID\"\n",
	    root);
}

static void print_banner(http_server *srv, const char *host, int port)
{
	char url[300];
	const char *shown = host;

	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0)
		shown = "localhost";
	snprintf(url, sizeof(url), "https://%s:%d", shown, port);
	printf("listening on %s\n", url);
	printf(
	    "admin bundle: %s/admin/admin.p12 (password in %s/admin/admin.p12.pass)\n",
	    srv->data_dir, srv->data_dir);
	printf("static files: %s\n", srv->web_dir[0] ? srv->web_dir : "(none)");
	print_try_lines(srv, url);
	fflush(stdout);
}

/* The per-address connection limit keeps a quarter of the workers for
 * other addresses (an operator's lookup still gets a thread while one
 * address floods); the TLS handshake gets tls_handshake_timeout_ms. */
static int connlimit_start(http_server *srv, int nthreads, char *err,
    size_t errlen)
{
	int cap = nthreads - nthreads / 4,
	    per = srv->cfg->max_connections_per_address;

	if (cap < 1)
		cap = 1;
	if (per > cap) {
		fprintf(stderr,
		    "ca-server: max_connections_per_address %d would leave "
		    "other addresses too few of %d worker threads; using %d\n",
		    per, nthreads, cap);
		per = cap;
	}
	return http_connlimit_new(&srv->connlimit, per,
	    srv->cfg->tls_handshake_timeout_ms, &srv->metrics.conn_refused,
	    &srv->metrics.handshake_timeouts, err, errlen);
}

/* Start the plain-HTTP listener when flag or config names an address, and
 * say where it listens. 0 when started or off, -1 after printing why. */
static int plain_start(http_server *srv, const char *flag)
{
	const char *listen = flag != NULL ? flag : srv->cfg->plain_http_listen;
	char opt[160], host[128], err[256];
	size_t n;
	int port = 0;

	if (listen[0] == '\0')
		return 0;
	if (listen_option(opt, sizeof(opt), host, sizeof(host), listen) != 0) {
		fprintf(stderr,
		    "ca-server: bad plain-HTTP listen address (want HOST:PORT)\n");
		return -1;
	}
	n = strlen(opt);
	opt[n - 1] = '\0'; /* no TLS: drop listen_option's 's' */
	if (http_plain_start(srv, opt, &port, err, sizeof(err)) != 0) {
		fprintf(stderr, "ca-server: %s\n", err);
		return -1;
	}
	printf("plain HTTP (CRLs, CA certificates, OCSP) on http://%s:%d\n",
	    host, port);
	fflush(stdout);
	return 0;
}

static void server_free(http_server *srv)
{
	if (srv == NULL)
		return;
	http_shared_free(srv); /* after mg_stop: no worker holds a connection */
	api_security_context_free(srv);
	http_connlimit_free(srv->connlimit);
	ca_ocsp_cache_free(srv->ocsp_cache);
	if (srv->access_log != NULL && srv->access_log_owned)
		fclose(srv->access_log);
	ca_free(srv->ca);
	free(srv);
}

/* ---- main --------------------------------------------------------------- */

/* Load the CA from the data folder and what every request shares: the
 * route table, the static files' folder, the chain /ca/chain.pem serves.
 * 0, or -1 after printing why. */
static int serve_load(http_server *srv, const serve_opts *o)
{
	const char *dev_pem, *root_pem;
	char err[512];

	if (realpath(o->data_dir, srv->data_dir) == NULL) {
		fprintf(stderr, "ca-server: %s: %s\n", o->data_dir,
		    strerror(errno));
		return -1;
	}
	if (ca_serve_check(srv->data_dir, err, sizeof(err)) != CA_OK ||
	    ca_open_db(&srv->ca, srv->data_dir, o->key_pass_file,
	        o->key_pass_env, o->db, err, sizeof(err)) != CA_OK ||
	    ca_cmp_signer_ensure(srv->ca, err, sizeof(err)) != CA_OK) {
		fprintf(stderr, "ca-server: %s\n", err);
		return -1;
	}
	if (ca_custody_describe(srv->ca, err, sizeof(err)) == CA_OK)
		fprintf(stderr, "ca-server: key custody: %s\n", err);
	srv->cfg = ca_config(srv->ca);
	if (http_routes_collect(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "ca-server: %s\n", err);
		return -1;
	}
	web_dir_resolve(srv, o->web_dir);

	dev_pem = ca_cert_pem(srv->ca, CA_CERT_DEVICE);
	root_pem = ca_cert_pem(srv->ca, CA_CERT_ROOT);
	if (dev_pem == NULL || root_pem == NULL) {
		fprintf(stderr, "ca-server: CA certificates missing\n");
		return -1;
	}
	return 0;
}

/* Open the access log: the config's access_log_file (appended), else
 * stderr. 0, or -1 after printing why. */
static int access_log_open(http_server *srv)
{
	int fd;

	if (srv->cfg->access_log_file[0] == '\0') {
		srv->access_log = stderr;
		return 0;
	}
	fd = open(srv->cfg->access_log_file,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0 || (srv->access_log = fdopen(fd, "a")) == NULL) {
		fprintf(stderr, "ca-server: %s: %s\n",
		    srv->cfg->access_log_file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	srv->access_log_owned = 1;
	return 0;
}

/* CivetWeb's options for the HTTPS listener and the strings they point at. */
typedef struct {
	char listen[160], host[128], threads[16], keepalive[16], backlog[16];
	char ca_file[PATH_MAX];
	const char *v[32];
	int nthreads;
} https_options;

/* Fill op for srv, listening on listen (NULL: the config's). 0, or -1
 * after printing why. */
static int https_options_build(https_options *op, http_server *srv,
    const char *listen)
{
	int k = 0;

	if (listen_option(op->listen, sizeof(op->listen), op->host,
	        sizeof(op->host),
	        listen != NULL ? listen : srv->cfg->listen) != 0) {
		fprintf(stderr,
		    "ca-server: bad listen address (want HOST:PORT)\n");
		return -1;
	}
	if (ca_path(op->ca_file, sizeof(op->ca_file), srv->data_dir,
	        CA_FILE_CLIENT_CA) != 0) {
		fprintf(stderr, "ca-server: data path too long\n");
		return -1;
	}
	memcpy(srv->client_ca_file, op->ca_file, sizeof(op->ca_file));
	op->nthreads =
	    srv->cfg->worker_threads > 0 ? srv->cfg->worker_threads : 1024;
	op->nthreads = fd_limit_raise(op->nthreads);
	snprintf(op->threads, sizeof(op->threads), "%d", op->nthreads);
	/* Connections arriving together wait in the kernel's listen queue
	 * until a worker takes them: room for as many as there are workers
	 * (the kernel caps it at net.core.somaxconn). */
	snprintf(op->backlog, sizeof(op->backlog), "%d",
	    op->nthreads < 128 ? 128 : op->nthreads);
	/* An idle keep-alive connection holds its worker thread until this
	 * runs out. */
	snprintf(op->keepalive, sizeof(op->keepalive), "%d",
	    srv->cfg->keep_alive_timeout_ms);

	/* The TLS settings below document intent; init_ssl returns 1, so the
	 * effective TLS configuration is the one cb_init_ssl makes. */
	op->v[k++] = "listening_ports";
	op->v[k++] = op->listen;
	op->v[k++] = "num_threads";
	op->v[k++] = op->threads;
	op->v[k++] = "listen_backlog";
	op->v[k++] = op->backlog;
	op->v[k++] = "ssl_verify_peer";
	op->v[k++] = "optional";
	op->v[k++] = "ssl_ca_file";
	op->v[k++] = op->ca_file;
	op->v[k++] = "ssl_default_verify_paths";
	op->v[k++] = "no";
	op->v[k++] = "ssl_protocol_version";
	op->v[k++] = "4";
	op->v[k++] = "ssl_cache_timeout";
	op->v[k++] = "300";
	/* Replies go out in one write (http_reply_send), but CivetWeb's own
	 * error pages do not: without TCP_NODELAY a second segment waits
	 * ~40 ms for the client's delayed ACK (Nagle). */
	op->v[k++] = "tcp_nodelay";
	op->v[k++] = "1";
	op->v[k++] = "enable_keep_alive";
	op->v[k++] = "yes";
	op->v[k++] = "keep_alive_timeout_ms";
	op->v[k++] = op->keepalive;
	op->v[k++] = "request_timeout_ms";
	op->v[k++] = "30000";
	op->v[k++] = "max_request_size";
	op->v[k++] = "16384";
	op->v[k++] = "enable_directory_listing";
	op->v[k++] = "no";
	op->v[k] = NULL;
	return 0;
}

/* Block the stop signals: threads started after this inherit the mask,
 * so only the main thread takes them (sigwait). */
static void signals_block(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* What the workers share, made before any of them starts: the pool's and
 * the principal cache's locks, the OCSP cache, the connection limit. 0, or
 * -1 after printing why. */
static int serve_prepare(http_server *srv, int nthreads)
{
	char err[512];

	if (http_shared_init(srv) != 0) {
		fprintf(stderr, "ca-server: cannot initialise locks\n");
		return -1;
	}
	if (ca_ocsp_cache_new(&srv->ocsp_cache) != CA_OK) {
		fprintf(stderr, "ca-server: out of memory\n");
		return -1;
	}
	if (connlimit_start(srv, nthreads, err, sizeof(err)) != 0) {
		fprintf(stderr, "ca-server: %s\n", err);
		return -1;
	}
	return 0;
}

/* Start CivetWeb with op (every request to http_dispatch), print where it
 * listens, then start the plain-HTTP listener. 0, or -1 after printing why
 * with nothing left running. */
static int https_start(http_server *srv, https_options *op,
    const char *plain_listen)
{
	struct mg_callbacks cb;
	struct mg_server_port ports[4];

	memset(&cb, 0, sizeof(cb));
	cb.init_ssl = cb_init_ssl;
	cb.init_thread = cb_init_thread;
	cb.exit_thread = cb_exit_thread;
	cb.log_message = cb_log_message;
	/* No log_access callback: our access log is written by the
	 * dispatcher, and with a callback CivetWeb formats its own line for
	 * every request first (localtime(), which stats /etc/localtime under
	 * a process-wide lock, address and header formatting). */
	srv->ctx = mg_start(&cb, srv, op->v);
	if (srv->ctx == NULL) {
		fprintf(stderr, "ca-server: cannot start HTTPS on %s%s%s\n",
		    op->listen, srv->tls_err[0] ? ": " : "", srv->tls_err);
		return -1;
	}
	mg_set_auth_handler(srv->ctx, "**", cb_authorize, NULL);
	mg_set_request_handler(srv->ctx, "**", http_dispatch, srv);

	memset(ports, 0, sizeof(ports));
	if (mg_get_server_ports(srv->ctx, 4, ports) < 1) {
		fprintf(stderr, "ca-server: no listening port\n");
		mg_stop(srv->ctx);
		return -1;
	}
	print_banner(srv, op->host, ports[0].port);
	if (plain_start(srv, plain_listen) != 0) {
		mg_stop(srv->ctx);
		return -1;
	}
	return 0;
}

/* Serve until SIGTERM or SIGINT (SIGHUP: nothing to reload yet), then stop
 * both listeners: mg_stop stops accepting and waits for every worker to
 * finish its request. */
static void serve_until_signal(http_server *srv, sigset_t *sigs)
{
	int sig = 0;

	while (sigwait(sigs, &sig) == 0)
		if (sig == SIGTERM || sig == SIGINT)
			break;
	fprintf(stderr,
	    "ca-server: signal %d: stopping (finishing in-flight requests)\n",
	    sig);
	if (srv->plain_ctx != NULL)
		mg_stop(srv->plain_ctx);
	mg_stop(srv->ctx);
	fprintf(stderr, "ca-server: stopped\n");
}

int http_serve_main(int argc, char **argv)
{
	http_server *srv = NULL;
	https_options op;
	serve_opts o;
	sigset_t sigs;
	char err[512];
	int rc = 1;

	/* Accept argv starting at the program name, at "serve", or after it. */
	while (argc > 0 && argv[0][0] != '-') {
		argc--;
		argv++;
	}
	if (parse_args(&o, argc, argv) != 0) {
		fputs(usage, stderr);
		return 2;
	}
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		fprintf(stderr, "ca-server: out of memory\n");
		return 1;
	}
	if (o.routes_only) {
		if (http_routes_collect(srv, err, sizeof(err)) != 0) {
			fprintf(stderr, "ca-server: %s\n", err);
			goto out;
		}
		http_routes_print(stdout, srv);
		rc = 0;
		goto out;
	}
	memset(&op, 0, sizeof(op));
	if (serve_load(srv, &o) != 0 || access_log_open(srv) != 0 ||
	    https_options_build(&op, srv, o.listen) != 0)
		goto out;
	signals_block(&sigs);
	if (serve_prepare(srv, op.nthreads) != 0)
		goto out;
	mg_init_library(MG_FEATURES_TLS);
	if (https_start(srv, &op, o.plain_listen) == 0) {
		serve_until_signal(srv, &sigs);
		rc = 0;
	}
	mg_exit_library();
out:
	server_free(srv);
	return rc;
}
