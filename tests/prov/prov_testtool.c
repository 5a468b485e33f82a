/* prov_testtool.c — test-only CLI around the container library, for the
 * Python cross-check and the fuzz seed corpus:
 *   prov-testtool gen DIR      write a test PKI (PEM), device keys and one
 *                              container per key type (c-<alg>.bin)
 *   prov-testtool open DIR CONTAINER KEY DEVICEID UENONCEHEX
 *                              verify against DIR/root.pem alone (the
 *                              container carries the intermediates) at
 *                              TESTPKI_NOW, open, print the fields
 *   prov-testtool corpus DIR   write fuzz_prov seeds
 * The fixed binding and subscription below are also hard-coded in
 * test_crosscheck.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "pki.h"
#include "prov.h"
#include "testpki.h"
#include "util.h"

#define DEVICE_ID "xcheck-dev-01"
#define UE_NONCE_HEX "000102030405060708090a0b0c0d0e0f"
#define NET_NONCE_HEX "f0e1d2c3b4a5968778695a4b3c2d1e0f"

static void fill_sub(prov_subscription_t *s)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->supi, "imsi-001010000000042");
	util_hex_decode(s->ki, 16, "465b5ce8b199b49faa5f0a2ee238a6bc");
	util_hex_decode(s->opc, 16, "cd63cb71954a9f4e48a5994e37a02baf");
	util_hex_decode(s->amf, 2, "b9b9");
	util_hex_decode(s->sqn, 6, "ff9bb4d0b607");
	strcpy(s->mcc, "001");
	strcpy(s->mnc, "01");
	s->nssai_count = 2;
	s->nssai[0].sst = 1;
	s->nssai[1].sst = 3;
	s->nssai[1].has_sd = 1;
	s->nssai[1].sd = 0x123456;
	strcpy(s->dnn, "iot.example");
	s->issued_at = 1750000000;
}

static void fill_bind(prov_binding_t *b)
{
	memset(b, 0, sizeof(*b));
	strcpy(b->device_id, DEVICE_ID);
	util_hex_decode(b->ue_nonce, 16, UE_NONCE_HEX);
	util_hex_decode(b->net_nonce, 16, NET_NONCE_HEX);
}

static int write_bytes(const char *dir, const char *name, const void *b,
    size_t n)
{
	char path[1024];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	ok = fwrite(b, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *k)
{
	char path[1024];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	ok = x != NULL ? PEM_write_X509(f, x) :
	                 PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int cmd_gen(const char *dir)
{
	testpki_t p;
	prov_subscription_t s;
	prov_binding_t b;
	uint8_t c[PROV_CONTAINER_MAX];
	size_t n;
	char err[256];
	struct {
		const char *name;
		EVP_PKEY *key;
		const char *file;
	} d[4];
	EVP_PKEY *p384 = NULL;
	int i, rc = 1;

	if (testpki_init(&p, 1) != 0) {
		fprintf(stderr, "test PKI failed\n");
		return 1;
	}
	if ((p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384")) == NULL) {
		fprintf(stderr, "P-384 key generation failed\n");
		testpki_free(&p);
		return 1;
	}
	d[0].name = "c-p256.bin";
	d[0].key = p.dev_p256;
	d[0].file = "dev-p256.key";
	d[1].name = "c-rsa2048.bin";
	d[1].key = p.dev_rsa2048;
	d[1].file = "dev-rsa2048.key";
	d[2].name = "c-rsa3072.bin";
	d[2].key = p.dev_rsa3072;
	d[2].file = "dev-rsa3072.key";
	d[3].name = "c-p384.bin";
	d[3].key = p384;
	d[3].file = "dev-p384.key";
	if (write_pem(dir, "root.pem", p.root, NULL) != 0 ||
	    write_pem(dir, "inter.pem", p.inter, NULL) != 0 ||
	    write_pem(dir, "signer.pem", p.signer, NULL) != 0 ||
	    write_pem(dir, "signer.key", NULL, p.signer_key) != 0) {
		fprintf(stderr, "cannot write to %s\n", dir);
		goto done;
	}
	fill_sub(&s);
	fill_bind(&b);
	for (i = 0; i < 4; i++) {
		if (prov_seal_sign(c, sizeof(c), &n, &s, &b, d[i].key,
		        p.signer_key, p.signer, p.inters, err,
		        sizeof(err)) != PROV_OK) {
			fprintf(stderr, "%s: %s\n", d[i].name, err);
			goto done;
		}
		if (write_bytes(dir, d[i].name, c, n) != 0 ||
		    write_pem(dir, d[i].file, NULL, d[i].key) != 0) {
			fprintf(stderr, "cannot write to %s\n", dir);
			goto done;
		}
	}
	rc = 0;
done:
	prov_subscription_wipe(&s);
	EVP_PKEY_free(p384);
	testpki_free(&p);
	return rc;
}

static int cmd_open(const char *dir, const char *cpath, const char *kpath,
    const char *devid, const char *nonce_hex)
{
	X509 *root = NULL;
	EVP_PKEY *key = NULL;
	prov_subscription_t s;
	uint8_t c[PROV_CONTAINER_MAX + 1], nonce[16], net[16];
	char path[1024], err[256] = "", hex[80];
	size_t n, i;
	FILE *f;
	int rc;

	memset(&s, 0, sizeof(s));
	snprintf(path, sizeof(path), "%s/root.pem", dir);
	if (pki_cert_load_file(&root, path, err, sizeof(err)) != PKI_OK)
		goto fail;
	if (pki_key_load_file(&key, kpath, err, sizeof(err)) != PKI_OK)
		goto fail;
	if (util_hex_decode(nonce, 16, nonce_hex) != 0) {
		snprintf(err, sizeof(err), "bad nonce hex");
		goto fail;
	}
	if ((f = fopen(cpath, "rb")) == NULL) {
		snprintf(err, sizeof(err), "cannot open %s", cpath);
		goto fail;
	}
	n = fread(c, 1, sizeof(c), f);
	fclose(f);
	rc = prov_verify_open(&s, net, c, n, root, NULL, TESTPKI_NOW, key,
	    devid, nonce, err, sizeof(err));
	if (rc != PROV_OK) {
		printf("error=%d %s: %s\n", rc, prov_strerror(rc), err);
		goto fail_quiet;
	}
	printf("supi=%s\n", s.supi);
	util_hex_encode(hex, s.ki, 16);
	printf("ki=%s\n", hex);
	util_hex_encode(hex, s.opc, 16);
	printf("opc=%s\n", hex);
	util_hex_encode(hex, s.amf, 2);
	printf("amf=%s\n", hex);
	util_hex_encode(hex, s.sqn, 6);
	printf("sqn=%s\n", hex);
	printf("mcc=%s\nmnc=%s\n", s.mcc, s.mnc);
	for (i = 0; i < s.nssai_count; i++) {
		if (s.nssai[i].has_sd)
			printf("snssai=%u-%06x\n", s.nssai[i].sst,
			    (unsigned)s.nssai[i].sd);
		else
			printf("snssai=%u\n", s.nssai[i].sst);
	}
	printf("dnn=%s\nissued_at=%lld\n", s.dnn, (long long)s.issued_at);
	util_hex_encode(hex, net, 16);
	printf("net_nonce=%s\n", hex);
	prov_subscription_wipe(&s);
	X509_free(root);
	EVP_PKEY_free(key);
	return 0;
fail:
	printf("error=setup %s\n", err);
fail_quiet:
	prov_subscription_wipe(&s);
	X509_free(root);
	EVP_PKEY_free(key);
	return 1;
}

/* Seeds for tests/fuzz/fuzz_prov.c: first octet selects the mode (0 full
 * container, 1 unsigned body sealed to testpki_fixed_p256(), 2 subscription
 * TLV, 3 request TLV). */
