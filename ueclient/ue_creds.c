/* ue_creds.c — the subscription the device received and its USIM state,
 * kept in credentials.json (0600, written atomically; Ki and OPc wiped from
 * every buffer they pass through); a newer subscription not yet proven by
 * 5G-AKA in credentials-pending.json; and the provisioning requests'
 * freshness counter in prov-counter (advanced atomically before a request
 * leaves). */
#include "ue.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <openssl/crypto.h>

void ue_creds_wipe(ue_creds_t *c)
{
	if (c != NULL)
		OPENSSL_cleanse(c, sizeof(*c));
}

int ue_creds_exist(const char *dir)
{
	return ue_creds_exist_as(dir, UE_F_CREDS);
}

int ue_creds_exist_as(const char *dir, const char *name)
{
	char path[4096];

	if (ue_state_path(path, sizeof(path), dir, name) != 0)
		return 0;
	return access(path, F_OK) == 0;
}

int ue_counter_next(uint64_t *out, const char *dir, char *err, size_t errlen)
{
	char path[4096], *text = NULL, *end = NULL, buf[32];
	size_t len = 0;
	unsigned long long cur = 0, now_us;
	struct timespec ts;
	int rc;

	*out = 0;
	if (ue_state_path(path, sizeof(path), dir, UE_F_COUNTER) != 0) {
		util_err_set(err, errlen, "state path too long");
		return UE_ERR_ARG;
	}
	if (access(path, F_OK) == 0) {
		if ((rc = ue_file_read(&text, &len, path, 64, err, errlen)) !=
		    0)
			return rc;
		cur = strtoull(text, &end, 10);
		if (len == 0 || text[0] < '0' || text[0] > '9' ||
		    (*end != '\0' && *end != '\n') ||
		    cur >= 0x7fffffffffffffffULL) {
			util_err_set(err, errlen, "%s: malformed counter",
			    path);
			free(text);
			return UE_ERR_STATE;
		}
		free(text);
	}
	/* Above the stored value, and at least the wall clock in microseconds
	 * when the device has one: a state folder restored from an old backup
	 * (or used by a simulated device, whose counter is the clock) still
	 * moves past what the network stored. A wrong clock only makes the
	 * counter jump; it never goes back. */
	clock_gettime(CLOCK_REALTIME, &ts);
	now_us = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
	cur = cur + 1 > now_us ? cur + 1 : now_us;
	/* Durable before the request carrying it leaves: after a crash the
	 * device never signs the same counter twice. */
	snprintf(buf, sizeof(buf), "%llu\n", cur);
	if ((rc = ue_file_write_atomic(path, buf, strlen(buf), 0600, err,
	         errlen)) != 0)
		return rc;
	*out = (uint64_t)cur;
	return UE_OK;
}

/* Wipe the value of a string member (a secret) before the tree is freed. */
static void json_wipe_member(cJSON *obj, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (cJSON_IsString(v) && v->valuestring != NULL)
		OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
}

static int add_hex(cJSON *obj, const char *name, const uint8_t *b, size_t n)
{
	char hex[2 * PROV_HN_PUB_MAX + 1];
	cJSON *item;

	if (n > PROV_HN_PUB_MAX)
		return -1;
	util_hex_encode(hex, b, n);
	item = cJSON_AddStringToObject(obj, name, hex);
	OPENSSL_cleanse(hex, sizeof(hex));
	return item != NULL ? 0 : -1;
}

/* The SUCI home network key as "hn_key": {scheme, key_id, routing, pub}. */
static int add_hn_key(cJSON *root, const prov_subscription_t *s)
{
	cJSON *o;

	if (s->hn_scheme == 0)
		return 0;
	if ((o = cJSON_AddObjectToObject(root, "hn_key")) == NULL ||
	    cJSON_AddNumberToObject(o, "scheme", s->hn_scheme) == NULL ||
	    cJSON_AddNumberToObject(o, "key_id", s->hn_key_id) == NULL ||
	    cJSON_AddStringToObject(o, "routing", s->routing) == NULL ||
	    add_hex(o, "pub", s->hn_pub, s->hn_pub_len) != 0)
		return -1;
	return 0;
}

int ue_creds_store(const ue_creds_t *c, const char *dir, char *err,
    size_t errlen)
{
	return ue_creds_store_as(c, dir, UE_F_CREDS, err, errlen);
}

