/* ca_init.c — `ca-server init`: build the whole PKI hierarchy, TLS server
 * certificate, registry, config and first admin principal in a temporary
 * folder beside DIR, then rename it into place, so a failure leaves
 * nothing half-written. */
#define _XOPEN_SOURCE 700
#include "ca_priv.h"
#include "ca_cmp.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "pki_keys.h"
#include "util.h"

#define CA_VALIDITY_ROOT_DAYS (25 * 365)
#define CA_VALIDITY_SUB_DAYS (20 * 365)

static int rm_entry(const char *path, const struct stat *sb, int type,
    struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Remove a folder tree we created. */
static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* An X509_NAME from (O, OU, CN); NULL parts are skipped. */
static X509_NAME *make_name(const char *o, const char *ou, const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL)
		return NULL;
	if ((o != NULL &&
	        X509_NAME_add_entry_by_NID(n, NID_organizationName,
	            MBSTRING_UTF8, (const unsigned char *)o, -1, -1, 0) != 1) ||
	    (ou != NULL &&
	        X509_NAME_add_entry_by_NID(n, NID_organizationalUnitName,
	            MBSTRING_UTF8, (const unsigned char *)ou, -1, -1,
	            0) != 1) ||
	    (cn != NULL &&
	        X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	            (const unsigned char *)cn, -1, -1, 0) != 1)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

/* Write cert (and optionally a second one) as PEM to dir/name, 0644. */
static int write_pem(const char *dir, const char *name, X509 *a, X509 *b,
    char *err, size_t errlen)
{
	char path[PATH_MAX], *pa = NULL, *pb = NULL, *all = NULL;
	int rc = CA_ERR_INTERNAL;
	size_t la, lb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((pa = ca_cert_to_pem(a)) == NULL ||
	    (b != NULL && (pb = ca_cert_to_pem(b)) == NULL)) {
		util_err_openssl(err, errlen, "encode certificate");
		goto out;
	}
	la = strlen(pa);
	lb = pb != NULL ? strlen(pb) : 0;
	if ((all = malloc(la + lb + 1)) == NULL)
		goto out;
	memcpy(all, pa, la);
	if (pb != NULL)
		memcpy(all + la, pb, lb);
	all[la + lb] = '\0';
	rc = ca_file_write(path, all, la + lb, 0644, err, errlen);
out:
	free(pa);
	free(pb);
	free(all);
	return rc;
}

/* Write key as PKCS#8 PEM to dir/name, 0600, exclusive. */
static int write_key(const char *dir, const char *name, EVP_PKEY *key,
    const char *pass, char *err, size_t errlen)
{
	char path[PATH_MAX], *pem = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((rc = ca_key_to_pem(&pem, &len, key, pass, err, errlen)) != CA_OK)
		return rc;
	rc = ca_file_write(path, pem, len, 0600, err, errlen);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return rc;
}

/* Hostnames: DNS labels or IP literals, no separators a config string
 * could misread. */
static int hostname_valid(const char *h)
{
	size_t i, n = strlen(h);
	unsigned char buf[16];

	if (inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1)
		return 1;
	if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* SAN string for the server: localhost, 127.0.0.1, ::1 and hostnames. */
static char *server_san(const ca_init_opts_t *o)
{
	size_t i, cap = 64, len;
	char *s;

	for (i = 0; i < o->n_hostnames; i++)
		cap += strlen(o->hostnames[i]) + 8;
	if ((s = malloc(cap)) == NULL)
		return NULL;
	len = (size_t)snprintf(s, cap, "DNS:localhost,IP:127.0.0.1,IP:::1");
	for (i = 0; i < o->n_hostnames; i++) {
		const char *h = o->hostnames[i];
		unsigned char buf[16];
		int ip = inet_pton(AF_INET, h, buf) == 1 ||
		    inet_pton(AF_INET6, h, buf) == 1;

		if (strcmp(h, "localhost") == 0 ||
		    strcmp(h, "127.0.0.1") == 0 || strcmp(h, "::1") == 0)
			continue;
		len += (size_t)snprintf(s + len, cap - len, ",%s:%s",
		    ip ? "IP" : "DNS", h);
	}
	return s;
}

/* Does dir exist and hold anything? 1 non-empty, 0 absent/empty, <0 err. */
static int dir_state(const char *dir, int *holds_ca)
{
	char path[PATH_MAX];
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int n = 0;

	*holds_ca = 0;
	if (stat(dir, &sb) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(sb.st_mode))
		return 1;
	ca_path(path, sizeof(path), dir, CA_FILE_CONFIG);
	if (stat(path, &sb) == 0)
		*holds_ca = 1;
	ca_path(path, sizeof(path), dir, CA_FILE_ROOT_CERT);
	if (stat(path, &sb) == 0)
		*holds_ca = 1;
	ca_path(path, sizeof(path), dir, CA_FILE_DB);
	if (stat(path, &sb) == 0)
		*holds_ca = 1;
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			n = 1;
			break;
		}
	}
	closedir(d);
	return n;
}

