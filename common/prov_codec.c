/* prov_codec.c — the two small TLVs of provisioning: the request (URL, UE
 * nonce, serving network name, freshness counter, and the device key's
 * signature over them) and the subscription plaintext; plus prov_strerror.
 * Layouts are in docs/protocol.md, "Provisioning container". */
#include "prov.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "util.h"

/* Request TLV tags. Version 1 (URL and nonce only, unsigned) is the seed's
 * and is refused as PROV_ERR_UNSIGNED. */
#define REQ_VERSION_UNSIGNED 0x01
#define REQ_VERSION 0x02
#define REQ_TAG_URL 0x01
#define REQ_TAG_NONCE 0x02
#define REQ_TAG_SNN 0x03
#define REQ_TAG_COUNTER 0x04
#define REQ_TAG_SIG 0x05
#define REQ_COUNTER_MAX 0x7fffffffffffffffULL

/* What the device signs: this label, then the request's bytes up to (not
 * including) the signature field. The label keeps the device key's
 * signature from meaning anything in another protocol. */
static const char req_label[] = "ProvCA provisioning request v2";

/* Subscription TLV tags, in the order they must appear. */
#define SUB_VERSION 0x01
#define SUB_TAG_SUPI 0x01
#define SUB_TAG_KI 0x02
#define SUB_TAG_OPC 0x03
#define SUB_TAG_AMF 0x04
#define SUB_TAG_SQN 0x05
#define SUB_TAG_MCC 0x06
#define SUB_TAG_MNC 0x07
#define SUB_TAG_SNSSAI 0x08
#define SUB_TAG_DNN 0x09
#define SUB_TAG_ISSUED 0x0A
#define SUB_TAG_HN_KEY 0x0B /* optional, last */

/* Largest subscription TLV: version + every field at its maximum. */
#define SUB_ENCODED_MAX \
	(1 + 3 + PROV_SUPI_MAX + 3 + 16 + 3 + 16 + 3 + 2 + 3 + 6 + 3 + 3 + 3 + \
	    3 + PROV_NSSAI_MAX * (3 + 4) + 3 + PROV_DNN_MAX + 3 + 8 + 3 + 3 + \
	    4 + PROV_HN_PUB_MAX)

const char *prov_strerror(int code)
{
	switch (code) {
	case PROV_OK: return "success";
	case PROV_ERR_ARG: return "invalid argument";
	case PROV_ERR_FORMAT: return "malformed provisioning data";
	case PROV_ERR_VERSION: return "unsupported provisioning format version";
	case PROV_ERR_TOO_LARGE: return "provisioning data too large";
	case PROV_ERR_SIGNER_CHAIN:
		return "signer certificate does not chain to the root";
	case PROV_ERR_SIGNER_EKU:
		return "signer certificate not issued for provisioning signing";
	case PROV_ERR_SIGNER_EXPIRED:
		return "signer certificate outside its validity period";
	case PROV_ERR_SIGNATURE: return "container signature invalid";
	case PROV_ERR_DEVICE_MISMATCH: return "container is for another device";
	case PROV_ERR_NONCE_MISMATCH:
		return "container does not answer this request's nonce";
	case PROV_ERR_DECRYPT: return "container cannot be decrypted";
	case PROV_ERR_KEY_TYPE: return "unsupported or mismatched key type";
	case PROV_ERR_INTERNAL: return "internal error";
	case PROV_ERR_UNVERIFIED: return "container not verified";
	case PROV_ERR_UNSIGNED: return "provisioning request not signed";
	case PROV_ERR_CONCEAL:
		return "concealed request does not open with the key named";
	default: return "unknown error";
	}
}

/* A bounded writer: every put checks the remaining room. */
struct wbuf {
	uint8_t *p;
	size_t cap;
	size_t len;
	int overflow;
};

static void put_bytes(struct wbuf *w, const void *src, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = 1;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_u8(struct wbuf *w, uint8_t v)
{
	put_bytes(w, &v, 1);
}

/* Tag, 2-byte big-endian length, value. n ≤ 0xFFFF by every caller. */
static void put_tlv(struct wbuf *w, uint8_t tag, const void *v, size_t n)
{
	uint8_t hdr[3] = { tag, (uint8_t)(n >> 8), (uint8_t)n };

	put_bytes(w, hdr, sizeof(hdr));
	put_bytes(w, v, n);
}

/* A bounded reader over an input buffer. */
struct rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
};

