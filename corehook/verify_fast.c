/* verify_fast.c — the fast paths in front of corehook's full check of a
 * device certificate (verify.c): the verified issuer path cache and the
 * leaf fast path. One call, ch_verify_fast, either answers or hands over
 * to the full check, whose answer (and refusal) stands; the full check
 * feeds the cache (ch_path_cache_store). Nothing here refuses a device. */
#include "ch_int.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "pki.h"

/* ---- verified issuer path cache ----
 *
 * Every device of a CA comes with the same chain (Device CA, Root), and
 * verifying it (a P-384 Root signature) is most of the work of a
 * provisioning. After a full verification the issuer path OpenSSL built
 * (leaf's issuer .. anchor) is kept with the exact chain text it came from.
 * A device whose security context carries byte-identical chain text is then
 * verified against that path: its own signature, validity, key usage and
 * constraints with the issuer as the trusted end (X509_verify_cert, same
 * flags), and the validity of every certificate above the issuer now. Any
 * difference or failure takes the full path, so the cache can only save
 * work, never accept what the full verification would refuse. Paths with
 * policy constraints, or name constraints above the issuer, are never
 * cached. The entry is rebuilt every CH_PATH_TTL_S. */
#define CH_PATH_TTL_S 60

enum { FAST_SHA256, FAST_SHA384, FAST_SHA512, FAST_NMD };

struct ch_path_cache {
	pthread_mutex_t mu;
	char *text; /* the "chain" string the path came from */
	size_t len;
	STACK_OF(X509) * path; /* leaf's issuer first, anchor last */
	int64_t verified_at;
	int fast; /* the issuer allows leaf_fast (see there) */
	/* The path's validity as Unix seconds, when every time is in
	 * RFC 5280's form (have_times): valid at t iff from < t < until, for
	 * the whole path and for the certificates above the issuer. */
	int have_times;
	int64_t from_all, until_all, from_above, until_above;
	/* Read-only after ch_path_cache_new (leaf_fast): */
	EVP_PKEY *p256; /* P-256 parameters, no key */
	EVP_MD *md[FAST_NMD];
	ASN1_OBJECT *eku; /* PROVCA_OID_EKU_DEVICE */
};

/* An empty cache with the leaf fast path's parameters fetched once. */
int ch_path_cache_new(ch_path_cache **out)
{
	static const char *const mds[FAST_NMD] = { "SHA256", "SHA384",
		"SHA512" };
	ch_path_cache *c;
	EVP_PKEY_CTX *pc = NULL;
	OSSL_PARAM prm[2];
	int i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	pthread_mutex_init(&c->mu, NULL);
	/* Without these leaf_fast never applies; verification is unchanged. */
	prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    (char *)"P-256", 0);
	prm[1] = OSSL_PARAM_construct_end();
	if ((pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, &c->p256, EVP_PKEY_KEY_PARAMETERS, prm) != 1)
		c->p256 = NULL;
	EVP_PKEY_CTX_free(pc);
	for (i = 0; i < FAST_NMD; i++)
		c->md[i] = EVP_MD_fetch(NULL, mds[i], NULL);
	c->eku = OBJ_txt2obj(PROVCA_OID_EKU_DEVICE, 1);
	ERR_clear_error();
	*out = c;
	return 0;
}

