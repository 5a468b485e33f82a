/* test_ca_tbs.c — a device certificate's TBS built from the template's DER
 * pieces is byte for byte what OpenSSL's encoder writes for the same
 * fields: subject and URI lengths across the 127/128 and 255/256 length
 * encodings, UTCTime and GeneralizedTime, P-256, P-384, RSA and
 * compressed-point keys, serials with every leading octet; inputs outside
 * the DER path (non-ASCII, over-long, non-PrintableString serial numbers,
 * times before 1950, serials needing a padding octet) take the encoder and
 * keep its refusals; the certificate signed either way carries what
 * ca_profile.h says (subject attributes and their string types, extension
 * order, keyUsage per key kind, EKU, the 802.1AR notAfter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca_priv.h"
#include "ca_profile.h"
#include "pki.h"
#include "util.h"

struct fx {
	char dir[256];
	char data[300];
	ca_t *ca;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512] = "";
	ca_init_opts_t o;

	snprintf(f->dir, sizeof(f->dir), "/tmp/provca-tbs-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	memset(&o, 0, sizeof(o));
	o.data_dir = f->data;
	o.plain_keys = 1;
	o.example_oids = 1;
	o.public_base_url = "https://ca.test:8443";
	assert_int_equal(ca_init(&o, err, sizeof(err)), CA_OK);
	assert_int_equal(ca_open(&f->ca, f->data, NULL, err, sizeof(err)),
	    CA_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[600];

	ca_free(f->ca);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A parsed, verified request for a fresh key of kind ("P-256", "P-384",
 * "RSA2048"; compressed: the point in compressed form). */
static ca_csr_t *csr_new(const ca_t *ca, const char *kind, int compressed)
{
	EVP_PKEY *k;
	X509_REQ *r = X509_REQ_new();
	unsigned char *der = NULL;
	ca_csr_t *csr = NULL;
	char err[256];
	int len, why = 0;

	if (strncmp(kind, "RSA", 3) == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		    (size_t)atoi(kind + 3));
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", kind);
	assert_non_null(k);
	if (compressed)
		assert_int_equal(EVP_PKEY_set_utf8_string_param(k,
		                     "point-format", "compressed"),
		    1);
	assert_int_equal(X509_REQ_set_pubkey(r, k), 1);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	assert_true((len = i2d_X509_REQ(r, &der)) > 0);
	assert_int_equal(ca_csr_read(&csr, &why, ca, der, (size_t)len,
	                     CA_CSR_PEM_OR_DER, err, sizeof(err)),
	    CA_OK);
	OPENSSL_free(der);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
	return csr;
}

/* n characters from a PrintableString-safe alphabet, varied by seed. */
static void fill(char *out, size_t n, unsigned seed)
{
	static const char a[] = "ABCxyz019 '()+,-./:=?";
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = a[(seed + i * 7) % (sizeof(a) - 1)];
	out[n] = '\0';
}

/* A device of manufacturer "Acme" with these names and key, valid from
 * 2023-11-14 with no notAfter. */
static void spec_init(ca_device_cert_t *d, const char *sn, const char *cn,
    const char *uri, const ca_csr_t *csr)
{
	memset(d, 0, sizeof(*d));
	d->serial_number = sn;
	d->org = "Acme";
	d->cn = cn;
	d->san_uri = uri;
	d->not_before = 1700000000;
	d->csr = csr;
}

/* Build both ways; same result code, same bytes. Returns took_der. */
static int same_tbs(const ca_t *ca, const uint8_t sb[20],
    const ca_device_cert_t *d, int want_rc)
{
	unsigned char *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	int took = -1, took0 = -1;

	assert_int_equal(ca_device_tbs_build(ca, ca_set_peek(ca), &a, &alen, 1,
	                     &took, sb, d),
	    want_rc);
	assert_int_equal(ca_device_tbs_build(ca, ca_set_peek(ca), &b, &blen, 0,
	                     &took0, sb, d),
	    want_rc);
	assert_int_equal(took0, 0);
	if (want_rc == CA_OK) {
		assert_true(alen > 0);
		assert_int_equal(alen, blen);
		assert_memory_equal(a, b, alen);
	}
	OPENSSL_free(a);
	OPENSSL_free(b);
	return took;
}

