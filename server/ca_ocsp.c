/* ca_ocsp.c — the Device CAs' OCSP responder: parse the request, pick the
 * Device CA of the CA set the request names (refusing, unauthorized, any
 * certificate ID of another issuer or of a CA that no longer signs), look
 * each certificate up in the registry, sign a basic response with that
 * CA's key, and keep signed single responses per certificate ID until the
 * registry gives another status. The registry is the source of truth, as
 * for the CRL. */
#include "ca_priv.h"
#include "ca_ocsp.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "reg_status.h"
#include "util.h"

/* Largest DER CertID a cache slot keys on (SHA-512 hashes and a 20-byte
 * serial take about 170 bytes). */
#define OCSP_KEY_MAX 256

/* What one certificate ID's answer depends on. */
typedef struct {
	int status; /* V_OCSP_CERTSTATUS_* */
	int reason; /* CRLReason while revoked, else -1 */
	int64_t revoked_at;
} ocsp_state_t;

typedef struct {
	unsigned char key[OCSP_KEY_MAX]; /* DER CertID */
	size_t key_len;                  /* 0 = empty slot */
	ocsp_state_t state;
	int64_t this_update;
	uint8_t *der; /* OPENSSL_malloc'd response */
	size_t der_len;
} ocsp_slot_t;

struct ca_ocsp_cache {
	pthread_mutex_t lock;
	ocsp_slot_t slots[CA_OCSP_CACHE_SLOTS];
};

int ca_ocsp_cache_new(ca_ocsp_cache_t **out)
{
	ca_ocsp_cache_t *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return CA_ERR_INTERNAL;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return CA_ERR_INTERNAL;
	}
	*out = c;
	return CA_OK;
}

void ca_ocsp_cache_free(ca_ocsp_cache_t *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < CA_OCSP_CACHE_SLOTS; i++)
		OPENSSL_free(c->slots[i].der);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* FNV-1a of the key, for the slot index (a collision only evicts). */
static size_t slot_index(const unsigned char *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)(h % CA_OCSP_CACHE_SLOTS);
}

/* A copy of the cached response for key into *out when it was signed for
 * the same state and is less than half its validity old. 1 found, 0 not. */
