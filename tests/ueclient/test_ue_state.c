/* test_ue_state.c — ueclient's state folder, keys and CSR, policy,
 * credentials storage and swarm percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ue.h"
#include "ue_swarm.h"
#include "ue_transport.h"

static char tmproot[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmproot, sizeof(tmproot), "/tmp/ue_state_test.XXXXXX");
	return mkdtemp(tmproot) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmproot);
	return system(cmd) == 0 ? 0 : -1;
}

static void identity(ue_device_t *d, const char *serial, ue_key_type kt)
{
	memset(d, 0, sizeof(*d));
	strcpy(d->manufacturer_id, "acme");
	strcpy(d->model, "sensor-1");
	strcpy(d->hardware_version, "1.0");
	snprintf(d->serial, sizeof(d->serial), "%s", serial);
	d->key_type = kt;
}

static mode_t file_mode(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) != 0)
		return (mode_t)-1;
	return st.st_mode & 07777;
}

static void ue_state__id_validation(void **state)
{
	char longid[80];

	(void)state;
	assert_true(ue_id_valid("dev-01.A_b"));
	assert_false(ue_id_valid(""));
	assert_false(ue_id_valid("a/b"));
	assert_false(ue_id_valid("a b"));
	assert_false(ue_id_valid(NULL));
	memset(longid, 'a', 65);
	longid[65] = '\0';
	assert_false(ue_id_valid(longid));
	longid[64] = '\0';
	assert_true(ue_id_valid(longid));
}

static void ue_state__key_type_parse(void **state)
{
	ue_key_type t;

	(void)state;
	assert_int_equal(ue_key_type_parse(&t, "rsa3072"), 0);
	assert_int_equal(t, UE_KEY_RSA3072);
	assert_int_equal(ue_key_type_parse(&t, "p256"), 0);
	assert_int_equal(t, UE_KEY_P256);
	assert_int_equal(ue_key_type_parse(&t, "rsa1024"), UE_ERR_ARG);
	assert_string_equal(ue_key_type_name(UE_KEY_RSA2048), "rsa2048");
}

static void ue_state__atomic_write_sets_mode_and_replaces(void **state)
{
	char path[512], *text = NULL, err[256];
	size_t len = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/f.txt", tmproot);
	assert_int_equal(ue_file_write_atomic(path, "one", 3, 0600, err,
	                     sizeof(err)),
	    0);
	assert_int_equal(file_mode(tmproot, "f.txt"), 0600);
	assert_int_equal(ue_file_write_atomic(path, "second", 6, 0644, err,
	                     sizeof(err)),
	    0);
	assert_int_equal(file_mode(tmproot, "f.txt"), 0644);
	assert_int_equal(ue_file_read(&text, &len, path, 100, err, sizeof(err)),
	    0);
	assert_int_equal(len, 6);
	assert_string_equal(text, "second");
	free(text);
	/* the read bound is enforced */
	assert_int_equal(ue_file_read(&text, &len, path, 5, err, sizeof(err)),
	    UE_ERR_ARG);
	assert_null(text);
	assert_non_null(strstr(err, "larger than 5"));
	/* a folder that does not exist: error, no stray file */
	snprintf(path, sizeof(path), "%s/missing/f.txt", tmproot);
	assert_int_equal(ue_file_write_atomic(path, "x", 1, 0600, err,
	                     sizeof(err)),
	    UE_ERR_IO);
}