/* Free the cache; NULL-safe. */
void ch_path_cache_free(ch_path_cache *c)
{
	int i;

	if (c == NULL)
		return;
	free(c->text);
	sk_X509_pop_free(c->path, X509_free);
	EVP_PKEY_free(c->p256);
	for (i = 0; i < FAST_NMD; i++)
		EVP_MD_free(c->md[i]);
	ASN1_OBJECT_free(c->eku);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* A verification of cert against trusted at now with pki_cert_verify's
 * flags; NULL on failure (*store freed by the caller). */
static X509_STORE_CTX *verify_ctx(X509_STORE **store, X509 *trusted, X509 *cert,
    STACK_OF(X509) * untrusted, int64_t now)
{
	X509_STORE_CTX *ctx = NULL;
	X509_VERIFY_PARAM *param;

	if ((*store = X509_STORE_new()) == NULL ||
	    !X509_STORE_add_cert(*store, trusted) ||
	    (ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, *store, cert, untrusted)) {
		X509_STORE_CTX_free(ctx);
		return NULL;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, (time_t)now);
	/* As pki_cert_verify. */
	X509_VERIFY_PARAM_set_flags(param,
	    X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
	return ctx;
}

/* No policy constraints anywhere on the path, and no name constraints
 * above the issuer (the trusted end's own are applied to the leaf by
 * X509_verify_cert; those further up would not be). */
static int path_cacheable(STACK_OF(X509) * path)
{
	int i;

	for (i = 0; i < sk_X509_num(path); i++) {
		X509 *x = sk_X509_value(path, i);

		if (X509_get_ext_by_NID(x, NID_policy_constraints, -1) >= 0 ||
		    X509_get_ext_by_NID(x, NID_inhibit_any_policy, -1) >= 0 ||
		    (i > 0 &&
		        X509_get_ext_by_NID(x, NID_name_constraints, -1) >= 0))
			return 0;
	}
	return sk_X509_num(path) > 0;
}

/* ---- leaf fast path ----
 *
 * Parsing a certificate with d2i_X509 makes OpenSSL 3.0 decode its public
 * key through a decoder chain built for every call (~1.5 M instructions,
 * most of a cached-path provisioning). For a device whose chain text is the
 * cached one, leaf_fast reads the certificate with OpenSSL's ASN.1
 * templates, the SubjectPublicKeyInfo kept as algorithm + bits, and
 * checks what X509_verify_cert (strict, partial chain, the issuer as the
 * trusted end) and ch_context_verify check, for the one profile ProvCA
 * issues: v3; same ECDSA algorithm inside and outside; no unique IDs;
 * issuer name = the cached issuer's subject; AKI key identifier present,
 * not critical, = the issuer's SKI; valid now (and every certificate of
 * the path); the signature under the issuer's key; a named P-256
 * uncompressed point on the curve; only basicConstraints (cA false, no
 * path length), keyUsage (present, no keyCertSign, digitalSignature +
 * keyAgreement), extKeyUsage (the device purpose), SAN (one to four URIs,
 * so no IP address), SKI, AKI, CRL distribution points and AIA, each once,
 * each decoding, only the first four (those X509_verify_cert handles) ever
 * critical; a subject of serialNumber, O and CN only, each at most once,
 * with CN = the DeviceID. It answers only "accepted" or "not mine": anything
 * else, a refusal included, takes the unchanged full path, which alone
 * refuses (and words the reason). The issuer qualifies once (ch_path_cache_store,
 * issuer_allows_fast): a CA with keyCertSign (or no keyUsage), an SKI, an
 * EC key, and name constraints on IP addresses only, so a leaf with no IP
 * address in its SAN (required here) is outside them.
 */
typedef struct {
	ASN1_ENCODING enc;
	ASN1_INTEGER *version;
	ASN1_INTEGER *serial;
	X509_ALGOR *sig_alg;
	X509_NAME *issuer;
	X509_VAL *validity;
	X509_NAME *subject;
	PKI_SPKI *key;
	ASN1_BIT_STRING *issuer_uid;
	ASN1_BIT_STRING *subject_uid;
	STACK_OF(X509_EXTENSION) * exts;
} CH_TBS;

ASN1_SEQUENCE_enc(CH_TBS, enc,
    NULL) = { ASN1_EXP_OPT(CH_TBS, version, ASN1_INTEGER, 0),
	ASN1_SIMPLE(CH_TBS, serial, ASN1_INTEGER),
	ASN1_SIMPLE(CH_TBS, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(CH_TBS, issuer, X509_NAME),
	ASN1_SIMPLE(CH_TBS, validity, X509_VAL),
	ASN1_SIMPLE(CH_TBS, subject, X509_NAME),
	ASN1_SIMPLE(CH_TBS, key, PKI_SPKI),
	ASN1_IMP_OPT(CH_TBS, issuer_uid, ASN1_BIT_STRING, 1),
	ASN1_IMP_OPT(CH_TBS, subject_uid, ASN1_BIT_STRING, 2),
	ASN1_EXP_SEQUENCE_OF_OPT(CH_TBS, exts, X509_EXTENSION,
	    3) } static_ASN1_SEQUENCE_END_ref(CH_TBS, CH_TBS)

    typedef struct {
	CH_TBS *tbs;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} CH_CERT;

ASN1_SEQUENCE(CH_CERT) = { ASN1_SIMPLE(CH_CERT, tbs, CH_TBS),
	ASN1_SIMPLE(CH_CERT, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(CH_CERT, signature,
	    ASN1_BIT_STRING) } static_ASN1_SEQUENCE_END(CH_CERT)

    /* 1 if every subtree of s names IP addresses, with no minimum/maximum. */
    static int subtrees_ip_only(STACK_OF(GENERAL_SUBTREE) * s)
{
	int i;

	for (i = 0; i < sk_GENERAL_SUBTREE_num(s); i++) {
		GENERAL_SUBTREE *t = sk_GENERAL_SUBTREE_value(s, i);

		if (t->base == NULL || t->base->type != GEN_IPADD ||
		    t->maximum != NULL ||
		    (t->minimum != NULL && ASN1_INTEGER_get(t->minimum) != 0))
			return 0;
	}
	return 1;
}

/* Whether leaf_fast may take leaves of this (verified) issuer: a CA that
 * may sign certificates, with an SKI and an EC key, and name constraints
 * (if any) on IP addresses only — ProvCA's Device CA excludes every IP
 * address; a leaf with no IP address in its SAN is outside them. */
static int issuer_allows_fast(X509 *issuer)
{
	EVP_PKEY *k = X509_get0_pubkey(issuer);
	NAME_CONSTRAINTS *nc = NULL;
	int ok, crit = -1;

	ok = k != NULL && EVP_PKEY_is_a(k, "EC") &&
	    X509_check_ca(issuer) == 1 &&
	    X509_get0_subject_key_id(issuer) != NULL &&
	    (!(X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) ||
	        (X509_get_key_usage(issuer) & KU_KEY_CERT_SIGN));
	if (ok && X509_get_ext_by_NID(issuer, NID_name_constraints, -1) >= 0) {
		nc =
		    X509_get_ext_d2i(issuer, NID_name_constraints, &crit, NULL);
		ok = nc != NULL && subtrees_ip_only(nc->permittedSubtrees) &&
		    subtrees_ip_only(nc->excludedSubtrees);
		NAME_CONSTRAINTS_free(nc);
	}
	ERR_clear_error();
	return ok;
}

/* keyUsage bits as OpenSSL reads them (x509v3 ex_kusage). */
static uint32_t ku_bits(const ASN1_BIT_STRING *b)
{
	uint32_t v = 0;

	if (b->length > 0)
		v = b->data[0];
	if (b->length > 1)
		v |= (uint32_t)b->data[1] << 8;
	return v;
}

/* The profile's SAN: one to four URIs (the device URN), so no IP address
 * (name constraints) and nothing else for the name-constraint check to
 * read. */
static int fast_san_ok(const GENERAL_NAMES *gn)
{
	int j,
	    good = sk_GENERAL_NAME_num(gn) > 0 && sk_GENERAL_NAME_num(gn) <= 4;

	for (j = 0; j < sk_GENERAL_NAME_num(gn); j++)
		if (sk_GENERAL_NAME_value(gn, j)->type != GEN_URI)
			good = 0;
	return good;
}

/* Whether the decoded extension v (of nid; freed here) is as the profile
 * has it: cA false without path length, keyUsage digitalSignature +
 * keyAgreement without keyCertSign, the device EKU want, an AKI of the
 * issuer's SKI iskid only, the SAN of fast_san_ok; SKI, CRL DP and AIA as
 * they decode. */
static int fast_ext_ok(int nid, void *v, const ASN1_OCTET_STRING *iskid,
    const ASN1_OBJECT *want)
{
	int j, good = 0;
	uint32_t ku;

	switch (nid) {
	case NID_basic_constraints: {
		BASIC_CONSTRAINTS *bc = v;

		good = !bc->ca && bc->pathlen == NULL;
		BASIC_CONSTRAINTS_free(bc);
		break;
	}
	case NID_key_usage:
		ku = ku_bits(v);
		ASN1_BIT_STRING_free(v);
		good = !(ku & KU_KEY_CERT_SIGN) &&
		    (ku & (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT)) ==
		        (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
		break;
	case NID_ext_key_usage: {
		EXTENDED_KEY_USAGE *eku = v;

		for (j = 0; j < sk_ASN1_OBJECT_num(eku); j++)
			if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, j), want) == 0)
				good = 1;
		EXTENDED_KEY_USAGE_free(eku);
		break;
	}
	case NID_authority_key_identifier: {
		AUTHORITY_KEYID *aki = v;

		good = aki->keyid != NULL && aki->issuer == NULL &&
		    aki->serial == NULL &&
		    ASN1_OCTET_STRING_cmp(aki->keyid, iskid) == 0;
		AUTHORITY_KEYID_free(aki);
		break;
	}
	case NID_subject_alt_name:
		good = fast_san_ok(v);
		GENERAL_NAMES_free(v);
		break;
	case NID_subject_key_identifier:
		ASN1_OCTET_STRING_free(v);
		good = 1;
		break;
	case NID_crl_distribution_points:
		CRL_DIST_POINTS_free(v);
		good = 1;
		break;
	default: /* NID_info_access */
		AUTHORITY_INFO_ACCESS_free(v);
		good = 1;
		break;
	}
	return good;
}

/* The extensions of the profile, each once, each decoding and as
 * fast_ext_ok has it (see leaf_fast). */
static int fast_exts(const CH_TBS *t, X509 *issuer, const ASN1_OBJECT *want)
{
	/* The first four are those X509_verify_cert handles when critical
	 * (X509_supported_extension); the others must not be critical. */
	static const int nids[] = { NID_basic_constraints, NID_key_usage,
		NID_ext_key_usage, NID_subject_alt_name,
		NID_subject_key_identifier, NID_authority_key_identifier,
		NID_crl_distribution_points, NID_info_access };
	const int nn = (int)(sizeof(nids) / sizeof(nids[0]));
	const ASN1_OCTET_STRING *iskid = X509_get0_subject_key_id(issuer);
	unsigned seen = 0;
	int i, k, n, nid;

	n = sk_X509_EXTENSION_num(t->exts);
	if (n <= 0 || iskid == NULL || want == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(t->exts, i);
		void *v;

		nid = OBJ_obj2nid(X509_EXTENSION_get_object(e));
		for (k = 0; k < nn; k++)
			if (nids[k] == nid)
				break;
		if (k == nn || (seen & (1u << k)) ||
		    (X509_EXTENSION_get_critical(e) && k > 3) ||
		    (v = X509V3_EXT_d2i(e)) == NULL)
			return 0;
		seen |= 1u << k;
		if (!fast_ext_ok(nid, v, iskid, want))
			return 0;
	}
	/* keyUsage, extKeyUsage and the AKI are required. */
	return (seen & (1u << 1)) && (seen & (1u << 2)) && (seen & (1u << 5));
}

/* The subject holds only the profile's attributes (serialNumber, O, CN),
 * each at most once, and its one CN equals device_id. Anything else (an
 * emailAddress, say, which OpenSSL's name-constraint check reads whatever
 * the constraints' types) is left to the full path. */
static int name_cn_is(X509_NAME *name, const char *device_id)
{
	static const int allowed[] = { NID_serialNumber, NID_organizationName,
		NID_commonName };
	X509_NAME_ENTRY *ent;
	unsigned char *utf8 = NULL;
	unsigned seen = 0;
	int i, k, n, idx, len, ok;

	n = X509_NAME_entry_count(name);
	if (n <= 0 || n > 3)
		return 0;
	for (i = 0; i < n; i++) {
		int nid = OBJ_obj2nid(
		    X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, i)));

		for (k = 0; k < 3 && allowed[k] != nid; k++)
			;
		if (k == 3 || (seen & (1u << k)))
			return 0;
		seen |= 1u << k;
	}
	if ((idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0 ||
	    X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0 ||
	    (ent = X509_NAME_get_entry(name, idx)) == NULL ||
	    (len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ent))) <
	        0)
		return 0;
	ok = (size_t)len == strlen(device_id) &&
	    memcmp(utf8, device_id, (size_t)len) == 0;
	OPENSSL_free(utf8);
	return ok;
}

