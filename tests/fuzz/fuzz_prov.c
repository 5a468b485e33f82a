/* fuzz_prov.c — libFuzzer target for the provisioning container and its
 * TLVs. The first input octet picks a mode:
 *   0  the rest is a container: prov_verify against the fuzzer's root alone
 *      (the container carries its intermediates), and prov_open if it
 *      verifies;
 *   1  the rest is an unsigned body: the fuzzer signs it with its own
 *      signer so prov_verify passes and prov_open's decryption and the
 *      subscription decoder see the mutated data (device key fixed, see
 *      testpki_fixed_p256, so seeds from prov-testtool open);
 *   2  the rest is a subscription TLV: decode, and if valid, seal, sign,
 *      verify, open and require the same fields back;
 *   3  the rest is a request TLV: decode, and if valid, re-encode and
 *      require the same bytes; the same bytes as a concealed request
 *      (header and lengths parsed), and sealed with the fuzzer's onboarding
 *      key as a concealed request's padded plaintext (length, padding and
 *      inner version checks see the mutated data).
 * Keys and certificates are made once at start-up. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki.h"
#include "prov.h"
#include "suci.h"

/* The test PKI is test code shared with tests/prov; the fuzz build compiles
 * only the common library sources besides this file, so it is included here. */
#include "../prov/testpki.c"

static testpki_t P;
static EVP_PKEY *dev;
static EVP_PKEY *ob; /* onboarding key (Profile A) */
static uint8_t ob_pub[32];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	size_t n = 0;

	if (testpki_init(&P, 0) != 0 || (dev = testpki_fixed_p256()) == NULL ||
	    (ob = EVP_PKEY_Q_keygen(NULL, NULL, "X25519")) == NULL ||
	    suci_hn_pub_get(ob_pub, sizeof(ob_pub), &n, ob, NULL, 0) != SUCI_OK)
		abort();
	return 0;
}

/* Verify with the fuzzer's trust anchor, open with the fixed device key
 * and the container's own binding. */
static void verify_open(const uint8_t *c, size_t n)
{
	prov_view_t v;
	prov_subscription_t s;
	uint8_t net[PROV_NONCE_LEN];
	char err[256];

	if (prov_verify(&v, c, n, P.root, NULL, TESTPKI_NOW, err,
	        sizeof(err)) != PROV_OK)
		return;
	if (!v.verified || v.container != c || v.container_len != n ||
	    v.chain_count < 1 || v.chain_count > PROV_CHAIN_MAX ||
	    v.signed_len + v.signature_len != n)
		abort();
	if (prov_open(&s, net, &v, dev, v.binding.device_id, v.binding.ue_nonce,
	        err, sizeof(err)) == PROV_OK) {
		if (memcmp(net, v.binding.net_nonce, PROV_NONCE_LEN) != 0)
			abort();
		prov_subscription_wipe(&s);
	}
}

static void mode_body(const uint8_t *body, size_t n)
{
	uint8_t c[PROV_CONTAINER_MAX];
	size_t len = 0;
	char err[256];

	if (prov_sign(c, sizeof(c), &len, body, n, P.signer_key, P.signer,
	        P.inters, err, sizeof(err)) != PROV_OK)
		return;
	verify_open(c, len);
}

static void mode_subscription(const uint8_t *b, size_t n)
{
	prov_subscription_t s, back;
	prov_binding_t bind;
	uint8_t c[PROV_CONTAINER_MAX], net[PROV_NONCE_LEN];
	size_t len = 0;
	char err[256];

	if (prov_subscription_decode(&s, b, n, err, sizeof(err)) != PROV_OK)
		return;
	memset(&bind, 0, sizeof(bind));
	strcpy(bind.device_id, "fuzz-dev");
	memset(bind.ue_nonce, 0x11, PROV_NONCE_LEN);
	memset(bind.net_nonce, 0x22, PROV_NONCE_LEN);
	if (prov_seal_sign(c, sizeof(c), &len, &s, &bind, dev, P.signer_key,
	        P.signer, P.inters, err, sizeof(err)) != PROV_OK)
		abort(); /* anything that decodes must re-encode */
	if (prov_verify_open(&back, net, c, len, P.root, NULL, TESTPKI_NOW, dev,
	        "fuzz-dev", bind.ue_nonce, err, sizeof(err)) != PROV_OK)
		abort();
	if (strcmp(s.supi, back.supi) != 0 ||
	    memcmp(s.ki, back.ki, PROV_KEY_LEN) != 0 ||
	    memcmp(s.opc, back.opc, PROV_KEY_LEN) != 0 ||
	    memcmp(s.sqn, back.sqn, PROV_SQN_LEN) != 0 ||
	    s.nssai_count != back.nssai_count || strcmp(s.dnn, back.dnn) != 0 ||
	    s.issued_at != back.issued_at ||
	    memcmp(net, bind.net_nonce, PROV_NONCE_LEN) != 0)
		abort();
	prov_subscription_wipe(&s);
	prov_subscription_wipe(&back);
}

/* b as a concealed request, then b sealed as one's padded plaintext: an
 * opened request is a version-2 request of the length its prefix says. */
static void mode_concealed(const uint8_t *b, size_t n)
{
	uint8_t c[3 + SUCI_PUB_B_LEN + SUCI_ECIES_IN_MAX + SUCI_TAG_LEN];
	uint8_t out[PROV_REQUEST_MAX];
	size_t len = 0, solen = 0;

	if (prov_request_deconceal(out, sizeof(out), &len, b, n, ob, NULL, 0) ==
	        PROV_OK &&
	    (len == 0 || out[0] != 0x02))
		abort();
	if (n == 0 || n > SUCI_ECIES_IN_MAX)
		return;
	c[0] = 0x03;
	c[1] = SUCI_SCHEME_PROFILE_A;
	c[2] = 0;
	if (suci_ecies_seal(c + 3, sizeof(c) - 3, &solen, SUCI_SCHEME_PROFILE_A,
	        ob_pub, sizeof(ob_pub), b, n, NULL, NULL, 0) != SUCI_OK)
		abort();
	if (prov_request_deconceal(out, sizeof(out), &len, c, 3 + solen, ob,
	        NULL, 0) != PROV_OK)
		return;
	if (n < 2 || len != (((size_t)b[0] << 8) | b[1]) || len + 2 > n ||
	    n % PROV_CONCEAL_PAD != 0 || memcmp(out, b + 2, len) != 0 ||
	    out[0] != 0x02)
		abort();
}

static void mode_request(const uint8_t *b, size_t n)
{
	prov_request_t r;
	uint8_t out[PROV_REQUEST_MAX];
	size_t len = 0;
	char err[256];

	mode_concealed(b, n);
	if (prov_request_decode(&r, b, n, err, sizeof(err)) != PROV_OK)
		return;
	if (prov_request_encode(out, sizeof(out), &len, &r, err, sizeof(err)) !=
	        PROV_OK ||
	    len != n || memcmp(out, b, n) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size < 1 || size > PROV_CONTAINER_MAX + 2)
		return 0;
	/* An exact-size heap copy so any over-read is caught by ASan. */
	if ((copy = malloc(size - 1 + 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	switch (data[0] & 3) {
	case 0: verify_open(copy, size - 1); break;
	case 1: mode_body(copy, size - 1); break;
	case 2: mode_subscription(copy, size - 1); break;
	default: mode_request(copy, size - 1); break;
	}
	free(copy);
	return 0;
}