static int cache_get(ca_ocsp_cache_t *c, const unsigned char *key,
    size_t key_len, const ocsp_state_t *st, int64_t now, int64_t validity,
    uint8_t **out, size_t *out_len)
{
	ocsp_slot_t *s = &c->slots[slot_index(key, key_len)];
	int found = 0;

	pthread_mutex_lock(&c->lock);
	if (s->key_len == key_len && memcmp(s->key, key, key_len) == 0 &&
	    memcmp(&s->state, st, sizeof(*st)) == 0 && now >= s->this_update &&
	    now - s->this_update < validity / 2 &&
	    (*out = OPENSSL_memdup(s->der, s->der_len)) != NULL) {
		*out_len = s->der_len;
		found = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Keep a copy of der for key (replacing whatever the slot held). */
static void cache_put(ca_ocsp_cache_t *c, const unsigned char *key,
    size_t key_len, const ocsp_state_t *st, int64_t this_update,
    const uint8_t *der, size_t der_len)
{
	ocsp_slot_t *s = &c->slots[slot_index(key, key_len)];
	uint8_t *copy = OPENSSL_memdup(der, der_len);

	if (copy == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	OPENSSL_free(s->der);
	memcpy(s->key, key, key_len);
	s->key_len = key_len;
	s->state = *st;
	s->this_update = this_update;
	s->der = copy;
	s->der_len = der_len;
	pthread_mutex_unlock(&c->lock);
}

/* Serial of cid as the registry stores it (lowercase hex, no leading zero
 * bytes) into out. 0, or -1 when it is negative or too long. */
static int serial_hex(char *out, size_t outlen, const ASN1_INTEGER *serial)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *hex = NULL;
	size_t i, n;
	int rc = -1;

	if (bn == NULL || BN_is_negative(bn) || (hex = BN_bn2hex(bn)) == NULL)
		goto out;
	n = strlen(hex);
	if (n == 0 || n >= outlen)
		goto out;
	for (i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)hex[i]);
	rc = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

/* The Device CA of the CA set that cid names (its issuerNameHash and
 * issuerKeyHash, in the hash cid uses) and that still signs; NULL when
 * none does (a retired CA, another issuer, a digest the build lacks). */
static const struct ca_dca *ocsp_issuer_select(const struct ca_set *set,
    OCSP_CERTID *cid)
{
	ASN1_OBJECT *md_obj = NULL;
	const struct ca_dca *found = NULL;
	const EVP_MD *md;
	OCSP_CERTID *id;
	size_t i;

	if (OCSP_id_get0_info(NULL, &md_obj, NULL, NULL, cid) != 1 ||
	    (md = EVP_get_digestbyobj(md_obj)) == NULL) {
		ERR_clear_error();
		return NULL;
	}
	for (i = 0; i < set->n_dcas && found == NULL; i++) {
		if (set->dcas[i].key == NULL)
			continue;
		id = OCSP_cert_to_id(md, NULL, set->dcas[i].cert);
		if (id != NULL && OCSP_id_issuer_cmp(id, cid) == 0)
			found = &set->dcas[i];
		OCSP_CERTID_free(id);
	}
	ERR_clear_error();
	return found;
}

/* Registry state of the certificate of Device CA signer that cid names
 * into st. */
static int state_read(reg_t *reg, ocsp_state_t *st, OCSP_CERTID *cid,
    const struct ca_dca *signer, char *err, size_t errlen)
{
	ASN1_INTEGER *serial = NULL;
	reg_cert_status_t cs;
	char hex[REG_SERIAL_HEX_MAX + 2];
	int rc;

	memset(st, 0, sizeof(*st));
	st->status = V_OCSP_CERTSTATUS_UNKNOWN;
	st->reason = -1;
	if (OCSP_id_get0_info(NULL, NULL, NULL, &serial, cid) != 1 ||
	    serial_hex(hex, sizeof(hex), serial) != 0)
		return CA_OK; /* no serial we could have issued: unknown */
	rc = reg_cert_status_ca(reg, &cs, signer->id, hex, err, errlen);
	if (rc == REG_ERR_NOT_FOUND)
		return CA_OK;
	if (rc != REG_OK)
		return ca_from_reg(rc);
	st->status =
	    cs.revoked ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD;
	st->reason = cs.revoked ? cs.reason : -1;
	st->revoked_at = cs.revoked ? cs.revoked_at : 0;
	return CA_OK;
}

/* One single response for cid in state st into bs. */
static int add_one(OCSP_BASICRESP *bs, OCSP_CERTID *cid, const ocsp_state_t *st,
    ASN1_TIME *now, ASN1_TIME *next, char *err, size_t errlen)
{
	ASN1_TIME *rev = NULL;
	int rc = CA_ERR_INTERNAL;

	if (st->status == V_OCSP_CERTSTATUS_REVOKED &&
	    (rev = ASN1_TIME_set(NULL, (time_t)st->revoked_at)) == NULL) {
		util_err_openssl(err, errlen, "OCSP revocation time");
		goto out;
	}
	if (OCSP_basic_add1_status(bs, cid, st->status, st->reason, rev, now,
	        next) == NULL) {
		util_err_openssl(err, errlen, "OCSP single response");
		goto out;
	}
	rc = CA_OK;
out:
	ASN1_TIME_free(rev);
	return rc;
}

/* DER of an OCSPResponse with status and basic response bs (may be NULL). */
static int response_der(uint8_t **out, size_t *out_len, int status,
    OCSP_BASICRESP *bs, char *err, size_t errlen)
{
	OCSP_RESPONSE *resp = OCSP_response_create(status, bs);
	unsigned char *der = NULL;
	int n = resp != NULL ? i2d_OCSP_RESPONSE(resp, &der) : 0;

	OCSP_RESPONSE_free(resp);
	if (n <= 0) {
		util_err_openssl(err, errlen, "OCSP response encoding");
		return CA_ERR_INTERNAL;
	}
	*out = der;
	*out_len = (size_t)n;
	return CA_OK;
}

/* Sign, with signer's key, the successful response for the n IDs of oreq
 * in states st. */
static int respond_signed(ca_t *ca, const struct ca_dca *signer,
    OCSP_REQUEST *oreq, int n, const ocsp_state_t *st, int64_t now,
    uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	ASN1_TIME *t_now = ASN1_TIME_set(NULL, (time_t)now);
	ASN1_TIME *t_next =
	    ASN1_TIME_set(NULL, (time_t)(now + ca->cfg.ocsp_validity_seconds));
	int rc = CA_ERR_INTERNAL, i;

	if (bs == NULL || t_now == NULL || t_next == NULL) {
		util_err_openssl(err, errlen, "OCSP basic response");
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((rc = add_one(bs,
		         OCSP_onereq_get0_id(OCSP_request_onereq_get0(oreq, i)),
		         &st[i], t_now, t_next, err, errlen)) != CA_OK)
			goto out;
	rc = CA_ERR_INTERNAL;
	/* 1 copied, 2 the request had no nonce; 0 failure. */
	if (OCSP_copy_nonce(bs, oreq) <= 0 ||
	    OCSP_basic_sign(bs, signer->cert, signer->key, EVP_sha256(), NULL,
	        OCSP_NOCERTS) != 1) {
		util_err_openssl(err, errlen, "OCSP signature");
		goto out;
	}
	rc = response_der(out, out_len, OCSP_RESPONSE_STATUS_SUCCESSFUL, bs,
	    err, errlen);
out:
	ASN1_TIME_free(t_next);
	ASN1_TIME_free(t_now);
	OCSP_BASICRESP_free(bs);
	return rc;
}

/* The cache key of oreq into key: the DER of its only CertID when it has
 * one and no nonce (a nonce makes every answer unique). 0 = not cacheable. */
static size_t cache_key(unsigned char key[OCSP_KEY_MAX], OCSP_REQUEST *oreq,
    int n)
{
	OCSP_CERTID *cid;
	unsigned char *p = key;
	int len;

	if (n != 1 ||
	    OCSP_REQUEST_get_ext_by_NID(oreq, NID_id_pkix_OCSP_Nonce, -1) >= 0)
		return 0;
	cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(oreq, 0));
	len = i2d_OCSP_CERTID(cid, NULL);
	if (len <= 0 || len > OCSP_KEY_MAX || i2d_OCSP_CERTID(cid, &p) != len) {
		ERR_clear_error();
		return 0;
	}
	return (size_t)len;
}

int ca_ocsp_respond(ca_t *ca, reg_t *reg, ca_ocsp_cache_t *cache, uint8_t **out,
    size_t *out_len, const uint8_t *req, size_t req_len, char *err,
    size_t errlen)
{
	const unsigned char *p = req;
	OCSP_REQUEST *oreq = NULL;
	ocsp_state_t st[CA_OCSP_MAX_IDS];
	unsigned char key[OCSP_KEY_MAX];
	const struct ca_dca *signer = NULL, *sel;
	const struct ca_set *set;
	size_t key_len = 0;
	int64_t now = reg_now();
	int rc = CA_ERR_INTERNAL, n, i;

	*out = NULL;
	*out_len = 0;
	/* The CA set as the registry has it now: a retired CA signs nothing. */
	if ((set = ca_set_get(ca, reg, err, errlen)) == NULL)
		return CA_ERR_INTERNAL;
	if (req_len > 0 && req_len <= (size_t)INT32_MAX)
		oreq = d2i_OCSP_REQUEST(NULL, &p, (long)req_len);
	n = oreq != NULL ? OCSP_request_onereq_count(oreq) : 0;
	if (oreq == NULL || p != req + req_len || n <= 0 ||
	    n > CA_OCSP_MAX_IDS) {
		ERR_clear_error();
		rc = response_der(out, out_len,
		    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, NULL, err, errlen);
		goto out;
	}
	/* Never "unknown" signed by a Device CA about a certificate of another
	 * issuer: a relying party could take that for authority. One signer
	 * per response: every ID must name the same Device CA. */
	for (i = 0; i < n; i++) {
		sel = ocsp_issuer_select(set,
		    OCSP_onereq_get0_id(OCSP_request_onereq_get0(oreq, i)));
		if (sel == NULL || (signer != NULL && sel != signer)) {
			rc = response_der(out, out_len,
			    OCSP_RESPONSE_STATUS_UNAUTHORIZED, NULL, err,
			    errlen);
			goto out;
		}
		signer = sel;
	}
	for (i = 0; i < n; i++)
		if ((rc = state_read(reg, &st[i],
		         OCSP_onereq_get0_id(OCSP_request_onereq_get0(oreq, i)),
		         signer, err, errlen)) != CA_OK)
			goto out;
	if (cache != NULL && (key_len = cache_key(key, oreq, n)) > 0 &&
	    cache_get(cache, key, key_len, &st[0], now,
	        ca->cfg.ocsp_validity_seconds, out, out_len)) {
		rc = CA_OK;
		goto out;
	}
	rc = respond_signed(ca, signer, oreq, n, st, now, out, out_len, err,
	    errlen);
	if (rc == CA_OK && cache != NULL && key_len > 0)
		cache_put(cache, key, key_len, &st[0], now, *out, *out_len);
out:
	OCSP_REQUEST_free(oreq);
	return rc;
}
