/* testpki.c — the in-memory test PKI (see testpki.h). */
#include "testpki.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pki.h"

/* Add one extension from its OpenSSL config text. */
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

X509 *testpki_issue(EVP_PKEY *key, const char *cn, X509 *issuer,
    EVP_PKEY *issuer_key, int is_ca, const char *eku, int ku, int64_t nb,
    int64_t na, size_t pad)
{
	X509 *x = NULL;
	X509_NAME *name = NULL;
	BIGNUM *serial = NULL;
	char kubuf[128], *padbuf = NULL;
	int ok = 0;

	if ((x = X509_new()) == NULL || !X509_set_version(x, 2) ||
	    (serial = BN_new()) == NULL || !BN_rand(serial, 127, 0, 0) ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)))
		goto done;
	if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL)
		goto done;
	if ((name = X509_NAME_new()) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	        (const unsigned char *)"ProvCA test", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	        (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x,
	        issuer != NULL ? X509_get_subject_name(issuer) : name) ||
	    !X509_set_pubkey(x, key))
		goto done;
	if (issuer == NULL)
		issuer = x;
	if (!add_ext(x, issuer, NID_basic_constraints,
	        is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
	    !add_ext(x, issuer, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, issuer, NID_authority_key_identifier, "keyid:always"))
		goto done;
	kubuf[0] = '\0';
	if (ku == 0) {
		strcpy(kubuf,
		    is_ca ? "critical,keyCertSign,cRLSign" :
		            "critical,digitalSignature");
	} else {
		strcpy(kubuf, "critical");
		if (ku & KU_DIGITAL_SIGNATURE)
			strcat(kubuf, ",digitalSignature");
		if (ku & KU_KEY_AGREEMENT)
			strcat(kubuf, ",keyAgreement");
		if (ku & KU_KEY_ENCIPHERMENT)
			strcat(kubuf, ",keyEncipherment");
		if (ku & KU_KEY_CERT_SIGN)
			strcat(kubuf, ",keyCertSign");
	}
	if (!add_ext(x, issuer, NID_key_usage, kubuf))
		goto done;
	if (eku != NULL && !add_ext(x, issuer, NID_ext_key_usage, eku))
		goto done;
	if (pad > 0) {
		if ((padbuf = OPENSSL_malloc(pad + 1)) == NULL)
			goto done;
		memset(padbuf, 'p', pad);
		padbuf[pad] = '\0';
		if (!add_ext(x, issuer, NID_netscape_comment, padbuf))
			goto done;
	}
	if (X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) <=
	    0)
		goto done;
	ok = 1;
done:
	OPENSSL_free(padbuf);
	BN_free(serial);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

#define Y2023 ((int64_t)1672531200)
#define Y2040 ((int64_t)2208988800)

