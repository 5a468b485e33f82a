/* sec_tool.c — option parsing and output of the NAS security and SUCI
 * checking tools (see sec_tool.h). Options are "--name value" or
 * "--name=value"; each known option at most once; every value bounded. */
#include "sec_tool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "nas_sec.h"
#include "suci.h"
#include "util.h"

#define OPT_MAX 8
#define HEX_MAX (2 * 8192)

/* Parsed options: names the tool accepts and the values given. */
typedef struct opts_t {
	const char *names[OPT_MAX];
	const char *vals[OPT_MAX];
	size_t n;
} opts_t;

/* Fill o->vals from argv for the names in o->names. */
static int opts_parse(opts_t *o, int argc, char **argv, char *err,
    size_t errlen)
{
	int i;
	size_t j, nlen;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *eq;

		if (strncmp(a, "--", 2) != 0) {
			util_err_set(err, errlen, "unexpected argument '%.40s'",
			    a);
			return SEC_TOOL_USAGE;
		}
		a += 2;
		eq = strchr(a, '=');
		nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
		for (j = 0; j < o->n; j++)
			if (strlen(o->names[j]) == nlen &&
			    strncmp(o->names[j], a, nlen) == 0)
				break;
		if (j == o->n || o->vals[j] != NULL) {
			util_err_set(err, errlen, "%s option '--%.*s'",
			    j == o->n ? "unknown" : "repeated",
			    (int)(nlen > 40 ? 40 : nlen), a);
			return SEC_TOOL_USAGE;
		}
		if (eq != NULL)
			o->vals[j] = eq + 1;
		else if (i + 1 < argc)
			o->vals[j] = argv[++i];
		else {
			util_err_set(err, errlen, "--%s needs a value",
			    o->names[j]);
			return SEC_TOOL_USAGE;
		}
	}
	return SEC_TOOL_OK;
}

/* Value of option name; NULL if absent. */
static const char *opt_get(const opts_t *o, const char *name)
{
	size_t j;

	for (j = 0; j < o->n; j++)
		if (strcmp(o->names[j], name) == 0)
			return o->vals[j];
	return NULL;
}

/* Decimal value of option name in [lo, hi]; -1 if absent or bad. */
static long opt_num(const opts_t *o, const char *name, long lo, long hi,
    char *err, size_t errlen)
{
	const char *v = opt_get(o, name);
	char *end = NULL;
	long x;

	if (v == NULL || *v == '\0' || strspn(v, "0123456789") != strlen(v) ||
	    strlen(v) > 9) {
		util_err_set(err, errlen, "--%s needs a number in %ld..%ld",
		    name, lo, hi);
		return -1;
	}
	x = strtol(v, &end, 10);
	if (x < lo || x > hi) {
		util_err_set(err, errlen, "--%s needs a number in %ld..%ld",
		    name, lo, hi);
		return -1;
	}
	return x;
}

/* Hex value of option name of exactly len octets. */
static int opt_hex(uint8_t *out, size_t len, const opts_t *o, const char *name,
    char *err, size_t errlen)
{
	const char *v = opt_get(o, name);

	if (v == NULL || strlen(v) != 2 * len ||
	    util_hex_decode(out, len, v) != 0) {
		util_err_set(err, errlen, "--%s needs %zu hex digits", name,
		    2 * len);
		return SEC_TOOL_USAGE;
	}
	return SEC_TOOL_OK;
}

/* Print "NAME: hex" of len octets. */
static int print_hex(FILE *fp, const char *name, const uint8_t *v, size_t len)
{
	char *hex = OPENSSL_malloc(2 * len + 1);
	int rc;

	if (hex == NULL)
		return SEC_TOOL_FAIL;
	util_hex_encode(hex, v, len);
	rc = fprintf(fp, "%s: %s\n", name, hex) > 0 ? SEC_TOOL_OK :
	                                              SEC_TOOL_FAIL;
	OPENSSL_clear_free(hex, 2 * len + 1);
	return rc;
}

