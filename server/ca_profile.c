/* ca_profile.c — the device certificate profile's facts (see ca_profile.h)
 * and the constant extensions built from them. */
#include "ca_profile.h"

#include <stdio.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "util.h"

const ca_profile_rdn_t ca_profile_subject[CA_PROFILE_RDNS] = {
	{ NID_serialNumber, 0x05, V_ASN1_PRINTABLESTRING, MBSTRING_ASC },
	{ NID_organizationName, 0x0a, V_ASN1_UTF8STRING, MBSTRING_UTF8 },
	{ NID_commonName, 0x03, V_ASN1_UTF8STRING, MBSTRING_UTF8 },
};

/* The constant extensions in certificate order. A value naming URL paths
 * (url[0], url[1]) gets the CA's public base URL before each. */
static const struct {
	int nid;
	const char *value; /* NULL: per kind (keyUsage) */
	const char *url[2];
} profile_exts[CA_PROFILE_EXTS] = {
	{ NID_basic_constraints, "critical,CA:FALSE", { NULL, NULL } },
	{ NID_key_usage, NULL, { NULL, NULL } },
	{ NID_ext_key_usage, PROVCA_OID_EKU_DEVICE, { NULL, NULL } },
	{ NID_authority_key_identifier, "keyid:always", { NULL, NULL } },
	{ NID_crl_distribution_points, NULL, { CA_URL_PATH_CRL, NULL } },
	{ NID_info_access, NULL, { CA_URL_PATH_OCSP, CA_URL_PATH_DEVICE_CA } },
};

void ca_profile_subject_values(const char *out[CA_PROFILE_RDNS],
    const ca_device_cert_t *d)
{
	out[0] = d->serial_number;
	out[1] = d->org;
	out[2] = d->cn;
}

int ca_profile_kind(const ca_csr_t *csr)
{
	return csr->rsa ? CA_PROFILE_RSA : CA_PROFILE_EC;
}

const char *ca_profile_key_usage(int kind)
{
	/* EC: the device key opens what the network seals to it (ECDH);
	 * RSA: it unwraps the content key (OAEP). */
	return kind == CA_PROFILE_RSA ?
	    "critical,digitalSignature,keyEncipherment" :
	    "critical,digitalSignature,keyAgreement";
}

/* The OpenSSL config text of constant extension i for kind into buf. */
static const char *ext_value(char *buf, size_t cap, size_t i, int kind,
    const char *base_url, const char *crl_path, const char *crt_path)
{
	if (profile_exts[i].nid == NID_key_usage)
		return ca_profile_key_usage(kind);
	if (profile_exts[i].nid == NID_crl_distribution_points) {
		snprintf(buf, cap, "URI:%s%s", base_url,
		    crl_path != NULL ? crl_path : profile_exts[i].url[0]);
		return buf;
	}
	if (profile_exts[i].nid == NID_info_access) {
		snprintf(buf, cap, "OCSP;URI:%s%s,caIssuers;URI:%s%s", base_url,
		    profile_exts[i].url[0], base_url,
		    crt_path != NULL ? crt_path : profile_exts[i].url[1]);
		return buf;
	}
	return profile_exts[i].value;
}

int ca_profile_exts_build(X509_EXTENSION *out[CA_PROFILE_EXTS + 1], int kind,
    X509 *issuer, const char *base_url, const char *crl_path,
    const char *crt_path, char *err, size_t errlen)
{
	char buf[800];
	X509V3_CTX ctx;
	size_t i;

	/* AKI needs only the issuer; no subject yet. */
	X509V3_set_ctx(&ctx, issuer, NULL, NULL, NULL, 0);
	for (i = 0; i < CA_PROFILE_EXTS; i++) {
		out[i] = X509V3_EXT_conf_nid(NULL, &ctx, profile_exts[i].nid,
		    ext_value(buf, sizeof(buf), i, kind, base_url, crl_path,
		        crt_path));
		if (out[i] == NULL) {
			util_err_openssl(err, errlen,
			    "device certificate extensions");
			return CA_ERR_INTERNAL;
		}
	}
	out[CA_PROFILE_EXTS] = NULL;
	return CA_OK;
}

void ca_profile_validity(int64_t *not_before, int64_t *not_after, int64_t now,
    int validity_days)
{
	*not_before = now - CA_PROFILE_BACKDATE_S;
	*not_after = validity_days > 0 ?
	    now + (int64_t)validity_days * UTIL_SECONDS_PER_DAY :
	    0;
}

int64_t ca_profile_not_after_unix(int64_t not_after)
{
	return not_after != 0 ? not_after : CA_PROFILE_NOT_AFTER_NONE_UNIX;
}

int ca_profile_not_after_set(ASN1_TIME *t, int64_t not_after)
{
	if (not_after == 0)
		return ASN1_TIME_set_string_X509(t,
		           CA_PROFILE_NOT_AFTER_NONE) == 1;
	return ASN1_TIME_set(t, (time_t)not_after) != NULL;
}

int ca_profile_ski(unsigned char out[20], const EVP_MD *sha1,
    const unsigned char *bits, int blen)
{
	unsigned int n = 0;

	return blen > 0 &&
	    EVP_Digest(bits, (size_t)blen, out, &n, sha1, NULL) == 1 && n == 20;
}