/* Read the next TLV header; value points into the buffer. 0, or -1 if the
 * header or value would run past the end. */
static int get_tlv(struct rbuf *r, uint8_t *tag, const uint8_t **value,
    size_t *vlen)
{
	size_t n;

	if (r->len - r->off < 3)
		return -1;
	n = ((size_t)r->p[r->off + 1] << 8) | r->p[r->off + 2];
	if (r->len - r->off - 3 < n)
		return -1;
	*tag = r->p[r->off];
	*value = r->p + r->off + 3;
	*vlen = n;
	r->off += 3 + n;
	return 0;
}

static int is_digits(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* URL bytes: printable ASCII without space. */
static int is_url_chars(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7E)
			return 0;
	return 1;
}

/* "imsi-" followed by 5..15 decimal digits. */
static int supi_ok(const uint8_t *s, size_t n)
{
	return n >= 5 + 5 && n <= 5 + 15 && memcmp(s, "imsi-", 5) == 0 &&
	    is_digits(s + 5, n - 5);
}

/* DNN text: letters, digits, '-' and '.', not starting or ending in '.'. */
static int dnn_ok(const uint8_t *s, size_t n)
{
	size_t i;

	if (n == 0 || n > PROV_DNN_MAX || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/* Check the request's text fields and counter; 0 or a prov_error. */
static int request_check(const prov_request_t *req, size_t *urllen,
    size_t *snnlen, char *err, size_t errlen)
{
	*urllen = strnlen(req->url, sizeof(req->url));
	*snnlen = strnlen(req->snn, sizeof(req->snn));
	if (*urllen > PROV_URL_MAX || *snnlen > PROV_SNN_MAX) {
		util_err_set(err, errlen,
		    "URL longer than %d or serving network"
		    " name longer than %d bytes",
		    PROV_URL_MAX, PROV_SNN_MAX);
		return PROV_ERR_TOO_LARGE;
	}
	if (*urllen == 0 || !is_url_chars((const uint8_t *)req->url, *urllen)) {
		util_err_set(err, errlen, "URL empty or not printable ASCII");
		return PROV_ERR_ARG;
	}
	if (*snnlen == 0 || !is_url_chars((const uint8_t *)req->snn, *snnlen)) {
		util_err_set(err, errlen,
		    "serving network name empty or not "
		    "printable ASCII");
		return PROV_ERR_ARG;
	}
	if (req->counter == 0 || req->counter > REQ_COUNTER_MAX) {
		util_err_set(err, errlen,
		    "freshness counter must be 1..2^63-1");
		return PROV_ERR_ARG;
	}
	return PROV_OK;
}

/* The signed part: version, URL, nonce, SNN, counter. */
static void request_body(struct wbuf *w, const prov_request_t *req,
    size_t urllen, size_t snnlen)
{
	uint8_t ctr[8];
	int i;

	for (i = 0; i < 8; i++)
		ctr[i] = (uint8_t)(req->counter >> (56 - 8 * i));
	put_u8(w, REQ_VERSION);
	put_tlv(w, REQ_TAG_URL, req->url, urllen);
	put_tlv(w, REQ_TAG_NONCE, req->ue_nonce, PROV_NONCE_LEN);
	put_tlv(w, REQ_TAG_SNN, req->snn, snnlen);
	put_tlv(w, REQ_TAG_COUNTER, ctr, sizeof(ctr));
}

int prov_request_encode(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_request_t *req, char *err, size_t errlen)
{
	struct wbuf w = { out, outcap, 0, 0 };
	size_t ulen, slen;
	int rc;

	if (out == NULL || outlen == NULL || req == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	*outlen = 0;
	if ((rc = request_check(req, &ulen, &slen, err, errlen)) != PROV_OK)
		return rc;
	if (req->sig_len == 0 || req->sig_len > PROV_REQ_SIG_MAX) {
		util_err_set(err, errlen,
		    "request signature missing or longer "
		    "than %d bytes",
		    PROV_REQ_SIG_MAX);
		return req->sig_len == 0 ? PROV_ERR_UNSIGNED :
		                           PROV_ERR_TOO_LARGE;
	}
	request_body(&w, req, ulen, slen);
	put_tlv(&w, REQ_TAG_SIG, req->sig, req->sig_len);
	if (w.overflow) {
		util_err_set(err, errlen, "request needs %zu bytes",
		    (size_t)(1 + 3 + ulen + 3 + PROV_NONCE_LEN + 3 + slen + 3 +
		        8 + 3 + req->sig_len));
		return PROV_ERR_TOO_LARGE;
	}
	*outlen = w.len;
	return PROV_OK;
}

/* Next TLV must be tag with a value of lo..hi bytes; 0, or a prov_error
 * (TOO_LARGE above hi, FORMAT otherwise) with err naming what. */
static int get_field(struct rbuf *r, uint8_t want, size_t lo, size_t hi,
    const uint8_t **v, size_t *n, const char *what, char *err, size_t errlen)
{
	uint8_t tag;

	if (get_tlv(r, &tag, v, n) != 0 || tag != want) {
		util_err_set(err, errlen,
		    "request: %s field missing or "
		    "truncated",
		    what);
		return PROV_ERR_FORMAT;
	}
	if (*n > hi) {
		util_err_set(err, errlen, "request: %s longer than %zu bytes",
		    what, hi);
		return PROV_ERR_TOO_LARGE;
	}
	if (*n < lo) {
		util_err_set(err, errlen, "request: %s shorter than %zu bytes",
		    what, lo);
		return PROV_ERR_FORMAT;
	}
	return PROV_OK;
}

/* The fields after the version octet, in their fixed order. */
static int request_fields(prov_request_t *out, struct rbuf *r, char *err,
    size_t errlen)
{
	const uint8_t *v;
	size_t n, i;
	int rc;

	if ((rc = get_field(r, REQ_TAG_URL, 1, PROV_URL_MAX, &v, &n, "URL", err,
	         errlen)) != PROV_OK)
		return rc;
	if (!is_url_chars(v, n)) {
		util_err_set(err, errlen, "request: URL not printable ASCII");
		return PROV_ERR_FORMAT;
	}
	memcpy(out->url, v, n);
	if ((rc = get_field(r, REQ_TAG_NONCE, PROV_NONCE_LEN, PROV_NONCE_LEN,
	         &v, &n, "nonce", err, errlen)) != PROV_OK)
		return rc;
	memcpy(out->ue_nonce, v, PROV_NONCE_LEN);
	if (r->off == r->len) {
		util_err_set(err, errlen,
		    "request: no serving network name,"
		    " counter or signature");
		return PROV_ERR_UNSIGNED;
	}
	if ((rc = get_field(r, REQ_TAG_SNN, 1, PROV_SNN_MAX, &v, &n,
	         "serving network name", err, errlen)) != PROV_OK)
		return rc;
	if (!is_url_chars(v, n)) {
		util_err_set(err, errlen,
		    "request: serving network name not "
		    "printable ASCII");
		return PROV_ERR_FORMAT;
	}
	memcpy(out->snn, v, n);
	if ((rc = get_field(r, REQ_TAG_COUNTER, 8, 8, &v, &n, "counter", err,
	         errlen)) != PROV_OK)
		return rc;
	for (i = 0; i < 8; i++)
		out->counter = (out->counter << 8) | v[i];
	if (out->counter == 0 || out->counter > REQ_COUNTER_MAX) {
		util_err_set(err, errlen, "request: counter out of range");
		return PROV_ERR_FORMAT;
	}
	if (r->off == r->len) {
		util_err_set(err, errlen, "request: no signature");
		return PROV_ERR_UNSIGNED;
	}
	if ((rc = get_field(r, REQ_TAG_SIG, 1, PROV_REQ_SIG_MAX, &v, &n,
	         "signature", err, errlen)) != PROV_OK)
		return rc;
	memcpy(out->sig, v, n);
	out->sig_len = n;
	if (r->off != r->len) {
		util_err_set(err, errlen, "request: %zu trailing bytes",
		    r->len - r->off);
		return PROV_ERR_FORMAT;
	}
	return PROV_OK;
}

int prov_request_decode(prov_request_t *out, const uint8_t *buf, size_t len,
    char *err, size_t errlen)
{
	struct rbuf r = { buf, len, 0 };
	int rc;

	if (out == NULL || (buf == NULL && len > 0)) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	memset(out, 0, sizeof(*out));
	if (len < 1) {
		util_err_set(err, errlen, "empty request");
		return PROV_ERR_FORMAT;
	}
	if (buf[0] == REQ_VERSION_UNSIGNED) {
		util_err_set(err, errlen,
		    "request version 1 carries no "
		    "signature");
		return PROV_ERR_UNSIGNED;
	}
	if (buf[0] != REQ_VERSION) {
		util_err_set(err, errlen, "request version %u unsupported",
		    buf[0]);
		return PROV_ERR_VERSION;
	}
	if (len > PROV_REQUEST_MAX) {
		util_err_set(err, errlen, "request longer than %d bytes",
		    PROV_REQUEST_MAX);
		return PROV_ERR_TOO_LARGE;
	}
	r.off = 1;
	if ((rc = request_fields(out, &r, err, errlen)) != PROV_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* The bytes the device signs: label ‖ NUL ‖ request body. */
static int request_tbs(uint8_t *tbs, size_t cap, size_t *tbslen,
    const prov_request_t *req, char *err, size_t errlen)
{
	struct wbuf w = { tbs, cap, 0, 0 };
	size_t ulen, slen;
	int rc;

	if ((rc = request_check(req, &ulen, &slen, err, errlen)) != PROV_OK)
		return rc;
	put_bytes(&w, req_label, sizeof(req_label));
	request_body(&w, req, ulen, slen);
	if (w.overflow) {
		util_err_set(err, errlen, "request too large to sign");
		return PROV_ERR_TOO_LARGE;
	}
	*tbslen = w.len;
	return PROV_OK;
}

/* Set up ctx for key's algorithm (sign or verify). */
static int request_sig_init(EVP_MD_CTX *ctx, EVP_PKEY *key, int sign, char *err,
    size_t errlen)
{
	EVP_PKEY_CTX *pctx = NULL;
	const char *md;
	int bits = EVP_PKEY_get_bits(key), rsa = 0;

	if (EVP_PKEY_is_a(key, "EC"))
		md = bits <= 256 ? "SHA256" : bits <= 384 ? "SHA384" : "SHA512";
	else if (EVP_PKEY_is_a(key, "RSA") && bits >= 2048 && bits <= 4096) {
		md = "SHA256";
		rsa = 1;
	} else {
		util_err_set(err, errlen,
		    "device key type %s cannot sign a "
		    "request",
		    EVP_PKEY_get0_type_name(key));
		return PROV_ERR_KEY_TYPE;
	}
	if ((sign ? EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, key,
	                NULL) :
	            EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL, key,
	                NULL)) != 1 ||
	    (rsa &&
	        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) !=
	                1 ||
	            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1 ||
	            EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) !=
	                1))) {
		util_err_openssl(err, errlen, "request signature set-up");
		return PROV_ERR_INTERNAL;
	}
	return PROV_OK;
}

