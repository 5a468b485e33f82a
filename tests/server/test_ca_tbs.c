/* test_ca_tbs.c — a device certificate's TBS built from the template's DER
 * pieces is byte for byte what OpenSSL's encoder writes for the same
 * fields: subject and URI lengths across the 127/128 and 255/256 length
 * encodings, UTCTime and GeneralizedTime, P-256, P-384, RSA and
 * compressed-point keys, serials with every leading octet; inputs outside
 * the DER path (non-ASCII, over-long, non-PrintableString serial numbers,
 * times before 1950, serials needing a padding octet) take the encoder and
 * keep its refusals. */
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

#include "ca_priv.h"

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
		    "point-format", "compressed"), 1);
	assert_int_equal(X509_REQ_set_pubkey(r, k), 1);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	assert_true((len = i2d_X509_REQ(r, &der)) > 0);
	assert_int_equal(ca_csr_read(&csr, &why, ca, der, (size_t)len,
	    CA_CSR_PEM_OR_DER, err, sizeof(err)), CA_OK);
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

/* Build both ways; same result code, same bytes. Returns took_der. */
static int same_tbs(const ca_t *ca, const uint8_t sb[20],
    const ca_device_cert_t *d, int want_rc)
{
	unsigned char *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	int took = -1, took0 = -1;

	assert_int_equal(ca_device_tbs_build(ca, &a, &alen, 1, &took, sb, d),
	    want_rc);
	assert_int_equal(ca_device_tbs_build(ca, &b, &blen, 0, &took0, sb, d),
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
	static const int64_t times[] = { 1700000000, 0, 631152000,
	    2524607999, 2524608000, 4102444800, 253402300799 };
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
		sb[0] = (uint8_t)(1 + n % 127);		/* 0x01..0x7f */
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
	memset(&d, 0, sizeof(d));
	d.serial_number = "SN-1";
	d.org = "Acme";
	d.cn = "acme-abc";
	d.san_uri = "urn:dev:ops:x";
	d.not_before = 1700000000;
	d.csr = csr;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    ca_device_tbs__der_matches_encoder_across_lengths, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_tbs__other_inputs_take_the_encoder, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