int ue_creds_store_as(const ue_creds_t *c, const char *dir, const char *name,
    char *err, size_t errlen)
{
	char path[4096], sd[7];
	char *text = NULL;
	cJSON *root = cJSON_CreateObject(), *nssai = NULL;
	size_t i;
	int rc = UE_ERR_NOMEM;

	if (root == NULL ||
	    cJSON_AddStringToObject(root, "device_id", c->device_id) == NULL ||
	    cJSON_AddStringToObject(root, "supi", c->sub.supi) == NULL ||
	    add_hex(root, "ki", c->sub.ki, sizeof(c->sub.ki)) != 0 ||
	    add_hex(root, "opc", c->sub.opc, sizeof(c->sub.opc)) != 0 ||
	    add_hex(root, "amf", c->sub.amf, sizeof(c->sub.amf)) != 0 ||
	    add_hex(root, "sqn", c->sub.sqn, sizeof(c->sub.sqn)) != 0 ||
	    add_hex(root, "sqn_ms", c->sqn_ms, sizeof(c->sqn_ms)) != 0 ||
	    cJSON_AddStringToObject(root, "mcc", c->sub.mcc) == NULL ||
	    cJSON_AddStringToObject(root, "mnc", c->sub.mnc) == NULL ||
	    cJSON_AddStringToObject(root, "dnn", c->sub.dnn) == NULL ||
	    cJSON_AddNumberToObject(root, "issued_at",
	        (double)c->sub.issued_at) == NULL ||
	    add_hn_key(root, &c->sub) != 0 ||
	    (nssai = cJSON_AddArrayToObject(root, "nssai")) == NULL)
		goto nomem;
	for (i = 0; i < c->sub.nssai_count && i < PROV_NSSAI_MAX; i++) {
		cJSON *s = cJSON_CreateObject();

		if (s == NULL || !cJSON_AddItemToArray(nssai, s) ||
		    cJSON_AddNumberToObject(s, "sst", c->sub.nssai[i].sst) ==
		        NULL)
			goto nomem;
		if (c->sub.nssai[i].has_sd) {
			snprintf(sd, sizeof(sd), "%06x",
			    (unsigned)(c->sub.nssai[i].sd & 0xffffff));
			if (cJSON_AddStringToObject(s, "sd", sd) == NULL)
				goto nomem;
		}
	}
	text = cJSON_Print(root);
	if (text == NULL)
		goto nomem;
	if ((rc = ue_state_path(path, sizeof(path), dir, name)) != 0) {
		util_err_set(err, errlen, "state path too long");
		goto done;
	}
	rc = ue_file_write_atomic(path, text, strlen(text), 0600, err, errlen);
	goto done;
nomem:
	util_err_set(err, errlen, "out of memory");
done:
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		cJSON_free(text);
	}
	if (root != NULL) {
		json_wipe_member(root, "ki");
		json_wipe_member(root, "opc");
		cJSON_Delete(root);
	}
	return rc;
}

/* Copy a string member of at most cap-1 bytes. */
static int get_str(char *dst, size_t cap, const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
		return -1;
	memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

static int get_hex(uint8_t *dst, size_t n, const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsString(v))
		return -1;
	return util_hex_decode(dst, n, v->valuestring);
}

static int digits(const char *s, size_t lo, size_t hi)
{
	size_t i, n = strlen(s);

	if (n < lo || n > hi)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* The optional "hn_key" member into s (absent: null scheme). */
static int get_hn_key(prov_subscription_t *s, const cJSON *root)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "hn_key");
	const cJSON *sc, *id, *pub;

	if (o == NULL)
		return 0;
	sc = cJSON_GetObjectItemCaseSensitive(o, "scheme");
	id = cJSON_GetObjectItemCaseSensitive(o, "key_id");
	pub = cJSON_GetObjectItemCaseSensitive(o, "pub");
	if (!cJSON_IsNumber(sc) ||
	    (sc->valuedouble != 1 && sc->valuedouble != 2) ||
	    !cJSON_IsNumber(id) || id->valuedouble < 0 ||
	    id->valuedouble > 255 || !cJSON_IsString(pub) ||
	    get_str(s->routing, sizeof(s->routing), o, "routing") != 0 ||
	    !digits(s->routing, 1, 4))
		return -1;
	s->hn_scheme = (uint8_t)sc->valuedouble;
	s->hn_key_id = (uint8_t)id->valuedouble;
	s->hn_pub_len = s->hn_scheme == 1 ? 32 : 33;
	return util_hex_decode(s->hn_pub, s->hn_pub_len, pub->valuestring);
}