int prov_request_sign(prov_request_t *req, EVP_PKEY *key, char *err,
    size_t errlen)
{
	uint8_t tbs[PROV_REQUEST_MAX + sizeof(req_label)];
	EVP_MD_CTX *ctx = NULL;
	size_t tbslen = 0, siglen = sizeof(req->sig);
	int rc;

	if (req == NULL || key == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	req->sig_len = 0;
	if ((rc = request_tbs(tbs, sizeof(tbs), &tbslen, req, err, errlen)) !=
	    PROV_OK)
		return rc;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return PROV_ERR_INTERNAL;
	}
	if ((rc = request_sig_init(ctx, key, 1, err, errlen)) != PROV_OK)
		goto out;
	if (EVP_DigestSign(ctx, req->sig, &siglen, tbs, tbslen) != 1) {
		util_err_openssl(err, errlen, "request signature");
		rc = PROV_ERR_INTERNAL;
		goto out;
	}
	req->sig_len = siglen;
	rc = PROV_OK;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int prov_request_verify(const prov_request_t *req, EVP_PKEY *pub, char *err,
    size_t errlen)
{
	uint8_t tbs[PROV_REQUEST_MAX + sizeof(req_label)];
	EVP_MD_CTX *ctx = NULL;
	size_t tbslen = 0;
	int rc;

	if (req == NULL || pub == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	if (req->sig_len == 0 || req->sig_len > PROV_REQ_SIG_MAX) {
		util_err_set(err, errlen, "request carries no signature");
		return PROV_ERR_UNSIGNED;
	}
	if ((rc = request_tbs(tbs, sizeof(tbs), &tbslen, req, err, errlen)) !=
	    PROV_OK)
		return rc == PROV_ERR_ARG ? PROV_ERR_FORMAT : rc;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return PROV_ERR_INTERNAL;
	}
	if ((rc = request_sig_init(ctx, pub, 0, err, errlen)) != PROV_OK)
		goto out;
	if (EVP_DigestVerify(ctx, req->sig, req->sig_len, tbs, tbslen) != 1) {
		util_err_set(err, errlen,
		    "request signature does not verify "
		    "with the device certificate's key");
		rc = PROV_ERR_SIGNATURE;
		goto out;
	}
	rc = PROV_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return rc;
}

void prov_subscription_wipe(prov_subscription_t *sub)
{
	if (sub != NULL)
		OPENSSL_cleanse(sub, sizeof(*sub));
}

/* 1 if (scheme, routing indicator, public key) can travel in field 0x0B. */
static int hn_key_ok(uint8_t scheme, const char *ri, size_t rilen,
    const uint8_t *pub, size_t publen)
{
	if (rilen < 1 || rilen > 4 || !is_digits((const uint8_t *)ri, rilen))
		return 0;
	if (scheme == 1)
		return publen == 32;
	return scheme == 2 && publen == 33 && (pub[0] == 2 || pub[0] == 3);
}

/* Check every field of sub before it is encoded. */
static int sub_validate(const prov_subscription_t *sub, char *err,
    size_t errlen)
{
	size_t n, i;

	n = strnlen(sub->supi, sizeof(sub->supi));
	if (n > PROV_SUPI_MAX || !supi_ok((const uint8_t *)sub->supi, n)) {
		util_err_set(err, errlen,
		    "SUPI must be imsi- and 5..15 "
		    "digits");
		return PROV_ERR_ARG;
	}
	n = strnlen(sub->mcc, sizeof(sub->mcc));
	if (n != 3 || !is_digits((const uint8_t *)sub->mcc, n)) {
		util_err_set(err, errlen, "MCC must be 3 digits");
		return PROV_ERR_ARG;
	}
	n = strnlen(sub->mnc, sizeof(sub->mnc));
	if ((n != 2 && n != 3) || !is_digits((const uint8_t *)sub->mnc, n)) {
		util_err_set(err, errlen, "MNC must be 2 or 3 digits");
		return PROV_ERR_ARG;
	}
	if (sub->nssai_count == 0 || sub->nssai_count > PROV_NSSAI_MAX) {
		util_err_set(err, errlen, "S-NSSAI count must be 1..%d",
		    PROV_NSSAI_MAX);
		return sub->nssai_count == 0 ? PROV_ERR_ARG :
		                               PROV_ERR_TOO_LARGE;
	}
	for (i = 0; i < sub->nssai_count; i++) {
		if (sub->nssai[i].has_sd && sub->nssai[i].sd > 0xFFFFFF) {
			util_err_set(err, errlen,
			    "S-NSSAI %zu: SD over 24 "
			    "bits",
			    i);
			return PROV_ERR_ARG;
		}
	}
	n = strnlen(sub->dnn, sizeof(sub->dnn));
	if (n > PROV_DNN_MAX) {
		util_err_set(err, errlen, "DNN longer than %d bytes",
		    PROV_DNN_MAX);
		return PROV_ERR_TOO_LARGE;
	}
	if (!dnn_ok((const uint8_t *)sub->dnn, n)) {
		util_err_set(err, errlen, "DNN empty or not [A-Za-z0-9.-]");
		return PROV_ERR_ARG;
	}
	if (sub->hn_scheme != 0 &&
	    !hn_key_ok(sub->hn_scheme, sub->routing,
	        strnlen(sub->routing, sizeof(sub->routing)), sub->hn_pub,
	        sub->hn_pub_len)) {
		util_err_set(err, errlen,
		    "home network key: scheme 1 (32 "
		    "octets) or 2 (33, compressed), routing indicator 1-4 digits");
		return PROV_ERR_ARG;
	}
	return PROV_OK;
}

int prov_subscription_encode(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_subscription_t *sub, char *err, size_t errlen)
{
	struct wbuf w = { out, outcap, 0, 0 };
	uint8_t t[8], sn[4];
	uint64_t u;
	size_t i;
	int rc, k;

	if (out == NULL || outlen == NULL || sub == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	*outlen = 0;
	if ((rc = sub_validate(sub, err, errlen)) != PROV_OK)
		return rc;
	put_u8(&w, SUB_VERSION);
	put_tlv(&w, SUB_TAG_SUPI, sub->supi, strlen(sub->supi));
	put_tlv(&w, SUB_TAG_KI, sub->ki, PROV_KEY_LEN);
	put_tlv(&w, SUB_TAG_OPC, sub->opc, PROV_KEY_LEN);
	put_tlv(&w, SUB_TAG_AMF, sub->amf, PROV_AMF_LEN);
	put_tlv(&w, SUB_TAG_SQN, sub->sqn, PROV_SQN_LEN);
	put_tlv(&w, SUB_TAG_MCC, sub->mcc, 3);
	put_tlv(&w, SUB_TAG_MNC, sub->mnc, strlen(sub->mnc));
	for (i = 0; i < sub->nssai_count; i++) {
		sn[0] = sub->nssai[i].sst;
		sn[1] = (uint8_t)(sub->nssai[i].sd >> 16);
		sn[2] = (uint8_t)(sub->nssai[i].sd >> 8);
		sn[3] = (uint8_t)sub->nssai[i].sd;
		put_tlv(&w, SUB_TAG_SNSSAI, sn, sub->nssai[i].has_sd ? 4 : 1);
	}
	put_tlv(&w, SUB_TAG_DNN, sub->dnn, strlen(sub->dnn));
	u = (uint64_t)sub->issued_at;
	for (k = 7; k >= 0; k--) {
		t[k] = (uint8_t)u;
		u >>= 8;
	}
	put_tlv(&w, SUB_TAG_ISSUED, t, sizeof(t));
	if (sub->hn_scheme != 0) {
		/* scheme ‖ key id ‖ RI length ‖ RI digits ‖ public key */
		uint8_t hk[3 + 4 + PROV_HN_PUB_MAX];
		size_t ri = strlen(sub->routing);

		hk[0] = sub->hn_scheme;
		hk[1] = sub->hn_key_id;
		hk[2] = (uint8_t)ri;
		memcpy(hk + 3, sub->routing, ri);
		memcpy(hk + 3 + ri, sub->hn_pub, sub->hn_pub_len);
		put_tlv(&w, SUB_TAG_HN_KEY, hk, 3 + ri + sub->hn_pub_len);
	}
	OPENSSL_cleanse(sn, sizeof(sn));
	if (w.overflow) {
		OPENSSL_cleanse(out, outcap);
		util_err_set(err, errlen,
		    "subscription needs more than %zu "
		    "bytes",
		    outcap);
		return PROV_ERR_TOO_LARGE;
	}
	*outlen = w.len;
	return PROV_OK;
}

/* Copy a fixed-size field or fail. */
static int fixed(uint8_t *dst, size_t want, const uint8_t *v, size_t n)
{
	if (n != want)
		return -1;
	memcpy(dst, v, n);
	return 0;
}

/* Decode one field of the subscription; -1 if its value is malformed. */
static int sub_field(prov_subscription_t *s, uint8_t tag, const uint8_t *v,
    size_t n)
{
	size_t k;
	uint64_t u = 0;

	switch (tag) {
	case SUB_TAG_SUPI:
		if (n > PROV_SUPI_MAX || !supi_ok(v, n))
			return -1;
		memcpy(s->supi, v, n);
		s->supi[n] = '\0';
		return 0;
	case SUB_TAG_KI: return fixed(s->ki, PROV_KEY_LEN, v, n);
	case SUB_TAG_OPC: return fixed(s->opc, PROV_KEY_LEN, v, n);
	case SUB_TAG_AMF: return fixed(s->amf, PROV_AMF_LEN, v, n);
	case SUB_TAG_SQN: return fixed(s->sqn, PROV_SQN_LEN, v, n);
	case SUB_TAG_MCC:
		if (n != 3 || !is_digits(v, n))
			return -1;
		memcpy(s->mcc, v, n);
		s->mcc[n] = '\0';
		return 0;
	case SUB_TAG_MNC:
		if ((n != 2 && n != 3) || !is_digits(v, n))
			return -1;
		memcpy(s->mnc, v, n);
		s->mnc[n] = '\0';
		return 0;
	case SUB_TAG_SNSSAI:
		if ((n != 1 && n != 4) || s->nssai_count >= PROV_NSSAI_MAX)
			return -1;
		s->nssai[s->nssai_count].sst = v[0];
		s->nssai[s->nssai_count].has_sd = n == 4;
		s->nssai[s->nssai_count].sd = n == 4 ?
		    ((uint32_t)v[1] << 16) | ((uint32_t)v[2] << 8) | v[3] :
		    0;
		s->nssai_count++;
		return 0;
	case SUB_TAG_DNN:
		if (!dnn_ok(v, n))
			return -1;
		memcpy(s->dnn, v, n);
		s->dnn[n] = '\0';
		return 0;
	case SUB_TAG_ISSUED:
		if (n != 8)
			return -1;
		for (k = 0; k < 8; k++)
			u = (u << 8) | v[k];
		s->issued_at = (int64_t)u;
		return 0;
	case SUB_TAG_HN_KEY:
		if (n < 4 || v[2] < 1 || v[2] > 4 || n < 3 + (size_t)v[2] ||
		    !hn_key_ok(v[0], (const char *)v + 3, v[2], v + 3 + v[2],
		        n - 3 - v[2]))
			return -1;
		s->hn_scheme = v[0];
		s->hn_key_id = v[1];
		memcpy(s->routing, v + 3, v[2]);
		s->routing[v[2]] = '\0';
		s->hn_pub_len = n - 3 - v[2];
		memcpy(s->hn_pub, v + 3 + v[2], s->hn_pub_len);
		return 0;
	default: return -1;
	}
}

int prov_subscription_decode(prov_subscription_t *out, const uint8_t *buf,
    size_t len, char *err, size_t errlen)
{
	struct rbuf r = { buf, len, 1 };
	const uint8_t *v;
	size_t n;
	uint8_t tag, last = 0;
	int rc = PROV_ERR_FORMAT;

	if (out == NULL || (buf == NULL && len > 0)) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	memset(out, 0, sizeof(*out));
	if (len < 1) {
		util_err_set(err, errlen, "empty subscription");
		goto fail;
	}
	if (buf[0] != SUB_VERSION) {
		util_err_set(err, errlen,
		    "subscription version %u "
		    "unsupported",
		    buf[0]);
		rc = PROV_ERR_VERSION;
		goto fail;
	}
	if (len > SUB_ENCODED_MAX) {
		util_err_set(err, errlen, "subscription longer than %d bytes",
		    SUB_ENCODED_MAX);
		rc = PROV_ERR_TOO_LARGE;
		goto fail;
	}
	while (r.off < len) {
		if (get_tlv(&r, &tag, &v, &n) != 0) {
			util_err_set(err, errlen,
			    "subscription: truncated "
			    "field at offset %zu",
			    r.off);
			goto fail;
		}
		/* Each tag once, ascending; only S-NSSAI may repeat. */
		if (!(tag == last + 1 ||
		        (tag == last && tag == SUB_TAG_SNSSAI))) {
			util_err_set(err, errlen,
			    "subscription: field 0x%02x "
			    "missing, repeated or out of order",
			    tag);
			goto fail;
		}
		if (sub_field(out, tag, v, n) != 0) {
			util_err_set(err, errlen,
			    "subscription: field 0x%02x "
			    "malformed",
			    tag);
			goto fail;
		}
		last = tag;
	}
	if (last != SUB_TAG_ISSUED && last != SUB_TAG_HN_KEY) {
		util_err_set(err, errlen,
		    "subscription: fields after 0x%02x "
		    "missing",
		    last);
		goto fail;
	}
	return PROV_OK;
fail:
	prov_subscription_wipe(out);
	return rc;
}
