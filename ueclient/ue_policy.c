/* ue_policy.c — network selection: which cores to try, in which order, and
 * how long to wait for each (policy.json in the state folder, or flags). */
#include "ue.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

void ue_policy_init(ue_policy_t *p)
{
	memset(p, 0, sizeof(*p));
	p->timeout_ms = 1000;
	p->retransmits = 3;
	p->attempt_ms = 10000;
	p->max_backoff_ms = 5000;
}

static int plmn_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n != 5 && n != 6)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* host:port with a numeric port 1..65535 and a non-empty host. */
static int address_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (colon == NULL || colon == s || strlen(s) > UE_ADDR_MAX)
		return 0;
	port = strtol(colon + 1, &end, 10);
	return *end == '\0' && colon[1] != '\0' && port > 0 && port <= 65535;
}

static int core_add(ue_policy_t *p, const char *plmn, const char *addr,
    char *err, size_t errlen)
{
	ue_core_t *c;

	if (p->ncores >= UE_MAX_CORES) {
		util_err_set(err, errlen, "at most %d cores", UE_MAX_CORES);
		return UE_ERR_ARG;
	}
	if (plmn[0] != '\0' && !plmn_valid(plmn)) {
		util_err_set(err, errlen,
		    "PLMN \"%s\" is not MCC+MNC (5 or 6 "
		    "digits)",
		    plmn);
		return UE_ERR_ARG;
	}
	if (!address_valid(addr)) {
		util_err_set(err, errlen,
		    "core address \"%s\" is not HOST:PORT", addr);
		return UE_ERR_ARG;
	}
	c = &p->cores[p->ncores++];
	snprintf(c->plmn, sizeof(c->plmn), "%s", plmn);
	snprintf(c->address, sizeof(c->address), "%s", addr);
	return UE_OK;
}

int ue_policy_add_core(ue_policy_t *p, const char *spec, char *err,
    size_t errlen)
{
	const char *at = strchr(spec, '@');
	char plmn[UE_PLMN_MAX + 1] = "";

	if (at != NULL) {
		if ((size_t)(at - spec) > UE_PLMN_MAX) {
			util_err_set(err, errlen, "PLMN too long in \"%s\"",
			    spec);
			return UE_ERR_ARG;
		}
		memcpy(plmn, spec, (size_t)(at - spec));
		plmn[at - spec] = '\0';
		spec = at + 1;
	}
	return core_add(p, plmn, spec, err, errlen);
}

/* Read an unsigned member within [lo, hi] if present. */
static int json_uint(unsigned *dst, const cJSON *obj, const char *name,
    unsigned lo, unsigned hi, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (v == NULL)
		return UE_OK;
	if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
	    v->valuedouble != (double)(unsigned)v->valuedouble) {
		util_err_set(err, errlen, "\"%s\" must be an integer in %u..%u",
		    name, lo, hi);
		return UE_ERR_ARG;
	}
	*dst = (unsigned)v->valuedouble;
	return UE_OK;
}

/* A core's "onboarding_key": {"profile": "A"|"B", "key_id": 0..255,
 * "public_key": hex (A: 32 octets; B: 33 compressed or 65)}. */
static int onboarding_key(ue_core_t *c, const cJSON *o, char *err,
    size_t errlen)
{
	const cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, "profile");
	const cJSON *pk = cJSON_GetObjectItemCaseSensitive(o, "public_key");
	unsigned kid = 0;
	size_t n;

	if (!cJSON_IsObject(o) || !cJSON_IsString(pr) || !cJSON_IsString(pk) ||
	    (strcmp(pr->valuestring, "A") != 0 &&
	        strcmp(pr->valuestring, "B") != 0) ||
	    json_uint(&kid, o, "key_id", 0, 255, err, errlen) != 0)
		goto bad;
	c->ob_scheme = pr->valuestring[0] == 'A' ? 1 : 2;
	c->ob_key_id = (uint8_t)kid;
	n = strlen(pk->valuestring) / 2;
	if ((c->ob_scheme == 1 && n != 32) ||
	    (c->ob_scheme == 2 && n != 33 && n != 65) ||
	    util_hex_decode(c->ob_pub, n, pk->valuestring) != 0)
		goto bad;
	c->ob_pub_len = n;
	return UE_OK;
bad:
	c->ob_scheme = 0;
	util_err_set(err, errlen,
	    "\"onboarding_key\" needs \"profile\" A or "
	    "B, \"key_id\" 0..255 and \"public_key\" in hex (A: 32 octets, "
	    "B: 33 or 65)");
	return UE_ERR_ARG;
}

int ue_policy_parse(ue_policy_t *p, const char *json, char *err, size_t errlen)
{
	cJSON *root = cJSON_Parse(json);
	const cJSON *cores, *it, *ob;
	int rc = UE_ERR_ARG;

	if (root == NULL || !cJSON_IsObject(root)) {
		util_err_set(err, errlen, "policy is not a JSON object");
		goto done;
	}
	if (json_uint(&p->timeout_ms, root, "timeout_ms", 10, 60000, err,
	        errlen) != 0 ||
	    json_uint(&p->max_timeout_ms, root, "max_timeout_ms", 0, 60000, err,
	        errlen) != 0 ||
	    json_uint(&p->retransmits, root, "retransmits", 0, 10, err,
	        errlen) != 0 ||
	    json_uint(&p->attempt_ms, root, "attempt_ms", 10, 600000, err,
	        errlen) != 0 ||
	    json_uint(&p->max_backoff_ms, root, "max_backoff_ms", 0, 600000,
	        err, errlen) != 0)
		goto done;
	cores = cJSON_GetObjectItemCaseSensitive(root, "cores");
	if (cores != NULL && !cJSON_IsArray(cores)) {
		util_err_set(err, errlen, "\"cores\" must be a list");
		goto done;
	}
	cJSON_ArrayForEach(it, cores)
	{
		const cJSON *pl = cJSON_GetObjectItemCaseSensitive(it, "plmn");
		const cJSON *ad =
		    cJSON_GetObjectItemCaseSensitive(it, "address");

		if (!cJSON_IsString(ad) ||
		    (pl != NULL && !cJSON_IsString(pl))) {
			util_err_set(err, errlen,
			    "each core needs a string "
			    "\"address\" and may have a string \"plmn\"");
			goto done;
		}
		if (pl != NULL && strlen(pl->valuestring) > UE_PLMN_MAX) {
			util_err_set(err, errlen, "PLMN too long");
			goto done;
		}
		if (core_add(p, pl != NULL ? pl->valuestring : "",
		        ad->valuestring, err, errlen) != 0)
			goto done;
		ob = cJSON_GetObjectItemCaseSensitive(it, "onboarding_key");
		if (ob != NULL &&
		    onboarding_key(&p->cores[p->ncores - 1], ob, err, errlen) !=
		        0)
			goto done;
	}
	rc = UE_OK;
done:
	cJSON_Delete(root);
	return rc;
}

int ue_policy_load(ue_policy_t *p, const char *dir, char *err, size_t errlen)
{
	char path[4096], *text = NULL;
	int rc;

	if ((rc = ue_state_path(path, sizeof(path), dir, UE_F_POLICY)) != 0) {
		util_err_set(err, errlen, "state path too long");
		return rc;
	}
	if (access(path, F_OK) != 0)
		return UE_OK;
	if ((rc = ue_file_read(&text, NULL, path, 65536, err, errlen)) != 0)
		return rc;
	rc = ue_policy_parse(p, text, err, errlen);
	free(text);
	return rc;
}
