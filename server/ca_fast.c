/* ca_fast.c — the per-certificate crypto path of device issuance: CSR
 * proof of possession without OpenSSL 3.0's per-key decoder (EC P-256 and
 * P-384; every other key and every refusal through the general path), and
 * device certificates signed from a reused template of the profile
 * (ca_profile.h) through OpenSSL's encoder, or from the TBS fast path
 * (ca_tbs_fast.c) when it answers; signature from a reused signing
 * context, no X509V3 parsing. */
#include "ca_priv.h"
#include "ca_profile.h"
#include "ca_tbs_fast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "util.h"

/*
 * PKCS#10 as OpenSSL's own X509_REQ template (crypto/x509/x_req.c), but
 * with the SubjectPublicKeyInfo kept as algorithm + bits (PKI_SPKI): OpenSSL
 * 3.0's X509_PUBKEY decodes the key while parsing, building a decoder chain
 * for every call (~1.1 M instructions). The info keeps its encoding as sent
 * (what the signature covers).
 */

typedef struct {
	ASN1_ENCODING enc;
	ASN1_INTEGER *version;
	X509_NAME *subject;
	PKI_SPKI *pubkey;
	STACK_OF(X509_ATTRIBUTE) * attributes;
} CA_REQ_INFO;

ASN1_SEQUENCE_enc(CA_REQ_INFO, enc,
    NULL) = { ASN1_SIMPLE(CA_REQ_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(CA_REQ_INFO, subject, X509_NAME),
	ASN1_SIMPLE(CA_REQ_INFO, pubkey, PKI_SPKI),
	ASN1_IMP_SET_OF_OPT(CA_REQ_INFO, attributes, X509_ATTRIBUTE,
	    0) } static_ASN1_SEQUENCE_END_ref(CA_REQ_INFO, CA_REQ_INFO)

    typedef struct {
	CA_REQ_INFO *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} CA_REQ;

ASN1_SEQUENCE(CA_REQ) = { ASN1_SIMPLE(CA_REQ, info, CA_REQ_INFO),
	ASN1_SIMPLE(CA_REQ, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(CA_REQ, signature,
	    ASN1_BIT_STRING) } static_ASN1_SEQUENCE_END(CA_REQ)

                            static CA_REQ
    * d2i_CA_REQ(const unsigned char **in, long len)
{
	return (CA_REQ *)ASN1_item_d2i(NULL, in, len, ASN1_ITEM_rptr(CA_REQ));
}

static void CA_REQ_free(CA_REQ *r)
{
	ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(CA_REQ));
}

/* Certificate ::= SEQUENCE { tbs (as encoded), algorithm, signature }. */
typedef struct {
	ASN1_TYPE *tbs;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} CA_CERT_RAW;

ASN1_SEQUENCE(CA_CERT_RAW) = { ASN1_SIMPLE(CA_CERT_RAW, tbs, ASN1_ANY),
	ASN1_SIMPLE(CA_CERT_RAW, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(CA_CERT_RAW, signature,
	    ASN1_BIT_STRING) } static_ASN1_SEQUENCE_END(CA_CERT_RAW)

                                 static CA_CERT_RAW
    * CA_CERT_RAW_new(void)
{
	return (CA_CERT_RAW *)ASN1_item_new(ASN1_ITEM_rptr(CA_CERT_RAW));
}

static void CA_CERT_RAW_free(CA_CERT_RAW *c)
{
	ASN1_item_free((ASN1_VALUE *)c, ASN1_ITEM_rptr(CA_CERT_RAW));
}

static int i2d_CA_CERT_RAW(const CA_CERT_RAW *c, unsigned char **out)
{
	return ASN1_item_i2d((const ASN1_VALUE *)c, out,
	    ASN1_ITEM_rptr(CA_CERT_RAW));
}

/* ---- CSR -------------------------------------------------------------- */

void ca_csr_free(ca_csr_t *csr)
{
	if (csr == NULL)
		return;
	X509_REQ_free(csr->req);
	CA_REQ_free(csr->raw);
	free(csr);
}

/* 0: P-256, 1: P-384, -1: not a named curve the fast path takes. */
static int fast_curve(const X509_ALGOR *a)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	int ptype;

	X509_ALGOR_get0(&obj, &ptype, &pval, a);
	if (OBJ_obj2nid(obj) != NID_X9_62_id_ecPublicKey ||
	    ptype != V_ASN1_OBJECT)
		return -1;
	switch (OBJ_obj2nid(pval)) {
	case NID_X9_62_prime256v1: return 0;
	case NID_secp384r1: return 1;
	default: return -1;
	}
}

enum { MD_SHA1, MD_SHA256, MD_SHA384, MD_SHA512 };

/* The digest of an ECDSA signature algorithm without parameters, NULL
 * when the fast path does not take it. */
static const EVP_MD *fast_sig_md(const ca_t *ca, const X509_ALGOR *a)
{
	switch (pki_ecdsa_sig_md_nid(a)) {
	case NID_sha256: return ca->md[MD_SHA256];
	case NID_sha384: return ca->md[MD_SHA384];
	case NID_sha512: return ca->md[MD_SHA512];
	default: return NULL;
	}
}

/*
 * The fast path: 1 when der is a request with an uncompressed P-256/P-384
 * point whose ECDSA signature verifies (*out filled), 0 when it does not
 * apply or does not verify — the general path then decides, so it alone
 * refuses and its messages stay as they were.
 */
static int csr_fast(ca_csr_t **out, const ca_t *ca, const uint8_t *der,
    size_t len, int exact)
{
	static const char *const curves[2] = { "P-256", "P-384" };
	const unsigned char *p = der;
	CA_REQ *r;
	ca_csr_t *c = NULL;
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *vc = NULL;
	const EVP_MD *md;
	uint8_t dg[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int curve, ok = 0;

	if (ca == NULL || ca->csr_ec[0] == NULL)
		return 0;
	if ((r = d2i_CA_REQ(&p, (long)len)) == NULL)
		goto out;
	if (exact && p != der + len)
		goto out;
	if ((curve = fast_curve(r->info->pubkey->algor)) < 0 ||
	    (md = fast_sig_md(ca, r->sig_alg)) == NULL ||
	    (r->signature->flags & 7) != 0 ||
	    (r->info->pubkey->public_key->flags & 7) != 0 ||
	    r->info->pubkey->public_key->length != (curve == 0 ? 65 : 97) ||
	    r->info->pubkey->public_key->data[0] != 0x04 ||
	    r->info->enc.enc == NULL || r->info->enc.modified)
		goto out;
	/* The key: a copy of the curve's parameters plus the point (checked
	 * on the curve), instead of a group built from its name. */
	if ((pk = EVP_PKEY_dup(ca->csr_ec[curve])) == NULL ||
	    EVP_PKEY_set1_encoded_public_key(pk,
	        r->info->pubkey->public_key->data,
	        (size_t)r->info->pubkey->public_key->length) != 1)
		goto out;
	if (EVP_Digest(r->info->enc.enc, (size_t)r->info->enc.len, dg, &dlen,
	        md, NULL) != 1 ||
	    (vc = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL ||
	    EVP_PKEY_verify_init(vc) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(vc, md) != 1 ||
	    EVP_PKEY_verify(vc, r->signature->data,
	        (size_t)r->signature->length, dg, dlen) != 1)
		goto out;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	c->raw = r;
	c->alg = r->info->pubkey->algor;
	c->bits = r->info->pubkey->public_key->data;
	c->blen = r->info->pubkey->public_key->length;
	snprintf(c->curve, sizeof(c->curve), "%s", curves[curve]);
	r = NULL;
	*out = c;
	ok = 1;
out:
	EVP_PKEY_CTX_free(vc);
	EVP_PKEY_free(pk);
	CA_REQ_free(r);
	ERR_clear_error();
	return ok;
}

/* The general path: OpenSSL's X509_REQ, as ca_csr_parse. */
static int csr_general(ca_csr_t **out, int *why, const uint8_t *der, size_t len,
    int exact, char *err, size_t errlen)
{
	const unsigned char *p = der;
	X509_REQ *req;
	X509_PUBKEY *xpk;
	ca_csr_t *c;
	EVP_PKEY *pk;

	if ((req = d2i_X509_REQ(NULL, &p, (long)len)) == NULL) {
		*why = CA_CSR_BAD_FORMAT;
		util_err_openssl(err, errlen,
		    "CSR is not a PKCS#10 request in PEM or DER");
		return CA_ERR_INVALID;
	}
	if (exact && p != der + len) {
		X509_REQ_free(req);
		ERR_clear_error();
		*why = CA_CSR_BAD_FORMAT;
		util_err_set(err, errlen,
		    "CSR has trailing bytes after the DER");
		return CA_ERR_INVALID;
	}
	if (ca_csr_spki_check(req, err, errlen) != CA_OK) {
		*why = CA_CSR_EXPLICIT_CURVE;
		goto fail;
	}
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL) {
		*why = CA_CSR_BAD_KEY;
		util_err_openssl(err, errlen, "CSR public key unreadable");
		goto fail;
	}
	if (X509_REQ_verify(req, pk) != 1) {
		*why = CA_CSR_BAD_SIGNATURE;
		util_err_openssl(err, errlen,
		    "CSR signature does not verify (no proof of possession)");
		goto fail;
	}
	xpk = X509_REQ_get_X509_PUBKEY(req);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		*why = CA_CSR_BAD_FORMAT;
		util_err_set(err, errlen, "out of memory");
		X509_REQ_free(req);
		return CA_ERR_INTERNAL;
	}
	c->req = req;
	c->pkey = pk;
	c->rsa = EVP_PKEY_is_a(pk, "RSA");
	if (X509_PUBKEY_get0_param(NULL, &c->bits, &c->blen,
	        (X509_ALGOR **)&c->alg, xpk) != 1) {
		ca_csr_free(c);
		*why = CA_CSR_BAD_KEY;
		util_err_openssl(err, errlen, "CSR public key unreadable");
		return CA_ERR_INVALID;
	}
	*out = c;
	return CA_OK;
fail:
	X509_REQ_free(req);
	return CA_ERR_INVALID;
}

int ca_csr_read(ca_csr_t **out, int *why, const ca_t *ca, const uint8_t *buf,
    size_t len, int format, char *err, size_t errlen)
{
	unsigned char *pem_der = NULL;
	const uint8_t *der = buf;
	long dlen = (long)len;
	int exact = 1, why_l = 0, rc;

	*out = NULL;
	if (why == NULL)
		why = &why_l;
	*why = CA_CSR_BAD_FORMAT; /* until it verifies */
	if (buf == NULL || len == 0) {
		util_err_set(err, errlen, "CSR is empty");
		return CA_ERR_INVALID;
	}
	if (len > CA_CSR_MAX) {
		util_err_set(err, errlen, "CSR larger than %d bytes",
		    CA_CSR_MAX);
		return CA_ERR_INVALID;
	}
	if (format == CA_CSR_PEM ||
	    (len >= 10 && memcmp(buf, "-----BEGIN", 10) == 0)) {
		/* PEM_read_bio_X509_REQ's reading: either label, the DER
		 * inside may have trailing bytes. */
		BIO *b = BIO_new_mem_buf(buf, (int)len);

		if (b == NULL) {
			util_err_openssl(err, errlen, "CSR");
			return CA_ERR_INTERNAL;
		}
		rc = PEM_bytes_read_bio(&pem_der, &dlen, NULL,
		    PEM_STRING_X509_REQ, b, NULL, NULL);
		BIO_free(b);
		if (rc != 1) {
			util_err_openssl(err, errlen,
			    "CSR is not a PKCS#10 request in PEM or DER");
			return CA_ERR_INVALID;
		}
		der = pem_der;
		exact = 0;
	}
	if (csr_fast(out, ca, der, (size_t)dlen, exact))
		rc = CA_OK;
	else
		rc = csr_general(out, why, der, (size_t)dlen, exact, err,
		    errlen);
	if (rc == CA_OK)
		*why = 0;
	OPENSSL_free(pem_der);
	return rc;
}

int ca_csr_key_type(char out[16], const ca_csr_t *csr, char *err, size_t errlen)
{
	int rc;

	if (csr->req == NULL) {
		snprintf(out, 16, "%s",
		    strcmp(csr->curve, "P-256") == 0 ? "EC-P256" : "EC-P384");
		return CA_OK;
	}
	if ((rc = ca_key_type(out, csr->pkey, err, errlen)) != CA_OK)
		return rc;
	/* A device certificate carries the provisioning EKU: only keys the
	 * provisioning core can seal to (the same list corehook checks). */
	if (pki_device_key_kind(csr->pkey) == PKI_DEVKEY_NONE) {
		util_err_set(err, errlen,
		    "device key %s not accepted: the "
		    "provisioning exchange serves EC P-256/P-384 and "
		    "RSA-2048/3072",
		    out);
		return CA_ERR_INVALID;
	}
	return CA_OK;
}

static void sha256_hex(const ca_t *ca, char out[65], const uint8_t *buf,
    size_t len)
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(buf, len, md, &mdlen, ca->md[MD_SHA256], NULL) != 1 ||
	    mdlen != 32) {
		memset(out, '0', 64);
		out[64] = '\0';
		return;
	}
	util_hex_encode(out, md, 32);
}

