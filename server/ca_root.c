/* ca_root.c — what only the Root signs, for init and the offline
 * ceremonies (`ca-server root ...`): an intermediate's certificate (Device
 * CA or Infrastructure CA profile, naming the Root's CRL as its CRL
 * distribution point) and the Root's own CRL, which lists revoked
 * intermediates and carries a long nextUpdate. Never used by serve. */
#include "ca_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "util.h"

int ca_root_crl_url(char *out, size_t outlen, const ca_config_t *cfg)
{
	int n = snprintf(out, outlen, "%s%s", cfg->public_base_url,
	    CA_URL_PATH_ROOT_CRL);

	return n < 0 || (size_t)n >= outlen ? CA_ERR_INVALID : CA_OK;
}

int ca_root_certify(X509 **out, char serial_hex[41], X509 *root,
    EVP_PKEY *root_key, X509_NAME *subject, EVP_PKEY *pub, int device,
    int64_t not_after, const ca_config_t *cfg, char *err, size_t errlen)
{
	char cdp[sizeof(cfg->public_base_url) + 64], dp[sizeof(cdp) + 8];
	ca_cert_spec_t sp;

	if (ca_root_crl_url(cdp, sizeof(cdp), cfg) != CA_OK) {
		util_err_set(err, errlen, "public base URL too long");
		return CA_ERR_INVALID;
	}
	snprintf(dp, sizeof(dp), "URI:%s", cdp);
	memset(&sp, 0, sizeof(sp));
	sp.subject = subject;
	sp.pubkey = pub;
	sp.issuer = root;
	sp.issuer_key = root_key;
	sp.not_before = (int64_t)time(NULL) - 60;
	sp.not_after = not_after;
	sp.basic_constraints = "critical,CA:TRUE,pathlen:0";
	sp.key_usage = "critical,keyCertSign,cRLSign";
	/* Devices carry URNs, never IP addresses. */
	sp.name_constraints = device ? "critical,excluded;IP:0.0.0.0/0.0.0.0,"
	                               "excluded;IP:::/::" :
	                               NULL;
	sp.crl_dp = dp;
	return ca_x509_make(out, serial_hex, &sp, err, errlen);
}

/* Copy prev's revoked entries (already checked to be the Root's) into crl;
 * 1 if serial (may be NULL) is among them. -1 on failure. */
static int root_crl_copy(X509_CRL *crl, X509_CRL *prev,
    const ASN1_INTEGER *serial)
{
	STACK_OF(X509_REVOKED) *rs =
	    prev != NULL ? X509_CRL_get_REVOKED(prev) : NULL;
	int i, found = 0;

	for (i = 0; i < sk_X509_REVOKED_num(rs); i++) {
		X509_REVOKED *r =
		    X509_REVOKED_dup(sk_X509_REVOKED_value(rs, i));

		if (r == NULL || X509_CRL_add0_revoked(crl, r) != 1) {
			X509_REVOKED_free(r);
			return -1;
		}
		if (serial != NULL &&
		    ASN1_INTEGER_cmp(serial,
		        X509_REVOKED_get0_serialNumber(r)) == 0)
			found = 1;
	}
	return found;
}

/* A revoked entry for serial with reason, now. 0 on success. */
static int root_crl_add(X509_CRL *crl, const ASN1_INTEGER *serial, int reason,
    int64_t now)
{
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)now);
	ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
	int rc = -1;

	if (r == NULL || t == NULL || e == NULL ||
	    X509_REVOKED_set_serialNumber(r, (ASN1_INTEGER *)serial) != 1 ||
	    X509_REVOKED_set_revocationDate(r, t) != 1 ||
	    ASN1_ENUMERATED_set(e, reason) != 1 ||
	    X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0) != 1 ||
	    X509_CRL_add0_revoked(crl, r) != 1)
		goto out;
	r = NULL;
	rc = 0;
out:
	X509_REVOKED_free(r);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(e);
	return rc;
}