/* The digest of an ECDSA signature algorithm without parameters. */
static const EVP_MD *fast_md(const ch_path_cache *c, const X509_ALGOR *a)
{
	switch (pki_ecdsa_sig_md_nid(a)) {
	case NID_sha256: return c->md[FAST_SHA256];
	case NID_sha384: return c->md[FAST_SHA384];
	case NID_sha512: return c->md[FAST_SHA512];
	default: return NULL;
	}
}

static int time_secs(int64_t *out, const ASN1_TIME *t);

/* What the cache holds for one chain text, copied out under its lock. */
typedef struct {
	STACK_OF(X509) * path; /* up-referenced; free with the snapshot */
	int fast, have_times;
	int64_t from_all, until_all, from_above, until_above;
} path_snap;

/* The cached path for exactly this chain text, verified less than
 * CH_PATH_TTL_S ago: 1 with *p filled, else 0. */
static int path_take(path_snap *p, ch_path_cache *c, const char *text,
    int64_t now)
{
	size_t len = strlen(text);

	memset(p, 0, sizeof(*p));
	pthread_mutex_lock(&c->mu);
	if (c->path != NULL && c->len == len &&
	    memcmp(c->text, text, len) == 0 && now >= c->verified_at &&
	    now - c->verified_at < CH_PATH_TTL_S) {
		p->path = X509_chain_up_ref(c->path);
		p->fast = c->fast;
		p->have_times = c->have_times;
		p->from_all = c->from_all;
		p->until_all = c->until_all;
		p->from_above = c->from_above;
		p->until_above = c->until_above;
	}
	pthread_mutex_unlock(&c->mu);
	return p->path != NULL;
}