int ca_csr_spki_sha256_hex(char out[65], const ca_t *ca, const ca_csr_t *csr)
{
	unsigned char *der = NULL;
	int len;

	if (csr->req != NULL)
		return ca_req_spki_sha256_hex(out, csr->req);
	/* Re-encoded from its parts exactly as i2d_X509_PUBKEY does. */
	if ((len = pki_spki_i2d(((CA_REQ *)csr->raw)->info->pubkey, &der)) <= 0)
		return CA_ERR_INTERNAL;
	sha256_hex(ca, out, der, (size_t)len);
	OPENSSL_free(der);
	return CA_OK;
}

/* ---- device certificates ------------------------------------------------ */

/* One template per key kind (ca_profile.h: keyUsage differs), the outer
 * structure and the Device CA's signing context, and the TBS fast path
 * (ca_tbs_fast.c: NULL when the templates' pieces did not encode); used
 * by one thread at a time (taken from and returned to its CA set's pool,
 * set->signers: a set's issuing CA is fixed, so is every template). */
struct ca_signer {
	X509 *tmpl[CA_PROFILE_KINDS];
	CA_CERT_RAW *raw;
	EVP_PKEY_CTX *sign;
	ca_tbs_fast_t *fast;
	struct ca_signer *next;
};

static void signer_free(struct ca_signer *s)
{
	if (s == NULL)
		return;
	X509_free(s->tmpl[0]);
	X509_free(s->tmpl[1]);
	ca_tbs_fast_free(s->fast);
	CA_CERT_RAW_free(s->raw);
	EVP_PKEY_CTX_free(s->sign);
	free(s);
}

