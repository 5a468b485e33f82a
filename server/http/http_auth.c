/* http_auth.c — who is calling: the SHA-256 of the client certificate's
 * DER, looked up among the registry's principals. A disabled principal, a
 * revoked certificate or a signer counts as no certificate at all. An
 * answer is kept (per connection, and in a small table shared by every
 * connection) only while nothing at all has been committed to the registry
 * since it was read, by any connection or process.
 *
 * How "nothing committed since" is known across pooled connections and
 * other processes (the CLI writes the same file): each pooled connection
 * remembers the change stamp it last read (reg_change_stamp: PRAGMA
 * data_version, which moves on any other connection's commit, plus the
 * connection's own change count). Every request reads its connection's
 * stamp first; if it differs from the last one read on that connection (or
 * the connection is new), the server-wide auth epoch is incremented. A
 * cached principal carries the epoch read just before its lookup and is
 * used only while the epoch is unchanged. For a commit C after that epoch
 * was read, the first check on the request's connection after C sees the
 * stamp move, and that check happens no later than the request's own;
 * it increments the epoch, so the entry is not used. (If that increment
 * came before the entry's epoch was read, the entry's lookup ran after C
 * and already saw it.) */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <civetweb.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "http_int.h"
#include "pki.h"

/* Map the registry's role name to a role bit; 0 for roles that never use
 * the HTTP API. */
static unsigned role_bit(const char *role)
{
	if (strcmp(role, REG_ROLE_ADMIN) == 0)
		return HTTP_ROLE_ADMIN;
	if (strcmp(role, REG_ROLE_OPERATOR) == 0)
		return HTTP_ROLE_OPERATOR;
	if (strcmp(role, REG_ROLE_MANUFACTURER) == 0)
		return HTTP_ROLE_MANUFACTURER;
	return 0;
}

int http_auth_epoch(uint64_t *out, http_req_t *req)
{
	reg_t *reg = http_req_reg(req);
	http_reg_slot_t *slot = req->slot; /* ours alone while held */
	int64_t stamp[2];
	char err[256];

	if (reg == NULL)
		return -1;
	/* A reader's stamp opens the read transaction that its principal
	 * lookup and its handler then read in (see HTTP_ROUTE_READ). */
	if ((req->read_txn ?
	            reg_read_begin(reg, stamp, err, sizeof(err)) :
	            reg_change_stamp(reg, stamp, err, sizeof(err))) != REG_OK) {
		http_count_db_error(req);
		return -1;
	}
	if (!slot->stamp_seen || slot->stamp[0] != stamp[0] ||
	    slot->stamp[1] != stamp[1]) {
		atomic_fetch_add(&req->srv->auth_epoch, 1);
		slot->stamp[0] = stamp[0];
		slot->stamp[1] = stamp[1];
		slot->stamp_seen = 1;
	}
	*out = atomic_load(&req->srv->auth_epoch);
	return 0;
}

/* The shared table's slot for fingerprint fp. */
static http_auth_entry_t *cache_slot(http_server *srv, const uint8_t *fp)
{
	size_t h = ((size_t)fp[0] << 8 | fp[1]) % HTTP_AUTH_CACHE_SLOTS;

	return &srv->auth_cache.e[h];
}

/* 1 and the principal when the shared table holds fp under epoch. */
static int cache_get(http_principal_t *out, http_server *srv, const uint8_t *fp,
    uint64_t epoch)
{
	http_auth_entry_t *e = cache_slot(srv, fp);
	int hit = 0;

	pthread_mutex_lock(&srv->auth_cache.lock);
	if (e->used && e->epoch == epoch &&
	    CRYPTO_memcmp(e->fp, fp, PKI_FINGERPRINT_LEN) == 0) {
		*out = e->principal;
		hit = 1;
	}
	pthread_mutex_unlock(&srv->auth_cache.lock);
	return hit;
}