/* A serving key: opened on the token when uri is set (and recorded in
 * cfg_ref), else freshly generated for a file. */
static int init_key(EVP_PKEY **out, const char *uri, const char *curve,
    char *cfg_ref, size_t cfg_len, const ca_config_t *cfg, char *err,
    size_t errlen)
{
	pki_token_t tok;

	if (uri == NULL)
		return ca_key_generate(out, curve, err, errlen);
	memset(&tok, 0, sizeof(tok));
	snprintf(tok.module, sizeof(tok.module), "%s", cfg->pkcs11_module);
	snprintf(tok.pin_file, sizeof(tok.pin_file), "%s",
	    cfg->pkcs11_pin_file);
	snprintf(tok.pin_env, sizeof(tok.pin_env), "%s", cfg->pkcs11_pin_env);
	if (!pki_key_ref_is_pkcs11(uri) || strlen(uri) >= cfg_len) {
		util_err_set(err, errlen, "%s: not a pkcs11: URI", uri);
		return CA_ERR_INVALID;
	}
	if (pki_signing_key_open(out, uri, NULL, NULL, &tok, err, errlen) !=
	    PKI_OK)
		return CA_ERR_INVALID;
	snprintf(cfg_ref, cfg_len, "%s", uri);
	return CA_OK;
}

/* Write a serving key file unless the key lives on a token. */
static int write_serving_key(const char *dir, const char *ref, EVP_PKEY *key,
    const char *pass, char *err, size_t errlen)
{
	if (pki_key_ref_is_pkcs11(ref))
		return CA_OK;
	return write_key(dir, ref, key, pass, err, errlen);
}

/* The Root's first CRL (empty, CA_ROOT_CRL_DAYS) to data_dir, where serve
 * publishes it, and to root_dir, where ceremonies keep it. */