/* Add an extension slot for nid; its value is set for every certificate. */
static int ext_slot_add(X509 *t, int nid)
{
	ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ex = NULL;
	int ok = 0;

	if (v != NULL &&
	    ASN1_OCTET_STRING_set(v, (const unsigned char *)"\x04\x00", 2) ==
	        1 &&
	    (ex = X509_EXTENSION_create_by_NID(NULL, nid, 0, v)) != NULL &&
	    X509_add_ext(t, ex, -1) == 1)
		ok = 1;
	X509_EXTENSION_free(ex);
	ASN1_OCTET_STRING_free(v);
	return ok;
}

/* A template of kind k: everything of a device certificate that never
 * changes (set's issuing Device CA), signed once so OpenSSL writes both
 * AlgorithmIdentifiers. */
static X509 *template_new(const struct ca_set *set, int k)
{
	const struct ca_dca *d = ca_set_issuing(set);
	X509_PUBKEY *cpk;
	X509 *t;
	int i;

	if ((t = X509_new()) == NULL)
		return NULL;
	cpk = X509_get_X509_PUBKEY(d->cert);
	if (X509_set_version(t, X509_VERSION_3) != 1 ||
	    ASN1_STRING_set(X509_get_serialNumber(t), "\x40", 1) != 1 ||
	    X509_set_issuer_name(t, X509_get_subject_name(d->cert)) != 1 ||
	    X509_NAME_add_entry_by_NID(X509_get_subject_name(t), NID_commonName,
	        MBSTRING_UTF8, (const unsigned char *)"t", -1, -1, 0) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(t), 0) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(t), 0) == NULL || cpk == NULL)
		goto fail;
	{
		const unsigned char *pb;
		int pblen;
		X509_ALGOR *pa;

		if (X509_PUBKEY_get0_param(NULL, &pb, &pblen, &pa, cpk) != 1 ||
		    !ca_pubkey_set(X509_get_X509_PUBKEY(t), pa, pb, pblen))
			goto fail;
	}
	/* ca_profile.h's order: SKI, SAN, then the constant ones. */
	if (!ext_slot_add(t, NID_subject_key_identifier) ||
	    !ext_slot_add(t, NID_subject_alt_name))
		goto fail;
	for (i = 0; set->dev_exts[k][i] != NULL; i++)
		if (X509_add_ext(t, set->dev_exts[k][i], -1) != 1)
			goto fail;
	if (X509_sign(t, d->key, EVP_sha256()) <= 0)
		goto fail;
	return t;