static void ue_keys__init_p256_writes_key_0600_and_csr(void **state)
{
	char dir[512], path[600], err[256];
	ue_device_t d, loaded;
	X509_REQ *req;
	EVP_PKEY *pub, *priv = NULL;
	FILE *f;
	char cn[80], sn[80];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/a/b/dev1", tmproot);
	identity(&d, "SN-0001", UE_KEY_P256);
	assert_int_equal(ue_init(dir, &d, err, sizeof(err)), 0);
	assert_int_equal(file_mode(dir, UE_F_KEY), 0600);
	assert_int_equal(file_mode(dir, ""), 0700);

	snprintf(path, sizeof(path), "%s/%s", dir, UE_F_CSR);
	f = fopen(path, "r");
	assert_non_null(f);
	req = PEM_read_X509_REQ(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(req);
	pub = X509_REQ_get0_pubkey(req);
	assert_int_equal(X509_REQ_verify(req, pub), 1);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	assert_true(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req),
	                NID_serialNumber, sn, sizeof(sn)) > 0);
	assert_string_equal(sn, "SN-0001");
	assert_true(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req),
	                NID_organizationName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "acme");
	assert_int_equal(ue_key_load((void **)&priv, dir, err, sizeof(err)), 0);
	assert_int_equal(EVP_PKEY_eq(priv, pub), 1);
	EVP_PKEY_free(priv);
	X509_REQ_free(req);

	assert_int_equal(ue_device_load(&loaded, dir, err, sizeof(err)), 0);
	assert_string_equal(loaded.serial, "SN-0001");
	assert_string_equal(loaded.hardware_version, "1.0");
	assert_int_equal(loaded.key_type, UE_KEY_P256);
	assert_string_equal(loaded.device_id, "");
}

static void ue_keys__init_never_replaces_a_key(void **state)
{
	char dir[512], path[600], err[256], *before = NULL, *after = NULL;
	ue_device_t d;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/dev2", tmproot);
	identity(&d, "SN-2", UE_KEY_P256);
	assert_int_equal(ue_init(dir, &d, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, UE_F_KEY);
	assert_int_equal(ue_file_read(&before, NULL, path, 65536, err,
	                     sizeof(err)),
	    0);
	assert_int_equal(ue_init(dir, &d, err, sizeof(err)), UE_ERR_EXISTS);
	assert_non_null(strstr(err, "already exists"));
	assert_int_equal(ue_file_read(&after, NULL, path, 65536, err,
	                     sizeof(err)),
	    0);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* ue_key_load_pub gives the P-256 key's point as OpenSSL encodes it,
 * and nothing for a key the fast reader does not take. */
static void ue_keys__load_pub_gives_the_keys_point(void **state)
{
	char dir[512], err[256];
	uint8_t enc[65], want[65];
	size_t len = 0;
	ue_device_t d;
	EVP_PKEY *k = NULL;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/pubenc", tmproot);
	identity(&d, "SN-PUB", UE_KEY_P256);
	assert_int_equal(ue_init(dir, &d, err, sizeof(err)), 0);
	memset(enc, 0xee, sizeof(enc));
	assert_int_equal(ue_key_load_pub((void **)&k, enc, dir, err,
	                     sizeof(err)),
	    0);
	assert_int_equal(EVP_PKEY_get_octet_string_param(k, "encoded-pub-key",
	                     want, sizeof(want), &len),
	    1);
	assert_int_equal(len, 65);
	assert_memory_equal(enc, want, 65);
	EVP_PKEY_free(k);
	k = NULL;
	snprintf(dir, sizeof(dir), "%s/pubenc-rsa", tmproot);
	identity(&d, "SN-PUB-RSA", UE_KEY_RSA2048);
	assert_int_equal(ue_init(dir, &d, err, sizeof(err)), 0);
	memset(enc, 0xee, sizeof(enc));
	assert_int_equal(ue_key_load_pub((void **)&k, enc, dir, err,
	                     sizeof(err)),
	    0);
	assert_int_equal(enc[0], 0);
	assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
	EVP_PKEY_free(k);
}

static void ue_keys__init_rsa2048(void **state)
{
	char dir[512], err[256];
	ue_device_t d;
	EVP_PKEY *k = NULL;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/rsa", tmproot);
	identity(&d, "SN-RSA", UE_KEY_RSA2048);
	assert_int_equal(ue_init(dir, &d, err, sizeof(err)), 0);
	assert_int_equal(ue_key_load((void **)&k, dir, err, sizeof(err)), 0);
	assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	EVP_PKEY_free(k);
}

/* The device reads its own key with a size cap: a key file grown past
 * PKI_FILE_MAX is refused, not read whole (its key would still parse). */
static void ue_keys__load_refuses_oversized_key_file(void **state)
{
	char dir[512], path[600], err[256], pad[4096];
	ue_device_t d;
	EVP_PKEY *k = NULL;
	FILE *f;
	size_t i;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/big", tmproot);
	identity(&d, "SN-BIG", UE_KEY_P256);
	assert_int_equal(ue_init(dir, &d, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, UE_F_KEY);
	f = fopen(path, "a");
	assert_non_null(f);
	memset(pad, '\n', sizeof(pad));
	for (i = 0; i < 300 * 1024 / sizeof(pad); i++)
		assert_int_equal(fwrite(pad, 1, sizeof(pad), f), sizeof(pad));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(ue_key_load((void **)&k, dir, err, sizeof(err)),
	    UE_ERR_STATE);
	assert_null(k);
	assert_non_null(strstr(err, "larger than"));
}

/* key as PEM text (PKCS#8 unless traditional) into a heap string. */
static char *key_pem(EVP_PKEY *k, int traditional, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *bm = NULL;
	char *s;

	assert_non_null(b);
	if (traditional)
		assert_int_equal(PEM_write_bio_PrivateKey_traditional(b, k,
		                     NULL, NULL, 0, NULL, NULL),
		    1);
	else
		assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0,
		                     NULL, NULL),
		    1);
	BIO_get_mem_ptr(b, &bm);
	s = malloc(bm->length + 1);
	assert_non_null(s);
	memcpy(s, bm->data, bm->length);
	s[bm->length] = '\0';
	*len = bm->length;
	BIO_free(b);
	return s;
}

/* The shared secret of a and b's public key (32 bytes for P-256). */
static void ecdh(uint8_t out[32], EVP_PKEY *a, EVP_PKEY *b)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(a, NULL);
	size_t n = 32;

	assert_non_null(c);
	assert_int_equal(EVP_PKEY_derive_init(c), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(c, b), 1);
	assert_int_equal(EVP_PKEY_derive(c, out, &n), 1);
	assert_int_equal(n, 32);
	EVP_PKEY_CTX_free(c);
}