static int root_crl_write(const char *data_dir, const char *root_dir,
    X509 *root, EVP_PKEY *rk, char *err, size_t errlen)
{
	char path[PATH_MAX + 32];
	uint8_t *der = NULL;
	size_t len = 0;
	int rc;

	if ((rc = ca_root_crl_make(&der, &len, root, rk, NULL, 0, NULL, 0,
	         CA_ROOT_CRL_DAYS, err, errlen)) != CA_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/root-ca.crl", data_dir);
	rc = ca_file_write(path, der, len, 0644, err, errlen);
	snprintf(path, sizeof(path), "%s/root-ca.crl", root_dir);
	if (rc == CA_OK)
		rc = ca_file_write(path, der, len, 0644, err, errlen);
	free(der);
	return rc;
}

/* The keys and certificates init makes, freed together. */
struct init_pki {
	EVP_PKEY *rk, *dk, *ik, *sk; /* Root, Device CA, Infra CA, TLS */
	X509 *root, *dev, *infra, *srv;
};

/* Free what init_pki holds (NULL-safe members). */
static void init_pki_clear(struct init_pki *p)
{
	EVP_PKEY_free(p->rk);
	EVP_PKEY_free(p->dk);
	EVP_PKEY_free(p->ik);
	EVP_PKEY_free(p->sk);
	X509_free(p->root);
	X509_free(p->dev);
	X509_free(p->infra);
	X509_free(p->srv);
}

/* "<org> <what>" as a CA's subject name, or NULL (out of memory). */
static X509_NAME *ca_name(const ca_config_t *cfg, const char *what)
{
	char cn[128];

	snprintf(cn, sizeof(cn), "%s %s", cfg->org, what);
	return make_name(cfg->org, NULL, cn);
}

/* The Root (self-signed; may certify one level of CAs below it), the
 * Device CA (end-entity device certificates only) and the Infrastructure
 * CA (server, client and signer certificates). */
static int build_hierarchy(struct init_pki *p, const ca_config_t *cfg,
    int64_t now, char *err, size_t errlen)
{
	int64_t sub_end =
	    now + (int64_t)CA_VALIDITY_SUB_DAYS * UTIL_SECONDS_PER_DAY;
	X509_NAME *n = NULL;
	char serial[41];
	ca_cert_spec_t sp;
	int rc = CA_ERR_INTERNAL;

	if ((n = ca_name(cfg, "Root CA")) == NULL)
		goto nomem;
	memset(&sp, 0, sizeof(sp));
	sp.subject = n;
	sp.pubkey = p->rk;
	sp.issuer_key = p->rk;
	sp.not_before = now;
	sp.not_after =
	    now + (int64_t)CA_VALIDITY_ROOT_DAYS * UTIL_SECONDS_PER_DAY;
	sp.basic_constraints = "critical,CA:TRUE,pathlen:1";
	sp.key_usage = "critical,keyCertSign,cRLSign";
	if ((rc = ca_x509_make(&p->root, serial, &sp, err, errlen)) != CA_OK)
		goto out;
	X509_NAME_free(n);
	if ((n = ca_name(cfg, "Device CA")) == NULL)
		goto nomem;
	if ((rc = ca_root_certify(&p->dev, serial, p->root, p->rk, n, p->dk, 1,
	         sub_end, cfg, err, errlen)) != CA_OK)
		goto out;
	X509_NAME_free(n);
	if ((n = ca_name(cfg, "Infrastructure CA")) == NULL)
		goto nomem;
	rc = ca_root_certify(&p->infra, serial, p->root, p->rk, n, p->ik, 0,
	    sub_end, cfg, err, errlen);
	goto out;
nomem:
	util_err_openssl(err, errlen, "out of memory");
	rc = CA_ERR_INTERNAL;
out:
	X509_NAME_free(n);
	return rc;
}

/* The TLS server certificate: the first hostname (or localhost) as CN,
 * every hostname in its SAN, issued by the Infrastructure CA. */
static int build_server_cert(struct init_pki *p, const ca_init_opts_t *o,
    const ca_config_t *cfg, int64_t now, char *err, size_t errlen)
{
	X509_NAME *n = NULL;
	char serial[41], *san = NULL;
	ca_cert_spec_t sp;
	int rc;

	if ((n = make_name(cfg->org, NULL,
	         o->n_hostnames > 0 ? o->hostnames[0] : "localhost")) == NULL ||
	    (san = server_san(o)) == NULL) {
		util_err_openssl(err, errlen, "out of memory");
		rc = CA_ERR_INTERNAL;
		goto out;
	}
	memset(&sp, 0, sizeof(sp));
	sp.subject = n;
	sp.pubkey = p->sk;
	sp.issuer = p->infra;
	sp.issuer_key = p->ik;
	sp.not_before = now;
	sp.not_after =
	    now + (int64_t)cfg->server_validity_days * UTIL_SECONDS_PER_DAY;
	sp.basic_constraints = "critical,CA:FALSE";
	sp.key_usage = "critical,digitalSignature";
	sp.ext_key_usage = "serverAuth";
	sp.subject_alt_name = san;
	rc = ca_x509_make(&p->srv, serial, &sp, err, errlen);
out:
	X509_NAME_free(n);
	free(san);
	return rc;
}

/* Key and certificate files: the Root's in root_dir, the rest in tmp. */
static int build_write_files(const struct init_pki *p, const char *tmp,
    const char *root_dir, const ca_config_t *cfg, const char *pass, char *err,
    size_t errlen)
{
	int rc;

	if ((rc = write_key(root_dir, "root-ca.key", p->rk, pass, err,
	         errlen)) ||
	    (rc = write_pem(root_dir, "root-ca.crt", p->root, NULL, err,
	         errlen)) ||
	    (rc = write_serving_key(tmp, cfg->device_ca_key, p->dk, pass, err,
	         errlen)) ||
	    (rc = write_serving_key(tmp, cfg->infra_ca_key, p->ik, pass, err,
	         errlen)) ||
	    (rc = write_serving_key(tmp, cfg->tls_key, p->sk, pass, err,
	         errlen)) ||
	    (rc = write_pem(tmp, "root-ca.crt", p->root, NULL, err, errlen)) ||
	    (rc = write_pem(tmp, "device-ca.crt", p->dev, NULL, err, errlen)) ||
	    (rc = write_pem(tmp, "infra-ca.crt", p->infra, NULL, err,
	         errlen)) ||
	    (rc = write_pem(tmp, "device-chain.pem", p->dev, p->root, err,
	         errlen)) ||
	    (rc = write_pem(tmp, "client-ca.pem", p->infra, p->root, err,
	         errlen)) ||
	    (rc = write_pem(tmp, "server.crt", p->srv, p->infra, err, errlen)))
		return rc;
	return CA_OK;
}

/* The first admin's files in tmp/admin (created 0700). */
static int admin_files_write(const char *tmp, const ca_principal_creds_t *cr,
    const char *p12pass, int pass_file, char *err, size_t errlen)
{
	char adir[PATH_MAX + 32], path[PATH_MAX + 64];
	int rc;

	snprintf(adir, sizeof(adir), "%s/admin", tmp);
	if (mkdir(adir, 0700) != 0) {
		util_err_set(err, errlen, "%s: %s", adir, strerror(errno));
		return CA_ERR_INTERNAL;
	}
	snprintf(path, sizeof(path), "%s/admin.crt", adir);
	rc = ca_file_write(path, cr->cert_pem, strlen(cr->cert_pem), 0644, err,
	    errlen);
	snprintf(path, sizeof(path), "%s/admin.key", adir);
	if (rc == CA_OK)
		rc = ca_file_write(path, cr->key_pem, strlen(cr->key_pem), 0600,
		    err, errlen);
	snprintf(path, sizeof(path), "%s/admin.p12", adir);
	if (rc == CA_OK)
		rc = ca_file_write(path, cr->p12, cr->p12_len, 0600, err,
		    errlen);
	snprintf(path, sizeof(path), "%s/admin.p12.pass", adir);
	if (rc == CA_OK && !pass_file)
		rc = ca_file_write(path, p12pass, strlen(p12pass), 0600, err,
		    errlen);
	return rc;
}

/* Open the new CA in tmp, audit init and issue the first admin through
 * the same engine as later ones (its PKCS#12 password: the key
 * passphrase, or a random one written beside it). */
static int build_first_admin(const ca_init_opts_t *o, const char *tmp,
    const ca_config_t *cfg, const char *pass, char *err, size_t errlen)
{
	ca_principal_attrs_t pa = { .name = o->admin_name != NULL ?
		    o->admin_name :
		    "admin",
		.role = REG_ROLE_ADMIN };
	ca_principal_creds_t cr;
	char p12pass[33] = "";
	uint8_t rnd[16];
	const char *p12p = pass;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	memset(&cr, 0, sizeof(cr));
	if ((rc = ca_open_with_pass(&ca, tmp, pass, err, errlen)) != CA_OK ||
	    (rc = ca_cmp_signer_ensure(ca, err, errlen)) != CA_OK ||
	    (rc = ca_reg_open(ca, &reg, err, errlen)) != CA_OK ||
	    (rc = ca_audit(reg, "ca-server init", "init", "", err, errlen,
	         "org", cfg->org, "public_base_url", cfg->public_base_url,
	         (const char *)NULL)) != CA_OK)
		goto out;
	if (pass[0] == '\0') {
		if (util_random(rnd, sizeof(rnd)) != 0) {
			util_err_openssl(err, errlen, "out of memory");
			rc = CA_ERR_INTERNAL;
			goto out;
		}
		util_hex_encode(p12pass, rnd, sizeof(rnd));
		p12p = p12pass;
	}
	if ((rc = ca_principal_add_generated(ca, reg, &cr, &pa, p12p,
	         pass[0] != '\0' ? pass : NULL, "ca-server init", err,
	         errlen)) != CA_OK)
		goto out;
	rc = admin_files_write(tmp, &cr, p12pass, pass[0] != '\0', err, errlen);
out:
	OPENSSL_cleanse(p12pass, sizeof(p12pass));
	ca_principal_creds_clear(&cr);
	reg_close(reg);
	ca_free(ca);
	return rc;
}

/* The registry's database into cfg: a postgresql:// URL (no password). */
static int init_db(ca_config_t *cfg, const ca_init_opts_t *o, char *err,
    size_t errlen)
{
	if (o->db == NULL)
		return CA_OK;
	if (config_db_check(o->db) != 0 || o->db[0] == '\0' ||
	    strlen(o->db) >= sizeof(cfg->db)) {
		util_err_set(err, errlen,
		    "--db must be a postgresql:// URL "
		    "without a password (libpq reads it from ~/.pgpass or "
		    "PGPASSFILE)");
		return CA_ERR_INVALID;
	}
	snprintf(cfg->db, sizeof(cfg->db), "%s", o->db);
	return CA_OK;
}

/* Make the registry at cfg's "db" (PostgreSQL) or in tmp (SQLite). A
 * PostgreSQL database that already holds a registry's rows is refused:
 * a second node copies a data folder, it never runs init. */
static int init_registry(const ca_config_t *cfg, const char *tmp, char *err,
    size_t errlen)
{
	char path[PATH_MAX + 64];
	reg_principal_t *p = NULL;
	reg_t *reg = NULL;
	size_t n = 0;
	int rc;

	if (cfg->db[0] != '\0')
		snprintf(path, sizeof(path), "%s", cfg->db);
	else
		ca_path(path, sizeof(path), tmp, CA_FILE_DB);
	if ((rc = ca_from_reg(reg_open(&reg, path, err, errlen))) != CA_OK)
		return rc;
	if (cfg->db[0] != '\0') {
		if ((rc = ca_from_reg(reg_principal_list(reg, &p, &n, err,
		         errlen))) == CA_OK &&
		    (n > 0 || reg_device_count(reg) != 0)) {
			util_err_set(err, errlen,
			    "the database already holds a "
			    "registry (%zu principals): init needs an empty one; "
			    "another node copies this CA's data folder",
			    n);
			rc = CA_ERR_EXISTS;
		}
		free(p);
	}
	reg_close(reg);
	return rc;
}

/* Everything init makes, in tmp; the Root key in root_dir. */
static int build(const ca_init_opts_t *o, const char *tmp, const char *root_dir,
    ca_config_t *cfg, const char *pass, char *err, size_t errlen)
{
	struct init_pki p;
	char path[PATH_MAX + 64];
	int64_t now = (int64_t)time(NULL) - 60;
	int rc;

	memset(&p, 0, sizeof(p));
	if ((rc = ca_key_generate(&p.rk, "P-384", err, errlen)) != CA_OK ||
	    (rc = init_key(&p.dk, o->device_key_uri, "P-256",
	         cfg->device_ca_key, sizeof(cfg->device_ca_key), cfg, err,
	         errlen)) != CA_OK ||
	    (rc = init_key(&p.ik, o->infra_key_uri, "P-256", cfg->infra_ca_key,
	         sizeof(cfg->infra_ca_key), cfg, err, errlen)) != CA_OK ||
	    (rc = init_key(&p.sk, o->tls_key_uri, "P-256", cfg->tls_key,
	         sizeof(cfg->tls_key), cfg, err, errlen)) != CA_OK)
		goto out;
	if ((rc = build_hierarchy(&p, cfg, now, err, errlen)) != CA_OK ||
	    (rc = root_crl_write(tmp, root_dir, p.root, p.rk, err, errlen)) !=
	        CA_OK ||
	    (rc = build_server_cert(&p, o, cfg, now, err, errlen)) != CA_OK ||
	    (rc = build_write_files(&p, tmp, root_dir, cfg, pass, err,
	         errlen)) != CA_OK)
		goto out;
	ca_path(path, sizeof(path), tmp, CA_FILE_CONFIG);
	if (config_save(cfg, path, err, errlen) != CONFIG_OK) {
		rc = CA_ERR_INTERNAL;
		goto out;
	}
	if ((rc = init_registry(cfg, tmp, err, errlen)) != CA_OK)
		goto out;
	rc = build_first_admin(o, tmp, cfg, pass, err, errlen);
out:
	init_pki_clear(&p);
	return rc;
}

/* The token settings of o into cfg; a PIN file by absolute path. */
static int init_token_cfg(ca_config_t *cfg, const ca_init_opts_t *o, char *err,
    size_t errlen)
{
	char abs[PATH_MAX];
	int any = o->device_key_uri != NULL || o->infra_key_uri != NULL ||
	    o->tls_key_uri != NULL || o->cmp_key_uri != NULL;

	if (!any)
		return CA_OK;
	if (o->pkcs11_module == NULL ||
	    (o->pkcs11_pin_file == NULL && o->pkcs11_pin_env == NULL)) {
		util_err_set(err, errlen,
		    "token keys need --pkcs11-module and "
		    "--pkcs11-pin-file or --pkcs11-pin-env");
		return CA_ERR_INVALID;
	}
	if (o->pkcs11_pin_file != NULL &&
	    realpath(o->pkcs11_pin_file, abs) == NULL) {
		util_err_set(err, errlen, "%s: %s", o->pkcs11_pin_file,
		    strerror(errno));
		return CA_ERR_INVALID;
	}
	if (strlen(o->pkcs11_module) >= sizeof(cfg->pkcs11_module) ||
	    (o->pkcs11_pin_file != NULL &&
	        strlen(abs) >= sizeof(cfg->pkcs11_pin_file)) ||
	    (o->pkcs11_pin_env != NULL &&
	        strlen(o->pkcs11_pin_env) >= sizeof(cfg->pkcs11_pin_env))) {
		util_err_set(err, errlen, "PKCS#11 setting too long");
		return CA_ERR_INVALID;
	}
	snprintf(cfg->pkcs11_module, sizeof(cfg->pkcs11_module), "%s",
	    o->pkcs11_module);
	if (o->pkcs11_pin_file != NULL)
		snprintf(cfg->pkcs11_pin_file, sizeof(cfg->pkcs11_pin_file),
		    "%s", abs);
	if (o->pkcs11_pin_env != NULL)
		snprintf(cfg->pkcs11_pin_env, sizeof(cfg->pkcs11_pin_env), "%s",
		    o->pkcs11_pin_env);
	/* The CMP signer's certificate is made when the CA first opens. */
	if (o->cmp_key_uri != NULL) {
		if (!pki_key_ref_is_pkcs11(o->cmp_key_uri) ||
		    strlen(o->cmp_key_uri) >= sizeof(cfg->cmp_signer_key)) {
			util_err_set(err, errlen, "%s: not a pkcs11: URI",
			    o->cmp_key_uri);
			return CA_ERR_INVALID;
		}
		snprintf(cfg->cmp_signer_key, sizeof(cfg->cmp_signer_key), "%s",
		    o->cmp_key_uri);
	}
	return CA_OK;
}

int ca_root_dir_default(char *out, size_t outlen, const char *data_dir)
{
	char pb[PATH_MAX], bb[PATH_MAX];

	snprintf(pb, sizeof(pb), "%s", data_dir);
	snprintf(bb, sizeof(bb), "%s", data_dir);
	return snprintf(out, outlen, "%s/%s-root", dirname(pb), basename(bb));
}

/* The offline Root's folder: o->root_dir or <parent>/<name>-root beside
 * data_dir; it must not be inside data_dir, and must be missing (then
 * created 0700, *created = 1) or empty. */
static int root_dir_prepare(char out[PATH_MAX], int *created,
    const ca_init_opts_t *o, char *err, size_t errlen)
{
	size_t dl = strlen(o->data_dir);
	int holds, st, n;

	*created = 0;
	n = o->root_dir != NULL ?
	    snprintf(out, PATH_MAX, "%s", o->root_dir) :
	    ca_root_dir_default(out, PATH_MAX, o->data_dir);
	if (n < 0 || n >= PATH_MAX - 32) {
		util_err_set(err, errlen, "Root folder path too long");
		return CA_ERR_INVALID;
	}
	if (strcmp(out, o->data_dir) == 0 ||
	    (strncmp(out, o->data_dir, dl) == 0 && out[dl] == '/')) {
		util_err_set(err, errlen,
		    "the Root folder %s must be outside "
		    "the data folder",
		    out);
		return CA_ERR_INVALID;
	}
	st = dir_state(out, &holds);
	if (st != 0 || holds) {
		util_err_set(err, errlen,
		    "Root folder %s exists and is not "
		    "empty",
		    out);
		return CA_ERR_EXISTS;
	}
	if (mkdir(out, 0700) == 0)
		*created = 1;
	else if (errno != EEXIST) {
		util_err_set(err, errlen, "%s: %s", out, strerror(errno));
		return CA_ERR_INTERNAL;
	}
	return CA_OK;
}

/* Undo root_dir_prepare and what build wrote there. */
static void root_dir_undo(const char *dir, int created)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/root-ca.key", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/root-ca.crt", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/root-ca.crl", dir);
	unlink(path);
	if (created)
		rmdir(dir);
}