fail:
	X509_free(t);
	return NULL;
}

int ca_fast_init(ca_t *ca, char *err, size_t errlen)
{
	static const char *const groups[2] = { "P-256", "P-384" };
	static const char *const mds[4] = { "SHA1", "SHA256", "SHA384",
		"SHA512" };
	int i;

	for (i = 0; i < 4; i++)
		if ((ca->md[i] = EVP_MD_fetch(NULL, mds[i], NULL)) == NULL) {
			util_err_openssl(err, errlen, "digest %s", mds[i]);
			return CA_ERR_INTERNAL;
		}
	for (i = 0; i < 2; i++) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		OSSL_PARAM prm[2];

		prm[0] =
		    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
		        (char *)groups[i], 0);
		prm[1] = OSSL_PARAM_construct_end();
		if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
		    EVP_PKEY_fromdata(c, &ca->csr_ec[i],
		        EVP_PKEY_KEY_PARAMETERS, prm) != 1) {
			EVP_PKEY_CTX_free(c);
			util_err_openssl(err, errlen, "EC %s parameters",
			    groups[i]);
			return CA_ERR_INTERNAL;
		}
		EVP_PKEY_CTX_free(c);
	}
	return CA_OK;
}

void ca_fast_free(ca_t *ca)
{
	int i;

	EVP_PKEY_free(ca->csr_ec[0]);
	EVP_PKEY_free(ca->csr_ec[1]);
	ca->csr_ec[0] = ca->csr_ec[1] = NULL;
	for (i = 0; i < 4; i++) {
		EVP_MD_free(ca->md[i]);
		ca->md[i] = NULL;
	}
}