/* The fast P-256 reader gives the key OpenSSL's reader gives: same
 * private scalar, same public point, same ECDH secret. */
static void ue_keys__p256_fast_reader_matches_openssl(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		EVP_PKEY *g = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		EVP_PKEY *fast = NULL, *ref = NULL;
		BIGNUM *d1 = NULL, *d2 = NULL;
		uint8_t z1[32], z2[32];
		size_t len;
		char *pem;
		BIO *b;

		assert_non_null(g);
		assert_non_null(peer);
		pem = key_pem(g, 0, &len);
		assert_non_null(strstr(pem, "BEGIN PRIVATE KEY"));
		assert_int_equal(ue_key_p256_fast((void **)&fast,
		                     (const uint8_t *)pem, len),
		    UE_OK);
		b = BIO_new_mem_buf(pem, (int)len);
		ref = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
		assert_non_null(ref);
		assert_int_equal(EVP_PKEY_eq(fast, ref), 1);
		assert_int_equal(EVP_PKEY_get_bn_param(fast, "priv", &d1), 1);
		assert_int_equal(EVP_PKEY_get_bn_param(ref, "priv", &d2), 1);
		assert_int_equal(BN_cmp(d1, d2), 0);
		ecdh(z1, fast, peer);
		ecdh(z2, peer, ref);
		assert_memory_equal(z1, z2, 32);
		assert_int_equal(EVP_PKEY_get_bits(fast), 256);
		BN_clear_free(d1);
		BN_clear_free(d2);
		EVP_PKEY_free(fast);
		EVP_PKEY_free(ref);
		EVP_PKEY_free(peer);
		EVP_PKEY_free(g);
		OPENSSL_cleanse(pem, len);
		free(pem);
	}
}

/* Everything else is left to OpenSSL's reader, and ue_key_load still
 * loads it: SEC1 ("EC PRIVATE KEY"), PKCS#8 without the public point,
 * P-384, RSA; damaged text loads nowhere. */