/* 1 if oid is RFC 5612's documentation arc 1.3.6.1.4.1.32473 or below. */
static int oid_is_example(const char *oid)
{
	static const char doc[] = "1.3.6.1.4.1.32473";
	size_t n = sizeof(doc) - 1;

	return strncmp(oid, doc, n) == 0 && (oid[n] == '\0' || oid[n] == '.');
}

/* The URN PEN into cfg; refuse the documentation arc (EKUs built with it,
 * or PEN 32473) unless the caller said --example-oids. */
static int init_oids_check(ca_config_t *cfg, const ca_init_opts_t *o, char *err,
    size_t errlen)
{
	if (o->pen != 0)
		cfg->device_urn_pen = o->pen;
	if (o->example_oids)
		return CA_OK;
	if (oid_is_example(PROVCA_OID_ARC)) {
		util_err_set(err, errlen,
		    "this build's EKU arc %s is RFC 5612's "
		    "documentation arc: rebuild with -DPROVCA_OID_ARC=<an arc "
		    "under your own PEN> and pass --pen <your PEN>, or pass "
		    "--example-oids for a test or demonstration CA",
		    PROVCA_OID_ARC);
		return CA_ERR_INVALID;
	}
	if (cfg->device_urn_pen == 32473) {
		util_err_set(err, errlen,
		    "device URNs would use PEN 32473, "
		    "RFC 5612's documentation PEN: pass --pen <your PEN>, or "
		    "--example-oids for a test or demonstration CA");
		return CA_ERR_INVALID;
	}
	return CA_OK;
}