void ca_signer_pool_free(struct ca_set *set)
{
	struct ca_signer *s;

	if (set == NULL)
		return;
	while ((s = set->signers) != NULL) {
		set->signers = s->next;
		signer_free(s);
	}
}

static struct ca_signer *signer_new(const ca_t *ca, const struct ca_set *set);

/* A signer of set's pool, or a new one when all are in use. */
static struct ca_signer *signer_take(const ca_t *ca, struct ca_set *set)
{
	struct ca_signer *s;

	pthread_mutex_lock(&set->signer_mu);
	if ((s = set->signers) != NULL)
		set->signers = s->next;
	pthread_mutex_unlock(&set->signer_mu);
	return s != NULL ? s : signer_new(ca, set);
}

/* Return s to set's pool; NULL-safe. */
static void signer_give(struct ca_set *set, struct ca_signer *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&set->signer_mu);
	s->next = set->signers;
	set->signers = s;
	pthread_mutex_unlock(&set->signer_mu);
}

/* Replace the data of extension loc with the DER of an item. */
static int ext_set(X509 *t, int loc, const unsigned char *der, int len)
{
	ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
	int ok;

	ok = v != NULL && ASN1_OCTET_STRING_set(v, der, len) == 1 &&
	    X509_EXTENSION_set_data(X509_get_ext(t, loc), v) == 1;
	ASN1_OCTET_STRING_free(v);
	return ok;
}