static void ue_keys__p256_fast_reader_declines_others(void **state)
{
	EVP_PKEY *keys[4], *k;
	const char *names[4] = { "sec1", "nopub", "p384", "rsa" };
	char dir[512], path[600], err[256], *pem;
	size_t len;
	int i;
	FILE *f;

	(void)state;
	keys[0] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	keys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	keys[2] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	keys[3] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	for (i = 0; i < 4; i++)
		assert_non_null(keys[i]);
	assert_int_equal(EVP_PKEY_set_int_param(keys[1], "include-public", 0),
	    1);
	for (i = 0; i < 4; i++) {
		pem = key_pem(keys[i], i == 0, &len);
		k = NULL;
		assert_int_equal(ue_key_p256_fast((void **)&k,
		                     (const uint8_t *)pem, len),
		    UE_ERR_ARG);
		assert_null(k);
		snprintf(dir, sizeof(dir), "%s/decl-%s", tmproot, names[i]);
		assert_int_equal(mkdir(dir, 0700), 0);
		snprintf(path, sizeof(path), "%s/%s", dir, UE_F_KEY);
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(pem, 1, len, f), len);
		assert_int_equal(fclose(f), 0);
		assert_int_equal(ue_key_load((void **)&k, dir, err,
		                     sizeof(err)),
		    0);
		assert_int_equal(EVP_PKEY_eq(k, keys[i]), 1);
		EVP_PKEY_free(k);
		/* Cut in the middle of the base64: refused by both. */
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(pem, 1, len / 2, f), len / 2);
		assert_int_equal(fclose(f), 0);
		k = NULL;
		assert_int_equal(ue_key_p256_fast((void **)&k,
		                     (const uint8_t *)pem, len / 2),
		    UE_ERR_ARG);
		assert_int_equal(ue_key_load((void **)&k, dir, err,
		                     sizeof(err)),
		    UE_ERR_CRYPTO);
		assert_null(k);
		free(pem);
		EVP_PKEY_free(keys[i]);
	}
}

static void ue_keys__init_refuses_bad_identity(void **state)
{
	char dir[512], err[256];
	ue_device_t d;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/bad", tmproot);
	identity(&d, "SN 1", UE_KEY_P256);
	assert_int_equal(ue_init(dir, &d, err, sizeof(err)), UE_ERR_ARG);
	assert_int_equal(access(dir, F_OK), -1); /* nothing created */
}

static void ue_state__device_load_errors(void **state)
{
	char dir[512], path[600], err[256];
	ue_device_t d;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/devj", tmproot);
	assert_int_equal(ue_device_load(&d, dir, err, sizeof(err)),
	    UE_ERR_STATE);
	assert_non_null(strstr(err, "not initialised"));
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, UE_F_DEVICE);
	assert_int_equal(ue_file_write_atomic(path, "[1]", 3, 0644, err,
	                     sizeof(err)),
	    0);
	assert_int_equal(ue_device_load(&d, dir, err, sizeof(err)), UE_ERR_ARG);
	assert_non_null(strstr(err, "not a JSON object"));
	const char *bad_kt = "{\"manufacturer_id\":\"a\",\"serial\":\"s\","
	                     "\"model\":\"m\",\"key_type\":\"dsa\"}";
	assert_int_equal(ue_file_write_atomic(path, bad_kt, strlen(bad_kt),
	                     0644, err, sizeof(err)),
	    0);
	assert_int_equal(ue_device_load(&d, dir, err, sizeof(err)), UE_ERR_ARG);
	assert_non_null(strstr(err, "unknown key_type"));
	const char *bad_id =
	    "{\"manufacturer_id\":\"a\",\"serial\":\"s\","
	    "\"model\":\"m\",\"key_type\":\"p256\",\"device_id\":\"../x\"}";
	assert_int_equal(ue_file_write_atomic(path, bad_id, strlen(bad_id),
	                     0644, err, sizeof(err)),
	    0);
	assert_int_equal(ue_device_load(&d, dir, err, sizeof(err)), UE_ERR_ARG);
	assert_non_null(strstr(err, "invalid device_id"));
	const char *missing = "{\"manufacturer_id\":\"a\",\"model\":\"m\"}";
	assert_int_equal(ue_file_write_atomic(path, missing, strlen(missing),
	                     0644, err, sizeof(err)),
	    0);
	assert_int_equal(ue_device_load(&d, dir, err, sizeof(err)), UE_ERR_ARG);
	assert_non_null(strstr(err, "missing \"serial\""));
}