/* path[first..] (0: the whole path, 1: above the issuer) valid at now: from
 * the numbers when every time was in RFC 5280 form, else per certificate
 * as X509_cmp_time decides. */
static int path_valid_now(const path_snap *p, int first, int64_t now)
{
	time_t tt = (time_t)now;
	int i;

	if (p->have_times)
		return first == 0 ? p->from_all < now && now < p->until_all :
		                    p->from_above < now && now < p->until_above;
	for (i = first; i < sk_X509_num(p->path); i++) {
		X509 *x = sk_X509_value(p->path, i);

		if (X509_cmp_time(X509_get0_notBefore(x), &tt) >= 0 ||
		    X509_cmp_time(X509_get0_notAfter(x), &tt) <= 0)
			return 0;
	}
	return 1;
}

/* The one certificate of pem (no headers, nothing after it) read with the
 * CH_CERT template; NULL when it is not one. */
static CH_CERT *fast_cert_read(const char *pem)
{
	BIO *bio = NULL;
	char *name = NULL, *hdr = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	long derlen = 0;
	CH_CERT *cert = NULL;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
	    PEM_read_bio(bio, &name, &hdr, &der, &derlen) != 1 ||
	    strcmp(name, PEM_STRING_X509) != 0 || hdr[0] != '\0')
		goto done;
	p = der;
	cert =
	    (CH_CERT *)ASN1_item_d2i(NULL, &p, derlen, ASN1_ITEM_rptr(CH_CERT));
	if (cert != NULL && p != der + derlen) {
		ASN1_item_free((ASN1_VALUE *)cert, ASN1_ITEM_rptr(CH_CERT));
		cert = NULL;
	}