/* SKI as the profile computes it (ca_profile_ski). */
static int set_ski(const ca_t *ca, X509 *t, const unsigned char *bits, int blen)
{
	unsigned char md[20], *der = NULL;
	ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
	int len, ok = 0;

	if (id != NULL && ca_profile_ski(md, ca->md[MD_SHA1], bits, blen) &&
	    ASN1_OCTET_STRING_set(id, md, (int)sizeof(md)) == 1 &&
	    (len = i2d_ASN1_OCTET_STRING(id, &der)) > 0)
		ok = ext_set(t, CA_PROFILE_EXT_SKI, der, len);
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(id);
	return ok;
}

/* subjectAltName: the one URI. */
static int set_san_uri(X509 *t, const char *uri)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	unsigned char *der = NULL;
	int len, ok = 0;

	if (gens == NULL || gn == NULL || ia5 == NULL ||
	    ASN1_STRING_set(ia5, uri, -1) != 1)
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
	ia5 = NULL;
	if (!sk_GENERAL_NAME_push(gens, gn))
		goto out;
	gn = NULL;
	if ((len = i2d_GENERAL_NAMES(gens, &der)) > 0)
		ok = ext_set(t, CA_PROFILE_EXT_SAN, der, len);
out:
	OPENSSL_free(der);
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return ok;
}

/* The subject as the profile lists it (ca_profile_subject). */
static int set_subject(X509 *t, const ca_device_cert_t *d)
{
	X509_NAME *n = X509_get_subject_name(t);
	const char *v[CA_PROFILE_RDNS];
	int i;

	while (X509_NAME_entry_count(n) > 0)
		X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, 0));
	ca_profile_subject_values(v, d);
	for (i = 0; i < CA_PROFILE_RDNS; i++)
		if (X509_NAME_add_entry_by_NID(n, ca_profile_subject[i].nid,
		        ca_profile_subject[i].mbstring,
		        (const unsigned char *)v[i], -1, -1, 0) != 1)
			return 0;
	return 1;
}

/* The TBS through OpenSSL's encoder: every field set on the signer's X509
 * template of kind k, then i2d_re_X509_tbs. CA_ERR_INVALID if the subject
 * is refused (OpenSSL's string rules decide). */
static int tbs_x509(struct ca_signer *s, int k, unsigned char **tbs, int *tlen,
    const uint8_t sb[20], const ca_device_cert_t *spec, const ca_t *ca)
{
	X509 *t = s->tmpl[k];

	if (!set_subject(t, spec))
		return CA_ERR_INVALID;
	if (ASN1_STRING_set(X509_get_serialNumber(t), sb, 20) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(t), (time_t)spec->not_before) ==
	        NULL ||
	    !ca_profile_not_after_set(X509_getm_notAfter(t), spec->not_after))
		return CA_ERR_INTERNAL;
	if (!ca_pubkey_set(X509_get_X509_PUBKEY(t), spec->csr->alg,
	        spec->csr->bits, spec->csr->blen) ||
	    !set_ski(ca, t, spec->csr->bits, spec->csr->blen) ||
	    !set_san_uri(t, spec->san_uri) ||
	    (*tlen = i2d_re_X509_tbs(t, tbs)) <= 0)
		return CA_ERR_INTERNAL;
	return CA_OK;
}

/* Build a sample TBS of kind k both ways (the Device CA's own key as the
 * subject key); the fast path is enabled only if they are the same bytes. */