static void ue_policy__parse_cores_and_timers(void **state)
{
	ue_policy_t p;
	char err[256];

	(void)state;
	ue_policy_init(&p);
	assert_int_equal(p.retransmits, 3);
	assert_int_equal(
	    ue_policy_parse(&p,
	        "{\"cores\":[{\"plmn\":\"00101\","
	        "\"address\":\"127.0.0.1:4997\"},{\"address\":\"localhost:5000\"}],"
	        "\"timeout_ms\":250,\"retransmits\":2,\"max_timeout_ms\":800}",
	        err, sizeof(err)),
	    0);
	assert_int_equal(p.ncores, 2);
	assert_string_equal(p.cores[0].plmn, "00101");
	assert_string_equal(p.cores[0].address, "127.0.0.1:4997");
	assert_string_equal(p.cores[1].plmn, "");
	assert_int_equal(p.timeout_ms, 250);
	assert_int_equal(p.retransmits, 2);
	assert_int_equal(p.attempt_ms, 10000);
	assert_int_equal(p.max_timeout_ms, 800);
}

/* The retransmission schedule: fixed unless a larger maximum is given,
 * then doubling per send up to it. */
static void ue_transport__retransmit_wait_doubles_to_the_cap(void **state)
{
	static const unsigned swarm[] = { 150, 300, 600, 1200, 1200, 1200 };
	unsigned n;

	(void)state;
	for (n = 1; n <= 6; n++) {
		assert_int_equal(ue_retx_wait_ms(UE_SWARM_TIMEOUT_MS,
		                     UE_SWARM_MAX_TIMEOUT_MS, n),
		    swarm[n - 1]);
		/* A real device's default: 1 s every time. */
		assert_int_equal(ue_retx_wait_ms(1000, 0, n), 1000);
		assert_int_equal(ue_retx_wait_ms(150, 150, n), 150);
		assert_int_equal(ue_retx_wait_ms(150, 100, n), 150);
	}
	/* The cap need not be a power-of-two multiple. */
	assert_int_equal(ue_retx_wait_ms(100, 250, 1), 100);
	assert_int_equal(ue_retx_wait_ms(100, 250, 2), 200);
	assert_int_equal(ue_retx_wait_ms(100, 250, 3), 250);
	assert_int_equal(ue_retx_wait_ms(100, 250, 40), 250);
	/* No overflow near the top of the range. */
	assert_int_equal(ue_retx_wait_ms(60000, 60000, 10), 60000);
	assert_int_equal(ue_retx_wait_ms(40000, 60000, 3), 60000);
}

static void ue_policy__refuses_bad_input(void **state)
{
	ue_policy_t p;
	char err[256];
	int i;

	(void)state;
	ue_policy_init(&p);
	assert_int_equal(ue_policy_parse(&p, "nope", err, sizeof(err)),
	    UE_ERR_ARG);
	assert_int_equal(ue_policy_parse(&p, "{\"retransmits\":11}", err,
	                     sizeof(err)),
	    UE_ERR_ARG);
	assert_non_null(strstr(err, "retransmits"));
	assert_int_equal(ue_policy_parse(&p, "{\"timeout_ms\":1.5}", err,
	                     sizeof(err)),
	    UE_ERR_ARG);
	assert_int_equal(ue_policy_parse(&p, "{\"max_timeout_ms\":60001}", err,
	                     sizeof(err)),
	    UE_ERR_ARG);
	assert_non_null(strstr(err, "max_timeout_ms"));
	assert_int_equal(ue_policy_parse(&p,
	                     "{\"cores\":[{\"address\":"
	                     "\"127.0.0.1\"}]}",
	                     err, sizeof(err)),
	    UE_ERR_ARG);
	assert_non_null(strstr(err, "HOST:PORT"));
	assert_int_equal(ue_policy_parse(&p,
	                     "{\"cores\":[{\"address\":"
	                     "\"h:70000\"}]}",
	                     err, sizeof(err)),
	    UE_ERR_ARG);
	assert_int_equal(ue_policy_parse(&p,
	                     "{\"cores\":[{\"plmn\":\"0010\","
	                     "\"address\":\"h:1\"}]}",
	                     err, sizeof(err)),
	    UE_ERR_ARG);
	assert_non_null(strstr(err, "PLMN"));
	assert_int_equal(ue_policy_add_core(&p, "00101@h:1", err, sizeof(err)),
	    0);
	assert_string_equal(p.cores[p.ncores - 1].plmn, "00101");
	assert_int_equal(ue_policy_add_core(&p, "12345678@h:1", err,
	                     sizeof(err)),
	    UE_ERR_ARG);
	for (i = (int)p.ncores; i < UE_MAX_CORES; i++)
		assert_int_equal(ue_policy_add_core(&p, "h:1", err,
		                     sizeof(err)),
		    0);
	assert_int_equal(ue_policy_add_core(&p, "h:1", err, sizeof(err)),
	    UE_ERR_ARG);
	assert_non_null(strstr(err, "at most"));
}