static void ca_device_tbs__der_matches_encoder_across_lengths(void **state)
{
	struct fx *f = *state;
	static const char *const kinds[] = { "P-256", "P-384", "RSA2048" };
	static const int64_t times[] = { 1700000000, 0, 631152000, 2524607999,
		2524608000, 4102444800, 253402300799 };
	char sn[80], org[80], cn[80], uri[800];
	uint8_t sb[20];
	ca_device_cert_t d;
	ca_csr_t *csr[4];
	size_t ulen, i;
	unsigned n, der_taken = 0, cases = 0;

	for (i = 0; i < 3; i++)
		csr[i] = csr_new(f->ca, kinds[i], 0);
	csr[3] = csr_new(f->ca, "P-256", 1);
	memset(&d, 0, sizeof(d));
	d.serial_number = sn;
	d.org = org;
	d.cn = cn;
	d.san_uri = uri;
	/* Subject strings 1..64 each (the subject SEQUENCE crosses 127/128),
	 * URIs 0..599 and 700..739 (the SAN's IA5String, GeneralNames, OCTET
	 * STRING and extension cross 127/128 and 255/256). */
	for (n = 0; n < 640; n++) {
		fill(sn, 1 + n % 64, n);
		fill(org, 1 + (n * 5) % 64, n + 3);
		fill(cn, 1 + (n * 11) % 64, n + 5);
		ulen = n < 600 ? n : 100 + n;
		memset(uri, 'u', ulen);
		memcpy(uri, "urn:dev:ops:", ulen < 12 ? ulen : 12);
		uri[ulen] = '\0';
		assert_int_equal(RAND_bytes(sb, sizeof(sb)), 1);
		sb[0] = (uint8_t)(1 + n % 127); /* 0x01..0x7f */
		d.csr = csr[n % 4];
		d.not_before = times[n % 7];
		d.not_after = (n % 3) == 0 ? 0 : times[(n / 7) % 7];
		der_taken += (unsigned)same_tbs(f->ca, sb, &d, CA_OK);
		cases++;
	}
	/* Every one of these is for the DER path. */
	assert_int_equal(der_taken, cases);
	for (i = 0; i < 4; i++)
		ca_csr_free(csr[i]);
}

static void ca_device_tbs__other_inputs_take_the_encoder(void **state)
{
	struct fx *f = *state;
	char long65[66];
	uint8_t sb[20];
	ca_device_cert_t d;
	ca_csr_t *csr = csr_new(f->ca, "P-256", 0);

	memset(sb, 0x5a, sizeof(sb));
	spec_init(&d, "SN-1", "acme-abc", "urn:dev:ops:x", csr);
	assert_int_equal(same_tbs(f->ca, sb, &d, CA_OK), 1);
	/* UTF-8 organisation: OpenSSL's UTF8String, not the DER path. */
	d.org = "Acm\xc3\xa9 S\xc3\xa0rl";
	assert_int_equal(same_tbs(f->ca, sb, &d, CA_OK), 0);
	d.org = "Acme";
	/* Before 1950: GeneralizedTime from OpenSSL. */
	d.not_before = -1000000000;
	assert_int_equal(same_tbs(f->ca, sb, &d, CA_OK), 0);
	d.not_before = 1700000000;
	/* Serials needing a padding octet or with a zero first octet. */
	sb[0] = 0x80;
	assert_int_equal(same_tbs(f->ca, sb, &d, CA_OK), 0);
	sb[0] = 0x00;
	assert_int_equal(same_tbs(f->ca, sb, &d, CA_OK), 0);
	sb[0] = 0x5a;
	/* Refusals stay OpenSSL's: 65 characters, a '*' in serialNumber. */
	memset(long65, 'a', 65);
	long65[65] = '\0';
	d.cn = long65;
	assert_int_equal(same_tbs(f->ca, sb, &d, CA_ERR_INVALID), 0);
	d.cn = "acme-abc";
	d.serial_number = "SN*1";
	assert_int_equal(same_tbs(f->ca, sb, &d, CA_ERR_INVALID), 0);
	d.serial_number = "SN-1";
	/* And the template is left usable for the DER path afterwards. */
	assert_int_equal(same_tbs(f->ca, sb, &d, CA_OK), 1);
	ca_csr_free(csr);
}

/* The profile's subject table names the OIDs OpenSSL knows by those NIDs
 * (the fast path writes the arcs, the encoder the NIDs). */
static void ca_profile__subject_arcs_are_the_nids_oids(void **state)
{
	unsigned char der[16];
	int i, n;

	(void)state;
	for (i = 0; i < CA_PROFILE_RDNS; i++) {
		const ASN1_OBJECT *o = OBJ_nid2obj(ca_profile_subject[i].nid);
		unsigned char *p = der;

		assert_non_null(o);
		n = i2d_ASN1_OBJECT(o, &p);
		/* 06 03 55 04 <arc>: 2.5.4.<arc> */
		assert_int_equal(n, 5);
		assert_memory_equal(der, "\x06\x03\x55\x04", 4);
		assert_int_equal(der[4], ca_profile_subject[i].oid_arc);
	}
}