/* The plain-HTTP listener and URL base into cfg, checked. */
static int init_plain_http(ca_config_t *cfg, const ca_init_opts_t *o, char *err,
    size_t errlen)
{
	if (o->plain_base_url != NULL) {
		if (strlen(o->plain_base_url) >=
		        sizeof(cfg->plain_http_base_url) ||
		    config_plain_url_check(o->plain_base_url) != 0) {
			util_err_set(err, errlen,
			    "--plain-url must be "
			    "http://host[:port] without a path or trailing '/'");
			return CA_ERR_INVALID;
		}
		snprintf(cfg->plain_http_base_url,
		    sizeof(cfg->plain_http_base_url), "%s", o->plain_base_url);
	}
	if (o->plain_listen != NULL) {
		const char *colon = strrchr(o->plain_listen, ':');

		if (colon == NULL || colon == o->plain_listen ||
		    colon[1] == '\0' || strlen(colon + 1) > 5 ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
		    strlen(o->plain_listen) >= sizeof(cfg->plain_http_listen)) {
			util_err_set(err, errlen,
			    "--plain-listen must be "
			    "HOST:PORT");
			return CA_ERR_INVALID;
		}
		snprintf(cfg->plain_http_listen, sizeof(cfg->plain_http_listen),
		    "%s", o->plain_listen);
	}
	return CA_OK;
}