int ue_creds_load(ue_creds_t *out, const char *dir, char *err, size_t errlen)
{
	return ue_creds_load_as(out, dir, UE_F_CREDS, err, errlen);
}

int ue_creds_load_as(ue_creds_t *out, const char *dir, const char *name,
    char *err, size_t errlen)
{
	char path[4096], *text = NULL;
	size_t len = 0;
	cJSON *root = NULL;
	const cJSON *nssai, *it, *at;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ue_state_path(path, sizeof(path), dir, name)) != 0) {
		util_err_set(err, errlen, "state path too long");
		return rc;
	}
	if ((rc = ue_file_read(&text, &len, path, 65536, err, errlen)) != 0)
		return rc;
	rc = UE_ERR_ARG;
	root = cJSON_Parse(text);
	if (root == NULL || !cJSON_IsObject(root) ||
	    get_str(out->device_id, sizeof(out->device_id), root,
	        "device_id") != 0 ||
	    get_str(out->sub.supi, sizeof(out->sub.supi), root, "supi") != 0 ||
	    strncmp(out->sub.supi, "imsi-", 5) != 0 ||
	    !digits(out->sub.supi + 5, 6, 15) ||
	    get_hex(out->sub.ki, sizeof(out->sub.ki), root, "ki") != 0 ||
	    get_hex(out->sub.opc, sizeof(out->sub.opc), root, "opc") != 0 ||
	    get_hex(out->sub.amf, sizeof(out->sub.amf), root, "amf") != 0 ||
	    get_hex(out->sub.sqn, sizeof(out->sub.sqn), root, "sqn") != 0 ||
	    get_hex(out->sqn_ms, sizeof(out->sqn_ms), root, "sqn_ms") != 0 ||
	    get_str(out->sub.mcc, sizeof(out->sub.mcc), root, "mcc") != 0 ||
	    !digits(out->sub.mcc, 3, 3) ||
	    get_str(out->sub.mnc, sizeof(out->sub.mnc), root, "mnc") != 0 ||
	    !digits(out->sub.mnc, 2, 3) ||
	    get_str(out->sub.dnn, sizeof(out->sub.dnn), root, "dnn") != 0 ||
	    get_hn_key(&out->sub, root) != 0) {
		util_err_set(err, errlen, "%s: malformed credentials", path);
		goto done;
	}
	at = cJSON_GetObjectItemCaseSensitive(root, "issued_at");
	if (cJSON_IsNumber(at))
		out->sub.issued_at = (int64_t)at->valuedouble;
	nssai = cJSON_GetObjectItemCaseSensitive(root, "nssai");
	cJSON_ArrayForEach(it, nssai)
	{
		const cJSON *sst = cJSON_GetObjectItemCaseSensitive(it, "sst");
		const cJSON *sd = cJSON_GetObjectItemCaseSensitive(it, "sd");
		prov_snssai_t *s;
		uint8_t sdb[3];

		if (out->sub.nssai_count >= PROV_NSSAI_MAX ||
		    !cJSON_IsNumber(sst) || sst->valuedouble < 0 ||
		    sst->valuedouble > 255 ||
		    (sd != NULL &&
		        (!cJSON_IsString(sd) ||
		            util_hex_decode(sdb, 3, sd->valuestring) != 0))) {
			util_err_set(err, errlen, "%s: malformed S-NSSAI",
			    path);
			goto done;
		}
		s = &out->sub.nssai[out->sub.nssai_count++];
		s->sst = (uint8_t)sst->valuedouble;
		if (sd != NULL) {
			s->has_sd = 1;
			s->sd = (uint32_t)sdb[0] << 16 | (uint32_t)sdb[1] << 8 |
			    sdb[2];
		}
	}
	rc = UE_OK;
done:
	if (root != NULL) {
		json_wipe_member(root, "ki");
		json_wipe_member(root, "opc");
		cJSON_Delete(root);
	}
	OPENSSL_cleanse(text, len);
	free(text);
	if (rc != UE_OK)
		ue_creds_wipe(out);
	return rc;
}