int testpki_init(testpki_t *p, int with_rsa)
{
	const int64_t nb = Y2023, na = Y2040;

	memset(p, 0, sizeof(*p));
	if ((p->root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) ==
	        NULL ||
	    (p->inter_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) ==
	        NULL ||
	    (p->signer_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) ==
	        NULL ||
	    (p->other_root_key =
	            EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (p->signer384_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384")) ==
	        NULL ||
	    (p->dev_p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) ==
	        NULL ||
	    (p->dev_p256_other =
	            EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		goto fail;
	if ((p->root = testpki_issue(p->root_key, "Test Root", NULL, NULL, 1,
	         NULL, 0, nb, na, 0)) == NULL ||
	    (p->inter = testpki_issue(p->inter_key, "Test Infrastructure CA",
	         p->root, p->root_key, 1, NULL, 0, nb, na, 0)) == NULL ||
	    (p->signer = testpki_issue(p->signer_key, "signer", p->inter,
	         p->inter_key, 0, PROVCA_OID_EKU_SIGNER, 0, nb, na, 0)) ==
	        NULL ||
	    (p->signer_noeku = testpki_issue(p->signer_key, "signer-noeku",
	         p->inter, p->inter_key, 0, PROVCA_OID_EKU_DEVICE, 0, nb, na,
	         0)) == NULL ||
	    (p->signer_noku = testpki_issue(p->signer_key, "signer-noku",
	         p->inter, p->inter_key, 0, PROVCA_OID_EKU_SIGNER,
	         KU_KEY_AGREEMENT, nb, na, 0)) == NULL ||
	    (p->signer_expired = testpki_issue(p->signer_key, "signer-old",
	         p->inter, p->inter_key, 0, PROVCA_OID_EKU_SIGNER, 0, nb,
	         TESTPKI_NOW - 86400, 0)) == NULL ||
	    (p->other_root = testpki_issue(p->other_root_key, "Other Root",
	         NULL, NULL, 1, NULL, 0, nb, na, 0)) == NULL ||
	    (p->signer_other = testpki_issue(p->signer_key, "signer-other",
	         p->other_root, p->other_root_key, 0, PROVCA_OID_EKU_SIGNER, 0,
	         nb, na, 0)) == NULL ||
	    (p->signer384 = testpki_issue(p->signer384_key, "signer-384",
	         p->inter, p->inter_key, 0, PROVCA_OID_EKU_SIGNER, 0, nb, na,
	         0)) == NULL)
		goto fail;
	if ((p->inters = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(p->inters, p->inter) || !X509_up_ref(p->inter))
		goto fail;
	if (with_rsa &&
	    ((p->dev_rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	          (size_t)2048)) == NULL ||
	        (p->dev_rsa2048_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	             (size_t)2048)) == NULL ||
	        (p->dev_rsa3072 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	             (size_t)3072)) == NULL ||
	        (p->dev_rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	             (size_t)1024)) == NULL))
		goto fail;
	return 0;
fail:
	ERR_clear_error();
	testpki_free(p);
	return -1;
}

void testpki_free(testpki_t *p)
{
	if (p == NULL)
		return;
	EVP_PKEY_free(p->root_key);
	X509_free(p->root);
	EVP_PKEY_free(p->inter_key);
	X509_free(p->inter);
	sk_X509_pop_free(p->inters, X509_free);
	EVP_PKEY_free(p->signer_key);
	X509_free(p->signer);
	X509_free(p->signer_noeku);
	X509_free(p->signer_noku);
	X509_free(p->signer_expired);
	EVP_PKEY_free(p->other_root_key);
	X509_free(p->other_root);
	X509_free(p->signer_other);
	EVP_PKEY_free(p->signer384_key);
	X509_free(p->signer384);
	EVP_PKEY_free(p->dev_p256);
	EVP_PKEY_free(p->dev_p256_other);
	EVP_PKEY_free(p->dev_rsa2048);
	EVP_PKEY_free(p->dev_rsa2048_other);
	EVP_PKEY_free(p->dev_rsa3072);
	EVP_PKEY_free(p->dev_rsa1024);
	memset(p, 0, sizeof(*p));
}

EVP_PKEY *testpki_fixed_p256(void)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	EC_GROUP *g = NULL;
	EC_POINT *pt = NULL;
	BIGNUM *d = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	unsigned char pub[65];

	if (BN_hex2bn(&d, TESTPKI_FUZZ_SCALAR) == 0 ||
	    (g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) == NULL ||
	    (pt = EC_POINT_new(g)) == NULL ||
	    !EC_POINT_mul(g, pt, d, NULL, NULL, NULL) ||
	    EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub,
	        sizeof(pub), NULL) != sizeof(pub) ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	        "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
	        sizeof(pub)) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) <= 0)
		k = NULL;
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	BN_clear_free(d);
	return k;
}

const uint8_t testpki_ue_nonce[PROV_NONCE_LEN] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4,
	0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf };
const uint8_t testpki_net_nonce[PROV_NONCE_LEN] = { 0x50, 0x51, 0x52, 0x53,
	0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e,
	0x5f };

/* The standard subscription (testpki.h). */
void testpki_subscription(prov_subscription_t *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	strcpy(s->supi, "imsi-001010000000001");
	for (i = 0; i < PROV_KEY_LEN; i++) {
		s->ki[i] = (uint8_t)(0x10 + i);
		s->opc[i] = (uint8_t)(0x80 + i);
	}
	s->amf[0] = 0x80;
	s->amf[1] = 0x00;
	memcpy(s->sqn, "\x00\x00\x00\x00\x00\x21", PROV_SQN_LEN);
	strcpy(s->mcc, "001");
	strcpy(s->mnc, "01");
	s->nssai_count = 2;
	s->nssai[0].sst = 1;
	s->nssai[1].sst = 2;
	s->nssai[1].has_sd = 1;
	s->nssai[1].sd = 0xabcdef;
	strcpy(s->dnn, "internet");
	s->issued_at = TESTPKI_NOW;
}

/* The standard binding (testpki.h). */
void testpki_binding(prov_binding_t *b)
{
	memset(b, 0, sizeof(*b));
	strcpy(b->device_id, TESTPKI_DEVICE_ID);
	memcpy(b->ue_nonce, testpki_ue_nonce, PROV_NONCE_LEN);
	memcpy(b->net_nonce, testpki_net_nonce, PROV_NONCE_LEN);
}

/* Seal and sign the standard subscription (testpki.h). */
size_t testpki_container(uint8_t *out, const testpki_t *p, EVP_PKEY *device_key,
    X509 *signer, STACK_OF(X509) * chain)
{
	prov_subscription_t s;
	prov_binding_t b;
	size_t n = 0;
	char err[256] = "";

	testpki_subscription(&s);
	testpki_binding(&b);
	if (prov_seal_sign(out, PROV_CONTAINER_MAX, &n, &s, &b, device_key,
	        p->signer_key, signer, chain, err, sizeof(err)) != PROV_OK)
		n = 0;
	prov_subscription_wipe(&s);
	return n;
}

/* Append a 2-byte length and x's DER at c + *off; 0 on failure. */
static int put_cert(uint8_t *c, size_t *off, X509 *x)
{
	unsigned char *der = NULL;
	int dl = i2d_X509(x, &der);

	if (dl <= 0 || *off + 2 + (size_t)dl > PROV_CONTAINER_MAX) {
		OPENSSL_free(der);
		return 0;
	}
	c[(*off)++] = (uint8_t)(dl >> 8);
	c[(*off)++] = (uint8_t)dl;
	memcpy(c + *off, der, (size_t)dl);
	*off += (size_t)dl;
	OPENSSL_free(der);
	return 1;
}

/* A hand-built container (testpki.h). */
size_t testpki_container_raw(uint8_t *c, const testpki_t *p, uint8_t count,
    X509 **certs, size_t ncerts, EVP_PKEY *key)
{
	prov_subscription_t s;
	prov_binding_t b;
	EVP_MD_CTX *md = NULL;
	size_t bl = 0, off, i, sl = 200, n = 0;
	char err[256];

	testpki_subscription(&s);
	testpki_binding(&b);
	if (prov_seal(c, PROV_CONTAINER_MAX, &bl, &s, &b, p->dev_p256, err,
	        sizeof(err)) != PROV_OK)
		goto out;
	off = bl;
	c[off++] = count;
	for (i = 0; i < ncerts; i++)
		if (!put_cert(c, &off, certs[i]))
			goto out;
	if (off + sl > PROV_CONTAINER_MAX || (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL) !=
	        1 ||
	    EVP_DigestSign(md, c + off, &sl, c, off) != 1)
		goto out;
	n = off + sl;
out:
	EVP_MD_CTX_free(md);
	prov_subscription_wipe(&s);
	return n;
}