/* kdf --kamf HEX --alg-type 1|2 --alg-id N. */
static int tool_kdf(FILE *fp, const opts_t *o, char *err, size_t errlen)
{
	uint8_t kamf[NAS_SEC_KAMF_LEN], key[NAS_SEC_KEY_LEN];
	long type, id;
	int rc = SEC_TOOL_USAGE;

	if (opt_hex(kamf, sizeof(kamf), o, "kamf", err, errlen) != 0 ||
	    (type = opt_num(o, "alg-type", 1, 2, err, errlen)) < 0 ||
	    (id = opt_num(o, "alg-id", 0, 15, err, errlen)) < 0)
		goto out;
	rc = SEC_TOOL_FAIL;
	if (nas_sec_kdf(key, kamf, (uint8_t)type, (uint8_t)id) == NAS_SEC_OK)
		rc = print_hex(fp, "KEY", key, sizeof(key));
	else
		util_err_set(err, errlen, "key derivation failed");
out:
	OPENSSL_cleanse(kamf, sizeof(kamf));
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* nia2 / nea2 with the options of both. */
static int tool_alg(FILE *fp, int integrity, const opts_t *o, char *err,
    size_t errlen)
{
	uint8_t key[NAS_SEC_KEY_LEN], cnt[4], mac[NAS_SEC_MAC_LEN], *msg = NULL;
	long bearer, dir, bits;
	size_t len;
	uint32_t count;
	int rc = SEC_TOOL_USAGE;

	if (opt_hex(key, sizeof(key), o, "key", err, errlen) != 0 ||
	    opt_hex(cnt, sizeof(cnt), o, "count", err, errlen) != 0 ||
	    (bearer = opt_num(o, "bearer", 0, 31, err, errlen)) < 0 ||
	    (dir = opt_num(o, "direction", 0, 1, err, errlen)) < 0 ||
	    (bits = opt_num(o, "length", integrity ? 0 : 1, HEX_MAX * 4, err,
	         errlen)) < 0)
		goto out;
	len = ((size_t)bits + 7) / 8;
	if ((msg = OPENSSL_zalloc(len + 1)) == NULL) {
		rc = SEC_TOOL_FAIL;
		goto out;
	}
	if ((len > 0 && opt_hex(msg, len, o, "msg", err, errlen) != 0) ||
	    (len == 0 && (opt_get(o, "msg") == NULL || *opt_get(o, "msg")))) {
		util_err_set(err, errlen,
		    "--msg needs ceil(length/8) octets "
		    "of hex");
		goto out;
	}
	if (bits % 8 != 0 && (msg[len - 1] & (0xFF >> (bits % 8))) != 0) {
		util_err_set(err, errlen, "--msg has bits set past --length");
		goto out;
	}
	count = (uint32_t)cnt[0] << 24 | (uint32_t)cnt[1] << 16 |
	    (uint32_t)cnt[2] << 8 | cnt[3];
	rc = SEC_TOOL_FAIL;
	if (integrity &&
	    nas_sec_nia2(mac, key, count, (uint8_t)bearer, (uint8_t)dir, msg,
	        (size_t)bits) == NAS_SEC_OK)
		rc = print_hex(fp, "MAC", mac, sizeof(mac));
	else if (!integrity &&
	    nas_sec_nea2(msg, key, count, (uint8_t)bearer, (uint8_t)dir, msg,
	        (size_t)bits) == NAS_SEC_OK)
		rc = print_hex(fp, "OUT", msg, len);
	else
		util_err_set(err, errlen, "AES failed");
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (msg != NULL)
		OPENSSL_clear_free(msg, len + 1);
	return rc;
}

int sec_tool_nas(FILE *fp, int argc, char **argv, char *err, size_t errlen)
{
	opts_t o = { .names = { "key", "count", "bearer", "direction", "length",
		         "msg" },
		.n = 6 };
	opts_t k = { .names = { "kamf", "alg-type", "alg-id" }, .n = 3 };
	int rc;

	if (fp == NULL || argc < 1 || argv == NULL) {
		util_err_set(err, errlen, "need nia2, nea2 or kdf");
		return SEC_TOOL_USAGE;
	}
	if (strcmp(argv[0], "kdf") == 0) {
		if ((rc = opts_parse(&k, argc - 1, argv + 1, err, errlen)) != 0)
			return rc;
		return tool_kdf(fp, &k, err, errlen);
	}
	if (strcmp(argv[0], "nia2") != 0 && strcmp(argv[0], "nea2") != 0) {
		util_err_set(err, errlen, "need nia2, nea2 or kdf");
		return SEC_TOOL_USAGE;
	}
	if ((rc = opts_parse(&o, argc - 1, argv + 1, err, errlen)) != 0)
		return rc;
	return tool_alg(fp, strcmp(argv[0], "nia2") == 0, &o, err, errlen);
}

/* Profile letter A / B as a SUCI protection scheme id; -1 otherwise. */
static int profile_of(const char *v)
{
	if (v != NULL && strcmp(v, "A") == 0)
		return SUCI_SCHEME_PROFILE_A;
	if (v != NULL && strcmp(v, "B") == 0)
		return SUCI_SCHEME_PROFILE_B;
	return -1;
}

int sec_tool_suci_conceal(FILE *fp, int argc, char **argv, char *err,
    size_t errlen)
{
	opts_t o = { .names = { "supi", "mnc-digits", "profile", "hn-pub",
		         "hn-key-id", "routing-indicator", "eph-key" },
		.n = 7 };
	uint8_t pub[SUCI_PUB_B_FULL_LEN], eph[SUCI_PRIV_LEN];
	const char *hp;
	char str[SUCI_STR_MAX];
	suci_t s;
	long mnc, kid;
	int profile, rc;

	memset(&s, 0, sizeof(s));
	if ((rc = opts_parse(&o, argc, argv, err, errlen)) != 0)
		goto out;
	rc = SEC_TOOL_USAGE;
	hp = opt_get(&o, "hn-pub");
	if ((profile = profile_of(opt_get(&o, "profile"))) < 0) {
		util_err_set(err, errlen, "--profile needs A or B");
		goto out;
	}
	if (hp == NULL || strlen(hp) == 0 || strlen(hp) > 2 * sizeof(pub)) {
		util_err_set(err, errlen,
		    "--hn-pub needs 32, 33 or 65 octets "
		    "of hex");
		goto out;
	}
	if ((mnc = opt_num(&o, "mnc-digits", 2, 3, err, errlen)) < 0 ||
	    (kid = opt_num(&o, "hn-key-id", 0, 255, err, errlen)) < 0 ||
	    opt_hex(pub, strlen(hp) / 2, &o, "hn-pub", err, errlen) != 0 ||
	    (opt_get(&o, "eph-key") != NULL &&
	        opt_hex(eph, sizeof(eph), &o, "eph-key", err, errlen) != 0))
		goto out;
	switch (suci_make(&s, opt_get(&o, "supi"), (int)mnc, profile, pub,
	    strlen(hp) / 2, (uint8_t)kid, opt_get(&o, "routing-indicator"),
	    opt_get(&o, "eph-key") != NULL ? eph : NULL, err, errlen)) {
	case SUCI_OK: break;
	case SUCI_ERR_ARG: goto out;
	default: rc = SEC_TOOL_FAIL; goto out;
	}
	rc = SEC_TOOL_FAIL;
	if (suci_string_format(str, sizeof(str), &s) == SUCI_OK &&
	    fprintf(fp, "SUCI: %s\n", str) > 0)
		rc = SEC_TOOL_OK;
out:
	OPENSSL_cleanse(eph, sizeof(eph));
	OPENSSL_cleanse(&s, sizeof(s));
	return rc;
}

int sec_tool_suci_deconceal(FILE *fp, int argc, char **argv, char *err,
    size_t errlen)
{
	opts_t o = { .names = { "suci", "hn-key" }, .n = 2 };
	EVP_PKEY *key = NULL;
	char supi[SUCI_SUPI_MAX];
	suci_t s;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = opts_parse(&o, argc, argv, err, errlen)) != 0)
		goto out;
	rc = SEC_TOOL_USAGE;
	if (suci_string_parse(&s, opt_get(&o, "suci"), err, errlen) != SUCI_OK)
		goto out;
	if (s.scheme != SUCI_SCHEME_NULL) {
		if (opt_get(&o, "hn-key") == NULL) {
			util_err_set(err, errlen, "--hn-key is required");
			goto out;
		}
		rc = suci_hn_key_load(&key, s.scheme, opt_get(&o, "hn-key"),
		    err, errlen);
		if (rc != SUCI_OK) { /* unreadable or unfit key: bad input */
			rc = SEC_TOOL_USAGE;
			goto out;
		}
	}
	rc = suci_to_supi(supi, sizeof(supi), &s, key, err, errlen);
	if (rc != SUCI_OK) {
		rc = rc == SUCI_ERR_ARG ? SEC_TOOL_USAGE : SEC_TOOL_FAIL;
		goto out;
	}
	rc = fprintf(fp, "SUPI: %s\n", supi) > 0 ? SEC_TOOL_OK : SEC_TOOL_FAIL;
out:
	EVP_PKEY_free(key);
	OPENSSL_cleanse(&s, sizeof(s));
	return rc;
}