/* Check init's options and carry them into cfg (defaults first): org,
 * hostnames, admin name, public base URL, key protection. */
static int init_opts_check(ca_config_t *cfg, const ca_init_opts_t *o, char *err,
    size_t errlen)
{
	size_t i;
	int rc;

	if (o->data_dir == NULL || o->data_dir[0] == '\0' ||
	    strlen(o->data_dir) > PATH_MAX - 64) {
		util_err_set(err, errlen, "--data DIR is required");
		return CA_ERR_INVALID;
	}
	config_defaults(cfg);
	if (o->org != NULL) {
		if (!ca_printable_valid(o->org, 48)) {
			util_err_set(err, errlen,
			    "--org must be 1..48 printable "
			    "characters");
			return CA_ERR_INVALID;
		}
		snprintf(cfg->org, sizeof(cfg->org), "%s", o->org);
	}
	for (i = 0; i < o->n_hostnames; i++) {
		if (!hostname_valid(o->hostnames[i])) {
			util_err_set(err, errlen,
			    "--hostname %s is not a DNS "
			    "name or IP address",
			    o->hostnames[i]);
			return CA_ERR_INVALID;
		}
	}
	if (o->admin_name != NULL &&
	    !ca_token_valid(o->admin_name, REG_NAME_MAX)) {
		util_err_set(err, errlen,
		    "admin name must match "
		    "[A-Za-z0-9._-]{1,64}");
		return CA_ERR_INVALID;
	}
	if (o->public_base_url != NULL) {
		snprintf(cfg->public_base_url, sizeof(cfg->public_base_url),
		    "%s", o->public_base_url);
	} else if (o->n_hostnames > 0) {
		unsigned char b[16];
		int v6 = inet_pton(AF_INET6, o->hostnames[0], b) == 1;

		snprintf(cfg->public_base_url, sizeof(cfg->public_base_url),
		    v6 ? "https://[%s]:8443" : "https://%s:8443",
		    o->hostnames[0]);
	}
	if (!config_public_url_valid(cfg->public_base_url) ||
	    (o->public_base_url != NULL &&
	        strcmp(o->public_base_url, cfg->public_base_url) != 0)) {
		util_err_set(err, errlen,
		    "public base URL must be "
		    "https://host[:port] without a trailing '/'");
		return CA_ERR_INVALID;
	}
	if ((rc = init_oids_check(cfg, o, err, errlen)) != CA_OK ||
	    (rc = init_plain_http(cfg, o, err, errlen)) != CA_OK ||
	    (rc = init_db(cfg, o, err, errlen)) != CA_OK)
		return rc;
	if (!o->plain_keys && o->key_pass_file == NULL &&
	    o->key_pass_env == NULL) {
		util_err_set(err, errlen,
		    "key files are encrypted: give "
		    "--key-pass-file F or --key-pass-env VAR, or choose "
		    "--plain-keys");
		return CA_ERR_PASSPHRASE;
	}
	if (o->plain_keys &&
	    (o->key_pass_file != NULL || o->key_pass_env != NULL)) {
		util_err_set(err, errlen,
		    "--plain-keys and a passphrase "
		    "exclude each other");
		return CA_ERR_INVALID;
	}
	return CA_OK;
}