done:
	OPENSSL_free(name);
	OPENSSL_free(hdr);
	OPENSSL_free(der);
	BIO_free(bio);
	return cert;
}

/* The TBS fields of the profile (see leaf_fast): v3, no unique IDs, the
 * same ECDSA algorithm inside and out, issued by issuer, valid at now, a
 * named P-256 uncompressed point. The signature's digest, or NULL. */
static const EVP_MD *fast_tbs_ok(const ch_path_cache *c, const CH_CERT *cert,
    X509 *issuer, int64_t now)
{
	const CH_TBS *t = cert->tbs;
	const ASN1_OBJECT *obj;
	const void *pval;
	const EVP_MD *md;
	time_t tt = (time_t)now;
	int ptype;

	if (t->version == NULL || ASN1_INTEGER_get(t->version) != 2 ||
	    t->issuer_uid != NULL || t->subject_uid != NULL ||
	    t->enc.enc == NULL || t->enc.modified ||
	    X509_ALGOR_cmp(cert->sig_alg, t->sig_alg) != 0 ||
	    (md = fast_md(c, cert->sig_alg)) == NULL ||
	    (cert->signature->flags & 7) != 0 ||
	    X509_NAME_entry_count(t->issuer) == 0 ||
	    X509_NAME_entry_count(t->subject) == 0 ||
	    X509_NAME_cmp(t->issuer, X509_get_subject_name(issuer)) != 0)
		return NULL;
	if (X509_cmp_time(t->validity->notBefore, &tt) >= 0 ||
	    X509_cmp_time(t->validity->notAfter, &tt) <= 0)
		return NULL;
	X509_ALGOR_get0(&obj, &ptype, &pval, t->key->algor);
	if (OBJ_obj2nid(obj) != NID_X9_62_id_ecPublicKey ||
	    ptype != V_ASN1_OBJECT ||
	    OBJ_obj2nid(pval) != NID_X9_62_prime256v1 ||
	    (t->key->public_key->flags & 7) != 0 ||
	    t->key->public_key->length != 65 ||
	    t->key->public_key->data[0] != 0x04)
		return NULL;
	return md;
}