static int der_self_check(struct ca_signer *s, const ca_t *ca,
    const struct ca_set *set, int k)
{
	static const uint8_t sb[20] = { 0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
		12, 13, 14, 15, 16, 17, 18, 19 };
	ca_csr_t key;
	ca_device_cert_t d;
	X509_ALGOR *pa;
	unsigned char *a = NULL, *b = NULL;
	int alen = 0, blen = 0, ok = 0;

	memset(&key, 0, sizeof(key));
	if (X509_PUBKEY_get0_param(NULL, &key.bits, &key.blen, &pa,
	        X509_get_X509_PUBKEY(ca_set_issuing(set)->cert)) != 1)
		return 0;
	key.alg = pa;
	memset(&d, 0, sizeof(d));
	d.serial_number = "SN-1";
	d.org = "Self check";
	d.cn = "self-check";
	d.san_uri = "urn:dev:ops:32473-m-SN-1";
	d.not_before = 1700000000;
	d.not_after = 0;
	d.csr = &key;
	ca_tbs_fast_enable(s->fast, k, 1);
	if (ca_tbs_fast_build(s->fast, k, &a, &alen, sb, &d, ca->md[MD_SHA1]) ==
	        1 &&
	    tbs_x509(s, k, &b, &blen, sb, &d, ca) == CA_OK && alen == blen &&
	    memcmp(a, b, (size_t)alen) == 0)
		ok = 1;
	ca_tbs_fast_enable(s->fast, k, ok);
	OPENSSL_free(a);
	OPENSSL_free(b);
	return ok;
}

static struct ca_signer *signer_new(const ca_t *ca, const struct ca_set *set)
{
	struct ca_signer *s = calloc(1, sizeof(*s));
	const X509_ALGOR *alg;

	if (s == NULL)
		return NULL;
	if ((s->tmpl[CA_PROFILE_EC] = template_new(set, CA_PROFILE_EC)) ==
	        NULL ||
	    (s->tmpl[CA_PROFILE_RSA] = template_new(set, CA_PROFILE_RSA)) ==
	        NULL ||
	    (s->raw = CA_CERT_RAW_new()) == NULL)
		goto fail;
	X509_get0_signature(NULL, &alg, s->tmpl[0]);
	X509_ALGOR_free(s->raw->sig_alg);
	if ((s->raw->sig_alg = X509_ALGOR_dup(alg)) == NULL)
		goto fail;
	/* The same signature X509_sign(..., EVP_sha256()) makes: ECDSA
	 * (DER), or RSA PKCS#1 v1.5 with the DigestInfo. */
	if ((s->sign = EVP_PKEY_CTX_new_from_pkey(NULL,
	         ca_set_issuing(set)->key, NULL)) == NULL ||
	    EVP_PKEY_sign_init(s->sign) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(s->sign, EVP_sha256()) != 1)
		goto fail;
	/* Without the pieces (or if a sample differs) every certificate
	 * takes OpenSSL's encoder: slower, never different. */
	if (ca_tbs_fast_new(&s->fast, s->tmpl) == CA_OK) {
		der_self_check(s, ca, set, CA_PROFILE_EC);
		der_self_check(s, ca, set, CA_PROFILE_RSA);
	}
	ERR_clear_error();
	return s;
fail:
	signer_free(s);
	return NULL;
}

/* The TBS of a device certificate with serial sb: the fast path answers
 * when it can (der != 0), else OpenSSL's encoder. */
static int tbs_build(const ca_t *ca, struct ca_signer *s, unsigned char **tbs,
    int *tlen, int der, int *took_der, const uint8_t sb[20],
    const ca_device_cert_t *spec)
{
	int k = ca_profile_kind(spec->csr), r;

	*took_der = 0;
	if (der && s->fast != NULL &&
	    (r = ca_tbs_fast_build(s->fast, k, tbs, tlen, sb, spec,
	         ca->md[MD_SHA1])) != 0) {
		*took_der = r == 1;
		return r == 1 ? CA_OK : CA_ERR_INTERNAL;
	}
	return tbs_x509(s, k, tbs, tlen, sb, spec, ca);
}

int ca_device_tbs_build(const ca_t *ca, struct ca_set *set, unsigned char **tbs,
    size_t *len, int der, int *took_der, const uint8_t serial[20],
    const ca_device_cert_t *spec)
{
	struct ca_signer *s;
	int tlen = 0, rc, took = 0;

	*tbs = NULL;
	*len = 0;
	if (took_der != NULL)
		*took_der = 0;
	if ((s = signer_take(ca, set)) == NULL)
		return CA_ERR_INTERNAL;
	rc = tbs_build(ca, s, tbs, &tlen, der, &took, serial, spec);
	if (took_der != NULL)
		*took_der = took;
	signer_give(set, s);
	if (rc == CA_OK)
		*len = (size_t)tlen;
	ERR_clear_error();
	return rc;
}