static void ue_policy__load_missing_is_defaults(void **state)
{
	ue_policy_t p;
	char err[256];

	(void)state;
	ue_policy_init(&p);
	assert_int_equal(ue_policy_load(&p, tmproot, err, sizeof(err)), 0);
	assert_int_equal(p.ncores, 0);
}

static void sample_creds(ue_creds_t *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->device_id, "dev-42");
	strcpy(c->sub.supi, "imsi-001010000000042");
	memset(c->sub.ki, 0xa5, sizeof(c->sub.ki));
	memset(c->sub.opc, 0x5a, sizeof(c->sub.opc));
	c->sub.amf[0] = 0x80;
	c->sub.sqn[5] = 0x20;
	c->sqn_ms[5] = 0x21;
	strcpy(c->sub.mcc, "001");
	strcpy(c->sub.mnc, "01");
	strcpy(c->sub.dnn, "internet");
	c->sub.nssai_count = 2;
	c->sub.nssai[0].sst = 1;
	c->sub.nssai[1].sst = 2;
	c->sub.nssai[1].has_sd = 1;
	c->sub.nssai[1].sd = 0x010203;
	c->sub.issued_at = 1700000000;
}

static void ue_creds__store_load_roundtrip_0600(void **state)
{
	char dir[512], err[256];
	ue_creds_t c, l;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/creds", tmproot);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_false(ue_creds_exist(dir));
	sample_creds(&c);
	assert_int_equal(ue_creds_store(&c, dir, err, sizeof(err)), 0);
	assert_true(ue_creds_exist(dir));
	assert_int_equal(file_mode(dir, UE_F_CREDS), 0600);
	assert_int_equal(ue_creds_load(&l, dir, err, sizeof(err)), 0);
	assert_string_equal(l.device_id, "dev-42");
	assert_string_equal(l.sub.supi, "imsi-001010000000042");
	assert_memory_equal(l.sub.ki, c.sub.ki, 16);
	assert_memory_equal(l.sub.opc, c.sub.opc, 16);
	assert_memory_equal(l.sub.amf, c.sub.amf, 2);
	assert_memory_equal(l.sub.sqn, c.sub.sqn, 6);
	assert_memory_equal(l.sqn_ms, c.sqn_ms, 6);
	assert_string_equal(l.sub.mnc, "01");
	assert_string_equal(l.sub.dnn, "internet");
	assert_int_equal(l.sub.nssai_count, 2);
	assert_int_equal(l.sub.nssai[1].has_sd, 1);
	assert_int_equal(l.sub.nssai[1].sd, 0x010203);
	assert_int_equal(l.sub.issued_at, 1700000000);
	ue_creds_wipe(&l);
	assert_string_equal(l.sub.supi, "");
}