/* The signature over the TBS as it was encoded, under the issuer's key. */
static int fast_sig_ok(const CH_CERT *cert, X509 *issuer, const EVP_MD *md)
{
	const CH_TBS *t = cert->tbs;
	EVP_PKEY_CTX *vc = NULL;
	uint8_t dg[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int ok;

	ok = EVP_Digest(t->enc.enc, (size_t)t->enc.len, dg, &dlen, md, NULL) ==
	        1 &&
	    (vc = EVP_PKEY_CTX_new_from_pkey(NULL, X509_get0_pubkey(issuer),
	         NULL)) != NULL &&
	    EVP_PKEY_verify_init(vc) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(vc, md) == 1 &&
	    EVP_PKEY_verify(vc, cert->signature->data,
	        (size_t)cert->signature->length, dg, dlen) == 1;
	EVP_PKEY_CTX_free(vc);
	return ok;
}

/* 1 with *out = the device's public key when the leaf in pem is accepted
 * on the cached path for exactly this chain text; 0 when the fast path
 * does not apply or a check fails (the full path then decides). */
static int leaf_fast(EVP_PKEY **out, uint8_t *enc, int64_t *valid_until,
    ch_path_cache *c, const char *pem, const char *text, const char *device_id,
    int64_t now)
{
	path_snap p;
	X509 *issuer;
	CH_CERT *cert = NULL;
	const ASN1_BIT_STRING *point;
	const EVP_MD *md;
	EVP_PKEY *pk = NULL;
	int64_t na;
	int ok = 0;

	*out = NULL;
	if (c->p256 == NULL || !path_take(&p, c, text, now))
		return 0;
	issuer = sk_X509_value(p.path, 0);
	if (!p.fast || !path_valid_now(&p, 0, now) ||
	    (cert = fast_cert_read(pem)) == NULL ||
	    (md = fast_tbs_ok(c, cert, issuer, now)) == NULL ||
	    !fast_exts(cert->tbs, issuer, c->eku) ||
	    !name_cn_is(cert->tbs->subject, device_id) ||
	    !fast_sig_ok(cert, issuer, md))
		goto done;
	/* The key: the curve's parameters plus the point (checked on the
	 * curve), no decoder. */
	point = cert->tbs->key->public_key;
	if ((pk = EVP_PKEY_dup(c->p256)) == NULL ||
	    EVP_PKEY_set1_encoded_public_key(pk, point->data,
	        (size_t)point->length) != 1)
		goto done;
	if (enc != NULL)
		memcpy(enc, point->data, 65);
	/* Valid until the leaf's or the path's end, whichever comes first. */
	*valid_until = now + 1;
	if (p.have_times && time_secs(&na, cert->tbs->validity->notAfter))
		*valid_until = na < p.until_all ? na : p.until_all;
	*out = pk;
	pk = NULL;
	ok = 1;
done:
	EVP_PKEY_free(pk);
	ASN1_item_free((ASN1_VALUE *)cert, ASN1_ITEM_rptr(CH_CERT));
	sk_X509_pop_free(p.path, X509_free);
	ERR_clear_error();
	return ok;
}

/* t as Unix seconds when it is in RFC 5280's form (UTCTime YYMMDDHHMMSSZ
 * or GeneralizedTime YYYYMMDDHHMMSSZ: no fraction, no offset), where whole
 * seconds decide exactly what X509_cmp_time decides; 0 otherwise. */
static int time_secs(int64_t *out, const ASN1_TIME *t)
{
	int n;

	if (t == NULL || ASN1_TIME_check(t) != 1)
		return 0;
	n = ASN1_STRING_length(t);
	if (!((ASN1_STRING_type(t) == V_ASN1_UTCTIME && n == 13) ||
	        (ASN1_STRING_type(t) == V_ASN1_GENERALIZEDTIME && n == 15)) ||
	    ASN1_STRING_get0_data(t)[n - 1] != 'Z')
		return 0;
	return pki_time_unix(out, t) == 0;
}

/* The validity of path[first..] as one interval (latest notBefore,
 * earliest notAfter); 0 if a time is not in RFC 5280's form. */
static int path_times(int64_t *from, int64_t *until, STACK_OF(X509) * path,
    int first)
{
	int64_t nb, na;
	int i;

	*from = INT64_MIN;
	*until = INT64_MAX;
	for (i = first; i < sk_X509_num(path); i++) {
		X509 *x = sk_X509_value(path, i);

		if (!time_secs(&nb, X509_get0_notBefore(x)) ||
		    !time_secs(&na, X509_get0_notAfter(x)))
			return 0;
		if (nb > *from)
			*from = nb;
		if (na < *until)
			*until = na;
	}
	return 1;
}

/* After a full verification succeeded: keep the path it built (chain:
 * leaf first, anchor last; consumed). */
void ch_path_cache_store(ch_path_cache *c, STACK_OF(X509) * chain,
    const char *text, int64_t now)
{
	X509 *leaf;
	char *copy = NULL;
	size_t len = strlen(text);
	int fast, have_times;
	int64_t fa = 0, ua = 0, fb = 0, ub = 0;

	if (chain == NULL || sk_X509_num(chain) < 2 ||
	    (leaf = sk_X509_shift(chain)) == NULL)
		goto out;
	X509_free(leaf);
	if (!path_cacheable(chain) || (copy = malloc(len + 1)) == NULL)
		goto out;
	memcpy(copy, text, len + 1);
	fast = issuer_allows_fast(sk_X509_value(chain, 0));
	have_times =
	    path_times(&fa, &ua, chain, 0) && path_times(&fb, &ub, chain, 1);
	pthread_mutex_lock(&c->mu);
	free(c->text);
	sk_X509_pop_free(c->path, X509_free);
	c->text = copy;
	c->len = len;
	c->path = chain;
	c->verified_at = now;
	c->fast = fast;
	c->have_times = have_times;
	c->from_all = fa;
	c->until_all = ua;
	c->from_above = fb;
	c->until_above = ub;
	pthread_mutex_unlock(&c->mu);
	copy = NULL;
	chain = NULL;
out:
	free(copy);
	sk_X509_pop_free(chain, X509_free);
	ERR_clear_error();
}

/* 1 if cert verifies on the cached path for exactly this chain text;
 * *valid_until as ch_context_verify's. */
static int path_verify(ch_path_cache *c, X509 *cert, const char *text,
    int64_t now, int64_t *valid_until)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	path_snap p;
	int ok = 0;
	int64_t na;

	if (!path_take(&p, c, text, now))
		return 0;
	/* Above the issuer: valid now (the issuer itself is checked by
	 * X509_verify_cert as the trusted end). */
	if (!path_valid_now(&p, 1, now) ||
	    (ctx = verify_ctx(&store, sk_X509_value(p.path, 0), cert, NULL,
	         now)) == NULL ||
	    X509_verify_cert(ctx) != 1 ||
	    X509_STORE_CTX_get0_chain(ctx) == NULL ||
	    sk_X509_num(X509_STORE_CTX_get0_chain(ctx)) != 2 ||
	    X509_cmp(sk_X509_value(X509_STORE_CTX_get0_chain(ctx), 1),
	        sk_X509_value(p.path, 0)) != 0)
		goto out;
	*valid_until = now + 1;
	if (p.have_times && time_secs(&na, X509_get0_notAfter(cert)))
		*valid_until = na < p.until_all ? na : p.until_all;
	ok = 1;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(p.path, X509_free);
	ERR_clear_error();
	return ok;
}

/* The earliest notAfter of path as Unix seconds (contract in ch_int.h). */
int ch_path_valid_until(int64_t *until, STACK_OF(X509) * path)
{
	int64_t from;

	return path_times(&from, until, path, 0);
}

/* The leaf fast path, then the cached issuer path, else hand over
 * (contract in ch_int.h). */
int ch_verify_fast(EVP_PKEY **pubkey, uint8_t pub_enc[65], X509 **cert,
    int64_t *valid_until, ch_path_cache *cache, const char *pem,
    const char *text, const char *device_id, int64_t now)
{
	char perr[256];

	*pubkey = NULL;
	*cert = NULL;
	if (leaf_fast(pubkey, pub_enc, valid_until, cache, pem, text, device_id,
	        now))
		return CH_CHECK_FAST;
	/* Unreadable: the full check reads it again and words the refusal. */
	if (pki_cert_load(cert, (const uint8_t *)pem, strlen(pem), perr,
	        sizeof(perr)) != PKI_OK) {
		*cert = NULL;
		ERR_clear_error();
		return CH_FAST_HANDOVER;
	}
	if (path_verify(cache, *cert, text, now, valid_until))
		return CH_CHECK_CACHED;
	return CH_FAST_HANDOVER;
}