static void cache_put(http_server *srv, const uint8_t *fp, uint64_t epoch,
    const http_principal_t *p)
{
	http_auth_entry_t *e = cache_slot(srv, fp);

	pthread_mutex_lock(&srv->auth_cache.lock);
	memcpy(e->fp, fp, PKI_FINGERPRINT_LEN);
	e->epoch = epoch;
	e->principal = *p;
	e->used = 1;
	pthread_mutex_unlock(&srv->auth_cache.lock);
}

/* The validity period of cert in seconds since the epoch; 0, or -1 when
 * a time cannot be read. */
static int cert_period(int64_t *not_before, int64_t *not_after,
    const X509 *cert)
{
	if (pki_time_unix(not_before, X509_get0_notBefore(cert)) != 0 ||
	    pki_time_unix(not_after, X509_get0_notAfter(cert)) != 0)
		return -1;
	return 0;
}

int http_auth_from_cert(http_principal_t *out, http_req_t *req)
{
	const struct mg_client_cert *cc = req->ri->client_cert;
	http_thread_t *t = mg_get_thread_pointer(req->conn);
	uint8_t fp[PKI_FINGERPRINT_LEN];
	uint64_t epoch;
	reg_principal_t p;
	reg_t *reg;
	int64_t not_before, not_after, now;
	char err[256];
	int rc, same_conn;

	/* CivetWeb fills client_cert only after OpenSSL verified the chain to
	 * the Infrastructure CA (SSL_VERIFY_PEER fails the handshake
	 * otherwise). The X509 belongs to the connection: use, never keep. */
	if (cc == NULL || cc->peer_cert == NULL)
		return 0;
	if (t == NULL)
		return -1;
	same_conn = mg_get_user_connection_data(req->conn) == t &&
	    t->auth.peer_cert == cc->peer_cert;
	/* A full handshake checked the certificate's validity period; a
	 * resumed TLS session does not (the session keeps the certificate
	 * verified back then), so an expired certificate would pass for the
	 * session's lifetime. Checked on every request, against the period
	 * read once per connection (X509_cmp_current_time parsed both ASN.1
	 * times per request: ~8 % of a lookup's instructions). Same test:
	 * notBefore <= now < notAfter. */
	if (same_conn) {
		not_before = t->auth.not_before;
		not_after = t->auth.not_after;
	} else if (cert_period(&not_before, &not_after, cc->peer_cert) != 0) {
		return 0;
	}
	now = (int64_t)time(NULL);
	if (now < not_before || now >= not_after)
		return 0;
	/* Taken before any lookup: a commit after this point moves the epoch
	 * for the next request (see the top of this file). */
	if (http_auth_epoch(&epoch, req) != 0)
		return -1;
	reg = http_req_reg(req);
	if (same_conn && t->auth.epoch == epoch) {
		*out = t->auth.principal;
		return 1;
	}
	mg_set_user_connection_data(req->conn, NULL);
	if (pki_cert_fingerprint(fp, (X509 *)cc->peer_cert) != PKI_OK)
		return -1;
	if (!cache_get(out, req->srv, fp, epoch)) {
		rc = ca_principal_authenticate(req->srv->ca, reg, &p, fp, err,
		    sizeof(err));
		if (rc == CA_ERR_NOT_FOUND || rc == CA_ERR_DENIED)
			return 0;
		if (rc != CA_OK) {
			http_count_db_error(req);
			return -1;
		}
		if (role_bit(p.role) == 0)
			return 0;
		memset(out, 0, sizeof(*out));
		out->id = p.id;
		snprintf(out->name, sizeof(out->name), "%s", p.name);
		out->role = role_bit(p.role);
		snprintf(out->manufacturer_id, sizeof(out->manufacturer_id),
		    "%s", p.manufacturer_id);
		cache_put(req->srv, fp, epoch, out);
	}
	t->auth.peer_cert = cc->peer_cert;
	t->auth.epoch = epoch;
	t->auth.not_before = not_before;
	t->auth.not_after = not_after;
	t->auth.principal = *out;
	mg_set_user_connection_data(req->conn, t);
	return 1;
}