/* The CRL number of prev, +1 (1 without prev). */
static int64_t root_crl_next_number(X509_CRL *prev)
{
	ASN1_INTEGER *n = prev != NULL ?
	    X509_CRL_get_ext_d2i(prev, NID_crl_number, NULL, NULL) :
	    NULL;
	int64_t v = 0;

	if (n != NULL && ASN1_INTEGER_get_int64(&v, n) != 1)
		v = 0;
	ASN1_INTEGER_free(n);
	return v + 1;
}

int ca_root_crl_make(uint8_t **der, size_t *len, X509 *root, EVP_PKEY *root_key,
    const uint8_t *prev_der, size_t prev_len, const char *revoke_hex,
    int reason, int days, char *err, size_t errlen)
{
	X509_CRL *crl = NULL, *prev = NULL;
	const unsigned char *p = prev_der;
	ASN1_TIME *tu = NULL, *nu = NULL;
	ASN1_INTEGER *num = NULL, *sn = NULL;
	BIGNUM *bn = NULL;
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	unsigned char *out = NULL;
	int64_t now = (int64_t)time(NULL);
	int n, rc = CA_ERR_INTERNAL;

	*der = NULL;
	*len = 0;
	if (prev_der != NULL &&
	    ((prev = d2i_X509_CRL(NULL, &p, (long)prev_len)) == NULL ||
	        p != prev_der + prev_len ||
	        X509_NAME_cmp(X509_CRL_get_issuer(prev),
	            X509_get_subject_name(root)) != 0 ||
	        X509_CRL_verify(prev, X509_get0_pubkey(root)) != 1)) {
		util_err_set(err, errlen,
		    "the published Root CRL is not the "
		    "Root's (bad signature or issuer); refusing to extend it");
		rc = CA_ERR_INVALID;
		goto out;
	}
	if (revoke_hex != NULL &&
	    (BN_hex2bn(&bn, revoke_hex) <= 0 || (size_t)BN_num_bytes(bn) > 20 ||
	        revoke_hex[strspn(revoke_hex, "0123456789abcdefABCDEF")] !=
	            '\0' ||
	        (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)) {
		util_err_set(err, errlen, "--revoke takes a serial in hex");
		rc = CA_ERR_INVALID;
		goto out;
	}
	if ((crl = X509_CRL_new()) == NULL ||
	    X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(root)) != 1 ||
	    (tu = ASN1_TIME_set(NULL, (time_t)now)) == NULL ||
	    (nu = ASN1_TIME_set(NULL,
	         (time_t)(now + (int64_t)days * UTIL_SECONDS_PER_DAY))) ==
	        NULL ||
	    X509_CRL_set1_lastUpdate(crl, tu) != 1 ||
	    X509_CRL_set1_nextUpdate(crl, nu) != 1 ||
	    (num = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set_int64(num, root_crl_next_number(prev)) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
		goto ossl;
	X509V3_set_ctx(&ctx, root, NULL, NULL, crl, 0);
	if ((aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	         "keyid:always")) == NULL ||
	    X509_CRL_add_ext(crl, aki, -1) != 1)
		goto ossl;
	if ((n = root_crl_copy(crl, prev, sn)) < 0 ||
	    (sn != NULL && n == 0 && root_crl_add(crl, sn, reason, now) != 0))
		goto ossl;
	if (X509_CRL_sort(crl) != 1 ||
	    X509_CRL_sign(crl, root_key, EVP_sha384()) <= 0 ||
	    (n = i2d_X509_CRL(crl, &out)) <= 0 ||
	    (*der = malloc((size_t)n)) == NULL)
		goto ossl;
	memcpy(*der, out, (size_t)n);
	*len = (size_t)n;
	rc = CA_OK;
	goto out;
ossl:
	util_err_openssl(err, errlen, "build the Root CRL");
	rc = CA_ERR_INTERNAL;
out:
	OPENSSL_free(out);
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	X509_CRL_free(crl);
	X509_CRL_free(prev);
	return rc;
}