/* Make a new CA in o->data_dir: built in a temp folder beside it and
 * renamed, the Root key in the offline Root folder; nothing is left
 * behind on failure. */
int ca_init(const ca_init_opts_t *o, char *err, size_t errlen)
{
	char root_dir[PATH_MAX];
	int root_created = 0;
	char tmp[PATH_MAX], parent_buf[PATH_MAX], base_buf[PATH_MAX];
	char pass[CA_PASS_MAX + 1] = "";
	ca_config_t cfg;
	int rc, holds_ca, st;

	if ((rc = init_opts_check(&cfg, o, err, errlen)) != CA_OK)
		return rc;
	if ((rc = ca_pass_get(pass, o->key_pass_file, o->key_pass_env, err,
	         errlen)) != CA_OK)
		return rc;
	if ((rc = init_token_cfg(&cfg, o, err, errlen)) != CA_OK)
		goto out;

	st = dir_state(o->data_dir, &holds_ca);
	if (holds_ca) {
		util_err_set(err, errlen,
		    "%s already holds a CA; refusing to "
		    "touch it",
		    o->data_dir);
		rc = CA_ERR_EXISTS;
		goto out;
	}
	if (st != 0) {
		util_err_set(err, errlen,
		    "%s exists and is not an empty "
		    "folder",
		    o->data_dir);
		rc = CA_ERR_EXISTS;
		goto out;
	}
	snprintf(parent_buf, sizeof(parent_buf), "%s", o->data_dir);
	snprintf(base_buf, sizeof(base_buf), "%s", o->data_dir);
	snprintf(tmp, sizeof(tmp), "%s/.%s.init-XXXXXX", dirname(parent_buf),
	    basename(base_buf));
	if (mkdtemp(tmp) == NULL) {
		util_err_set(err, errlen, "%s: %s", tmp, strerror(errno));
		rc = CA_ERR_INTERNAL;
		goto out;
	}
	if ((rc = root_dir_prepare(root_dir, &root_created, o, err, errlen)) !=
	    CA_OK) {
		rm_tree(tmp);
		goto out;
	}
	if ((rc = build(o, tmp, root_dir, &cfg, pass, err, errlen)) != CA_OK) {
		rm_tree(tmp);
		root_dir_undo(root_dir, root_created);
		goto out;
	}
	/* rename(2) replaces an empty folder but never a non-empty one. */
	if (rename(tmp, o->data_dir) != 0) {
		int e = errno;

		util_err_set(err, errlen, "%s: %s", o->data_dir, strerror(e));
		rm_tree(tmp);
		root_dir_undo(root_dir, root_created);
		rc = e == ENOTEMPTY || e == EEXIST ? CA_ERR_EXISTS :
		                                     CA_ERR_INTERNAL;
		goto out;
	}
	rc = CA_OK;
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	return rc;
}