uint32_t ca_tick30(void)
{
	struct timespec ts;
	uint64_t ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	return (uint32_t)(ms & 0x3fffffffu);
}

int ca_device_cert_sign(const ca_t *ca, struct ca_set *set, uint8_t **der,
    size_t *der_len, char sha_hex[65], char serial_hex[41], int64_t *not_before,
    int64_t *not_after, const ca_device_cert_t *spec, char *err, size_t errlen)
{
	struct ca_signer *s;
	unsigned char *tbs = NULL, *sig = NULL, *out = NULL, dg[32];
	unsigned int dlen = 0;
	size_t siglen = 0;
	uint8_t sb[20];
	uint32_t tick;
	ASN1_STRING *seq = NULL;
	int tlen, olen, took, rc = CA_ERR_INTERNAL;

	*der = NULL;
	*der_len = 0;
	if ((s = signer_take(ca, set)) == NULL) {
		util_err_openssl(err, errlen, "certificate template");
		return CA_ERR_INTERNAL;
	}
	/* Positive serial, 20 bytes: top bit clear, second set, 30 bits of
	 * ca_tick30() (so serials of consecutive certificates sort together
	 * in the (issuer, serial) index: one page dirtied per group, not one
	 * per certificate), then 128 random bits. */
	tick = ca_tick30();
	sb[0] = (uint8_t)(0x40 | ((tick >> 24) & 0x3f));
	sb[1] = (uint8_t)(tick >> 16);
	sb[2] = (uint8_t)(tick >> 8);
	sb[3] = (uint8_t)tick;
	if (util_random(sb + 4, sizeof(sb) - 4) != 0)
		goto fail;
	util_hex_encode(serial_hex, sb, sizeof(sb));
	/* TBS once; sign its digest; the certificate wraps those bytes. */
	if ((rc = tbs_build(ca, s, &tbs, &tlen, 1, &took, sb, spec)) != CA_OK) {
		if (rc == CA_ERR_INVALID) {
			util_err_openssl(err, errlen, "device subject");
			goto out;
		}
		rc = CA_ERR_INTERNAL;
		goto fail;
	}
	rc = CA_ERR_INTERNAL;
	if (EVP_Digest(tbs, (size_t)tlen, dg, &dlen, ca->md[MD_SHA256], NULL) !=
	        1 ||
	    EVP_PKEY_sign(s->sign, NULL, &siglen, dg, dlen) != 1 ||
	    (sig = OPENSSL_malloc(siglen)) == NULL ||
	    EVP_PKEY_sign(s->sign, sig, &siglen, dg, dlen) != 1)
		goto fail;
	if ((seq = ASN1_STRING_type_new(V_ASN1_SEQUENCE)) == NULL)
		goto fail;
	ASN1_STRING_set0(seq, tbs, tlen);
	tbs = NULL;
	ASN1_TYPE_set(s->raw->tbs, V_ASN1_SEQUENCE, seq);
	seq = NULL;
	ASN1_STRING_set0(s->raw->signature, sig, (int)siglen);
	sig = NULL;
	s->raw->signature->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	s->raw->signature->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	if ((olen = i2d_CA_CERT_RAW(s->raw, &out)) <= 0)
		goto fail;
	*der = out;
	*der_len = (size_t)olen;
	sha256_hex(ca, sha_hex, out, (size_t)olen);
	/* The validity as encoded (whole seconds either way). */
	*not_before = spec->not_before;
	*not_after = ca_profile_not_after_unix(spec->not_after);
	rc = CA_OK;
	goto out;
fail:
	util_err_openssl(err, errlen, "build certificate");
out:
	ASN1_STRING_free(seq);
	OPENSSL_free(tbs);
	OPENSSL_free(sig);
	signer_give(set, s);
	return rc;
}