/* Sign a device certificate for csr and parse it back. */
static X509 *signed_cert(const ca_t *ca, const ca_csr_t *csr, int64_t not_after)
{
	ca_device_cert_t d;
	uint8_t *der = NULL;
	const unsigned char *q;
	size_t len = 0;
	char sha[65], serial[41], err[256];
	int64_t nb = 0, na = 0;
	X509 *x;

	spec_init(&d, "SN-7", "acme-0000001", "urn:dev:ops:000000-m-SN%2D7",
	    csr);
	d.not_after = not_after;
	assert_int_equal(ca_device_cert_sign(ca, ca_set_peek(ca), &der, &len,
	                     sha, serial, &nb, &na, &d, err, sizeof(err)),
	    CA_OK);
	assert_int_equal(nb, 1700000000);
	assert_int_equal(na, ca_profile_not_after_unix(not_after));
	q = der;
	x = d2i_X509(NULL, &q, (long)len);
	assert_non_null(x);
	OPENSSL_free(der);
	return x;
}

/* What the profile says is what a signed certificate carries, for each
 * key kind, on the fast path and (RSA subject with UTF-8) the encoder. */
static void ca_profile__signed_certificate_follows_the_profile(void **state)
{
	static const int order[] = { NID_subject_key_identifier,
		NID_subject_alt_name, NID_basic_constraints, NID_key_usage,
		NID_ext_key_usage, NID_authority_key_identifier,
		NID_crl_distribution_points, NID_info_access };
	struct fx *f = *state;
	const char *kinds[CA_PROFILE_KINDS] = { "P-256", "RSA2048" };
	const uint32_t ku[CA_PROFILE_KINDS] = { KU_DIGITAL_SIGNATURE |
		    KU_KEY_AGREEMENT,
		KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT };
	int k, i;

	assert_int_equal((int)(sizeof(order) / sizeof(order[0])),
	    CA_PROFILE_EXT_SAN + 1 + CA_PROFILE_EXTS);
	for (k = 0; k < CA_PROFILE_KINDS; k++) {
		ca_csr_t *csr = csr_new(f->ca, kinds[k], 0);
		X509 *x;
		X509_NAME *n;
		int64_t na = k == 0 ? 0 : 1800000000;

		assert_int_equal(ca_profile_kind(csr), k);
		x = signed_cert(f->ca, csr, na);
		n = X509_get_subject_name(x);
		assert_int_equal(X509_NAME_entry_count(n), CA_PROFILE_RDNS);
		for (i = 0; i < CA_PROFILE_RDNS; i++) {
			X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);

			assert_int_equal(OBJ_obj2nid(
			                     X509_NAME_ENTRY_get_object(e)),
			    ca_profile_subject[i].nid);
			assert_int_equal(ASN1_STRING_type(
			                     X509_NAME_ENTRY_get_data(e)),
			    ca_profile_subject[i].der_tag);
		}
		assert_int_equal(X509_get_ext_count(x),
		    (int)(sizeof(order) / sizeof(order[0])));
		for (i = 0; i < X509_get_ext_count(x); i++)
			assert_int_equal(OBJ_obj2nid(X509_EXTENSION_get_object(
			                     X509_get_ext(x, i))),
			    order[i]);
		assert_int_equal(X509_get_key_usage(x), ku[k]);
		assert_int_equal(pki_cert_has_eku(x, PROVCA_OID_EKU_DEVICE), 1);
		assert_int_equal(ca_asn1_time(X509_get0_notAfter(x)),
		    ca_profile_not_after_unix(na));
		X509_free(x);
		ca_csr_free(csr);
	}
}

/* The validity rule: backdated notBefore; days, or none at 0. */
static void ca_profile__validity_rule(void **state)
{
	int64_t nb = 0, na = 0;

	(void)state;
	ca_profile_validity(&nb, &na, 1700000000, 0);
	assert_int_equal(nb, 1700000000 - CA_PROFILE_BACKDATE_S);
	assert_int_equal(na, 0);
	assert_int_equal(ca_profile_not_after_unix(na),
	    CA_PROFILE_NOT_AFTER_NONE_UNIX);
	ca_profile_validity(&nb, &na, 1700000000, 365);
	assert_int_equal(na, 1700000000 + INT64_C(365) * UTIL_SECONDS_PER_DAY);
	assert_int_equal(ca_profile_not_after_unix(na), na);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    ca_device_tbs__der_matches_encoder_across_lengths, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_tbs__other_inputs_take_the_encoder, setup,
		    teardown),
		cmocka_unit_test(ca_profile__subject_arcs_are_the_nids_oids),
		cmocka_unit_test_setup_teardown(
		    ca_profile__signed_certificate_follows_the_profile, setup,
		    teardown),
		cmocka_unit_test(ca_profile__validity_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