static void ue_creds__load_refuses_malformed(void **state)
{
	char dir[512], path[600], err[256];
	ue_creds_t l;
	const char *short_ki =
	    "{\"device_id\":\"d\",\"supi\":\"imsi-00101123\","
	    "\"ki\":\"00\",\"opc\":\"00\",\"amf\":\"8000\",\"sqn\":"
	    "\"000000000000\",\"sqn_ms\":\"000000000000\",\"mcc\":\"001\","
	    "\"mnc\":\"01\",\"dnn\":\"x\"}";
	const char *bad_supi = "{\"device_id\":\"d\",\"supi\":\"nai-x\"}";

	(void)state;
	snprintf(dir, sizeof(dir), "%s/credsbad", tmproot);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, UE_F_CREDS);
	assert_int_equal(ue_file_write_atomic(path, short_ki, strlen(short_ki),
	                     0600, err, sizeof(err)),
	    0);
	assert_int_equal(ue_creds_load(&l, dir, err, sizeof(err)), UE_ERR_ARG);
	assert_non_null(strstr(err, "malformed credentials"));
	assert_string_equal(l.sub.supi, ""); /* wiped on failure */
	assert_int_equal(ue_file_write_atomic(path, bad_supi, strlen(bad_supi),
	                     0600, err, sizeof(err)),
	    0);
	assert_int_equal(ue_creds_load(&l, dir, err, sizeof(err)), UE_ERR_ARG);
}

static void ue_swarm__percentile_nearest_rank(void **state)
{
	unsigned v[100];
	unsigned i;

	(void)state;
	for (i = 0; i < 100; i++)
		v[i] = i + 1;
	assert_int_equal(ue_percentile(v, 100, 50), 50);
	assert_int_equal(ue_percentile(v, 100, 95), 95);
	assert_int_equal(ue_percentile(v, 100, 99), 99);
	assert_int_equal(ue_percentile(v, 1, 99), 1);
	assert_int_equal(ue_percentile(v, 0, 50), 0);
	assert_int_equal(ue_percentile(v, 10, 95), 10);
}

static void ue_swarm__refuses_unbounded_options(void **state)
{
	ue_swarm_opts_t o;
	ue_swarm_result_t r;
	char err[256];

	(void)state;
	memset(&o, 0, sizeof(o));
	o.count = UE_SWARM_MAX_COUNT + 1;
	o.concurrency = 4;
	o.manufacturer_id = "m";
	o.model = "x";
	assert_int_equal(ue_swarm_run(&r, &o, err, sizeof(err)), UE_ERR_ARG);
	o.count = 10;
	o.concurrency = 0;
	assert_int_equal(ue_swarm_run(&r, &o, err, sizeof(err)), UE_ERR_ARG);
	assert_non_null(strstr(err, "concurrency"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ue_state__id_validation),
		cmocka_unit_test(ue_state__key_type_parse),
		cmocka_unit_test(ue_state__atomic_write_sets_mode_and_replaces),
		cmocka_unit_test(ue_keys__init_p256_writes_key_0600_and_csr),
		cmocka_unit_test(ue_keys__init_never_replaces_a_key),
		cmocka_unit_test(ue_keys__init_rsa2048),
		cmocka_unit_test(ue_keys__load_pub_gives_the_keys_point),
		cmocka_unit_test(ue_keys__load_refuses_oversized_key_file),
		cmocka_unit_test(ue_keys__init_refuses_bad_identity),
		cmocka_unit_test(ue_keys__p256_fast_reader_matches_openssl),
		cmocka_unit_test(ue_keys__p256_fast_reader_declines_others),
		cmocka_unit_test(ue_state__device_load_errors),
		cmocka_unit_test(ue_policy__parse_cores_and_timers),
		cmocka_unit_test(
		    ue_transport__retransmit_wait_doubles_to_the_cap),
		cmocka_unit_test(ue_policy__refuses_bad_input),
		cmocka_unit_test(ue_policy__load_missing_is_defaults),
		cmocka_unit_test(ue_creds__store_load_roundtrip_0600),
		cmocka_unit_test(ue_creds__load_refuses_malformed),
		cmocka_unit_test(ue_swarm__percentile_nearest_rank),
		cmocka_unit_test(ue_swarm__refuses_unbounded_options),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