static int cmd_corpus(const char *dir)
{
	testpki_t p;
	EVP_PKEY *fixed = NULL;
	prov_subscription_t s;
	prov_binding_t b;
	prov_request_t r;
	uint8_t buf[PROV_CONTAINER_MAX + 1];
	size_t n;
	char err[256];
	int rc = 1;

	if (testpki_init(&p, 1) != 0 || (fixed = testpki_fixed_p256()) == NULL)
		goto done;
	fill_sub(&s);
	fill_bind(&b);
	buf[0] = 0;
	if (prov_seal_sign(buf + 1, PROV_CONTAINER_MAX, &n, &s, &b, fixed,
	        p.signer_key, p.signer, p.inters, err,
	        sizeof(err)) != PROV_OK ||
	    write_bytes(dir, "container-p256", buf, n + 1) != 0)
		goto done;
	if (prov_seal_sign(buf + 1, PROV_CONTAINER_MAX, &n, &s, &b,
	        p.dev_rsa2048, p.signer_key, p.signer, p.inters, err,
	        sizeof(err)) != PROV_OK ||
	    write_bytes(dir, "container-rsa2048", buf, n + 1) != 0)
		goto done;
	buf[0] = 1;
	if (prov_seal(buf + 1, PROV_CONTAINER_MAX, &n, &s, &b, fixed, err,
	        sizeof(err)) != PROV_OK ||
	    write_bytes(dir, "body-p256", buf, n + 1) != 0)
		goto done;
	buf[0] = 2;
	if (prov_subscription_encode(buf + 1, PROV_CONTAINER_MAX, &n, &s, err,
	        sizeof(err)) != PROV_OK ||
	    write_bytes(dir, "subscription", buf, n + 1) != 0)
		goto done;
	memset(&r, 0, sizeof(r));
	strcpy(r.url, "https://ca.example:8443/devices/" DEVICE_ID);
	memcpy(r.ue_nonce, b.ue_nonce, 16);
	strcpy(r.snn, "5G:mnc001.mcc001.3gppnetwork.org");
	r.counter = 42;
	buf[0] = 3;
	if (prov_request_sign(&r, fixed, err, sizeof(err)) != PROV_OK ||
	    prov_request_encode(buf + 1, PROV_CONTAINER_MAX, &n, &r, err,
	        sizeof(err)) != PROV_OK ||
	    write_bytes(dir, "request", buf, n + 1) != 0)
		goto done;
	rc = 0;
done:
	if (rc != 0)
		fprintf(stderr, "corpus: failed %s\n", err);
	OPENSSL_cleanse(buf, sizeof(buf));
	prov_subscription_wipe(&s);
	EVP_PKEY_free(fixed);
	testpki_free(&p);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "gen") == 0)
		return cmd_gen(argv[2]);
	if (argc == 7 && strcmp(argv[1], "open") == 0)
		return cmd_open(argv[2], argv[3], argv[4], argv[5], argv[6]);
	if (argc == 3 && strcmp(argv[1], "corpus") == 0)
		return cmd_corpus(argv[2]);
	fprintf(stderr,
	    "usage: prov-testtool gen DIR | open DIR CONTAINER "
	    "KEY DEVICEID UENONCEHEX | corpus DIR\n");
	return 2;
}
