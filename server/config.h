/* config.h — ca-server's settings: one JSON file (DATA/config.json) that
 * `ca-server init` writes with every setting and its default, read back
 * through cJSON at every start. Plain data; read-only once loaded. */
#ifndef PROVCA_CONFIG_H
#define PROVCA_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* Largest config file accepted, in bytes. */
#define CONFIG_FILE_MAX (64 * 1024)

enum config_error {
	CONFIG_OK = 0,
	CONFIG_ERR_IO = -1, /* missing, unreadable, too large, write failed */
	CONFIG_ERR_PARSE = -2, /* not JSON, or a setting has the wrong type */
	CONFIG_ERR_VALUE = -3  /* a setting is out of range */
};

typedef struct {
	char org[65];     /* "org": organisation name in CA subjects */
	char listen[128]; /* "listen": host:port, default 127.0.0.1:8443 */
	char public_base_url
	    [256]; /* "public_base_url": https://host:port, no trailing '/' */
	char plain_http_listen
	    [128]; /* "plain_http_listen": host:port of the read-only plain-HTTP listener (CRLs, CA certificates, OCSP); "" = off */
	char plain_http_base_url
	    [256]; /* "plain_http_base_url": http://host[:port] the certificates' CRL/OCSP/caIssuers URLs name; "" = public_base_url */
	int ocsp_validity_seconds; /* "ocsp_validity_seconds": OCSP thisUpdate..nextUpdate (3600) */
	size_t
	    body_limit; /* "body_limit": largest request body, bytes (1 MiB) */
	int worker_threads; /* "worker_threads": CivetWeb threads, one per open connection (1024) */
	int keep_alive_timeout_ms; /* "keep_alive_timeout_ms": idle keep-alive connection closed after (2000) */
	int max_connections_per_address; /* "max_connections_per_address": open connections one client address may hold (256) */
	int tls_handshake_timeout_ms; /* "tls_handshake_timeout_ms": a TLS handshake not finished by then is cut (5000) */
	int device_validity_days; /* "device_validity_days": 0 = 99991231235959Z (0) */
	int principal_validity_days; /* "principal_validity_days": client/signer certs (825) */
	int principal_max_valid_certs; /* "principal_max_valid_certs": unexpired, unrevoked certs a self-renewal may leave a principal (3) */
	int server_validity_days; /* "server_validity_days": TLS server cert (397) */
	int crl_next_update_hours; /* "crl_next_update_hours": thisUpdate..nextUpdate (24) */
	int crl_refresh_seconds; /* "crl_refresh_seconds": regenerate this long before nextUpdate (3600) */
	int batch_max; /* "batch_max": devices per batch enrollment (1000) */
	uint32_t
	    device_urn_pen; /* "device_urn_pen": IANA PEN for urn:dev:org (32473, RFC 5612) */
	int session_idle_seconds; /* "session_idle_seconds": portal idle timeout (1800) */
	int session_absolute_seconds; /* "session_absolute_seconds": portal absolute timeout (43200) */
	int hsts_max_age; /* "hsts_max_age": Strict-Transport-Security max-age, seconds; 0 = not sent (0) */
	char log_level[16]; /* "log_level": error|warn|info|debug (info) */
	char log_file[256]; /* "log_file": "" = stderr */
	char access_log_file[256]; /* "access_log_file": "" = none */
	/* Signing keys: a file in the data folder or a pkcs11: URI. */
	char device_ca_key[512];   /* "device_ca_key" (device-ca.key) */
	char infra_ca_key[512];    /* "infra_ca_key" (infra-ca.key) */
	char tls_key[512];         /* "tls_key" (server.key) */
	char cmp_signer_key[512];  /* "cmp_signer_key" (cmp-signer.key) */
	char pkcs11_module[256];   /* "pkcs11_module": the token's .so ("") */
	char pkcs11_pin_file[256]; /* "pkcs11_pin_file": PIN, first line ("") */
	char pkcs11_pin_env[64];   /* "pkcs11_pin_env": or this variable ("") */
	char db
	    [512]; /* "db": the registry: "" = DATA/registry.db (SQLite), or a postgresql:// URL without a password ("") */
	int db_pool; /* "db_pool": registry connections one serve holds at most (32) */
} ca_config_t;

/* Most connections "db_pool" may ask for (the HTTP pool's size). */
#define CONFIG_DB_POOL_MAX 32

/* Fill *out with every default (public_base_url https://localhost:8443). */
void config_defaults(ca_config_t *out);

/* Load the file at path over the defaults: settings absent from the file keep
 * their default; unknown keys are ignored; wrong types or ranges fail. */
int config_load(ca_config_t *out, const char *path, char *err, size_t errlen);

/* 0 if url is http://host[:port] with no path, no trailing '/' and none of
 * the characters an extension string cannot carry; -1 otherwise. */
int config_plain_url_check(const char *url);

/* 0 when db is a valid "db" setting: "" or a postgresql:// (postgres://)
 * URL naming no password; -1 otherwise. */
int config_db_check(const char *db);

/* Render cfg as pretty-printed JSON with every setting. Caller frees with
 * free(). NULL on allocation failure. */
char *config_to_json(const ca_config_t *cfg);

/* Write cfg to path, which must not exist yet (O_EXCL, mode 0644). */
int config_save(const ca_config_t *cfg, const char *path, char *err,
    size_t errlen);

/* 1 when url is https://host[:port] without a trailing '/', holds none of
 * ", \t\r\n\"" and fits public_base_url; 0 otherwise. */
int config_public_url_valid(const char *url);

/* Set "public_base_url" in the config file at path to url, keeping every
 * other key as it is. Written to a temporary file and renamed over the old
 * one, so a failure leaves the file as it was. Certificates issued after
 * (ca_open reads the file) carry the new URLs. */
int config_public_url_set(const char *path, const char *url, char *err,
    size_t errlen);

#endif
