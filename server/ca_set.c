/* ca_set.c — the CA's runtime (struct ca_rt) and its CA sets: the Device
 * and Infrastructure CAs of the registry (table cas) loaded with their
 * keys (retired ones without), the issuing Device CA's device-certificate
 * extensions and signer pool. A set is built whole, then published by one
 * atomic pointer swap: a reader sees the old set or the new one, never a
 * mix. Each use checks the registry's CA set stamp, so a running serve
 * follows `ca-server ca add|activate|retire` and `root renew-intermediate`
 * without a restart; the HTTPS client trust store gains each new
 * Infrastructure CA (checked at most once a second from the handshake). */
#include "ca_priv.h"
#include "ca_profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "reg_cas.h"
#include "util.h"

#define CAS_ACTOR_OPEN "ca-server"

/* Record the data folder's CA of role (device-ca.crt and device_ca_key,
 * or infra-ca.crt and infra_ca_key) as the first CA of the role, issuing,
 * when the registry has none yet; the certificates of that role already
 * stored are its. One transaction. */
static int cas_adopt_first(const ca_t *ca, reg_t *reg, const char *role,
    char *err, size_t errlen)
{
	int infra = strcmp(role, REG_CA_ROLE_INFRA) == 0;
	X509 *cert = infra ? ca->infra : ca->device_file;
	reg_ca_t *list = NULL;
	reg_ca_new_t nc;
	uint8_t *der = NULL;
	size_t n = 0, len = 0;
	char sha[65], subject[REG_CA_SUBJECT_MAX + 1], idbuf[24];
	int64_t id = 0;
	int rc;

	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	if ((rc = ca_from_reg(
	         reg_ca_list(reg, &list, &n, role, err, errlen))) != CA_OK ||
	    n > 0)
		goto out;
	if ((rc = ca_cert_to_der(&der, &len, cert)) != CA_OK) {
		util_err_openssl(err, errlen, "%s CA certificate", role);
		goto out;
	}
	ca_sha256_hex(sha, der, len);
	ca_subject_line(subject, sizeof(subject), cert);
	memset(&nc, 0, sizeof(nc));
	nc.role = role;
	nc.state = REG_CA_ISSUING;
	nc.der = der;
	nc.der_len = len;
	nc.cert_sha256 = sha;
	nc.subject = subject;
	nc.key_ref = infra ? ca->cfg.infra_ca_key : ca->cfg.device_ca_key;
	if ((rc = ca_from_reg(reg_ca_insert(reg, &id, &nc, err, errlen))) !=
	        CA_OK ||
	    (rc = ca_from_reg(reg_ca_adopt(reg, id, role, err, errlen))) !=
	        CA_OK)
		goto out;
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	rc = ca_audit(reg, CAS_ACTOR_OPEN, "ca.adopt", idbuf, err, errlen,
	    "role", role, "certificate_sha256", sha, NULL);
out:
	if (rc == CA_OK)
		rc = ca_from_reg(reg_commit(reg, err, errlen));
	if (rc != CA_OK)
		reg_rollback(reg);
	OPENSSL_free(der);
	reg_ca_list_free(list, n);
	return rc;
}

/* The first CA of role follows its file (device-ca.crt / infra-ca.crt)
 * when `root renew-intermediate` renewed the file before the CA set's row
 * followed renewals: same subject and key, a notBefore not earlier. One
 * transaction with its audit row (ca.renewal). */
static int cas_follow_file(const ca_t *ca, reg_t *reg, const char *role,
    char *err, size_t errlen)
{
	X509 *file = strcmp(role, REG_CA_ROLE_INFRA) == 0 ? ca->infra :
	                                                    ca->device_file,
	     *row = NULL;
	reg_ca_t *list = NULL;
	uint8_t *der = NULL;
	const unsigned char *p;
	size_t n = 0, len = 0;
	char sha[65], subject[REG_CA_SUBJECT_MAX + 1], idbuf[24];
	int rc;

	if ((rc = ca_from_reg(
	         reg_ca_list(reg, &list, &n, role, err, errlen))) != CA_OK ||
	    n == 0)
		goto out;
	if ((rc = ca_cert_to_der(&der, &len, file)) != CA_OK) {
		util_err_openssl(err, errlen, "%s CA certificate", role);
		goto out;
	}
	ca_sha256_hex(sha, der, len);
	p = list[0].der;
	if (strcmp(sha, list[0].cert_sha256) == 0 ||
	    (row = d2i_X509(NULL, &p, (long)list[0].der_len)) == NULL ||
	    X509_NAME_cmp(X509_get_subject_name(row),
	        X509_get_subject_name(file)) != 0 ||
	    EVP_PKEY_eq(X509_get0_pubkey(row), X509_get0_pubkey(file)) != 1 ||
	    ASN1_TIME_compare(X509_get0_notBefore(row),
	        X509_get0_notBefore(file)) > 0)
		goto out; /* the same, or not a renewal of it */
	ca_subject_line(subject, sizeof(subject), file);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)list[0].id);
	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		goto out;
	if ((rc = ca_from_reg(reg_ca_cert_replace(reg, list[0].id, der, len,
	         sha, subject, err, errlen))) == CA_OK)
		rc = ca_audit(reg, CAS_ACTOR_OPEN, "ca.renewal", idbuf, err,
		    errlen, "role", role, "certificate_sha256", sha, NULL);
	if (rc == CA_OK)
		rc = ca_from_reg(reg_commit(reg, err, errlen));
	if (rc != CA_OK)
		reg_rollback(reg);
out:
	ERR_clear_error();
	X509_free(row);
	OPENSSL_free(der);
	reg_ca_list_free(list, n);
	return rc;
}

/* The key of row r: the one prev (the set before) holds for the same CA
 * and certificate, else opened from its reference. NULL when retired. */
static int dca_key(const ca_t *ca, const struct ca_set *prev, struct ca_dca *d,
    const reg_ca_t *r, char *err, size_t errlen)
{
	const struct ca_dca *p = prev == NULL       ? NULL :
	    strcmp(r->role, REG_CA_ROLE_INFRA) == 0 ? ca_set_ica(prev, r->id) :
	                                              ca_set_dca(prev, r->id);

	if (strcmp(r->state, REG_CA_RETIRED) == 0)
		return CA_OK;
	if (p != NULL && p->key != NULL &&
	    strcmp(p->cert_sha256, r->cert_sha256) == 0) {
		if (EVP_PKEY_up_ref(p->key) != 1) {
			util_err_openssl(err, errlen, "Device CA key");
			return CA_ERR_INTERNAL;
		}
		d->key = p->key;
		return CA_OK;
	}
	return ca_key_load(&d->key, ca, r->key_ref, d->cert, err, errlen);
}

/* The URL paths of d: the first CA of a role keeps the original ones. */
static void dca_paths(struct ca_dca *d, int first, int infra)
{
	if (infra) {
		if (first) {
			snprintf(d->crl_path, sizeof(d->crl_path), "%s",
			    CA_URL_PATH_INFRA_CRL);
			snprintf(d->cache_key, sizeof(d->cache_key), "%s",
			    REG_ISSUER_INFRA);
		} else {
			snprintf(d->crl_path, sizeof(d->crl_path),
			    CA_URL_PATH_INFRA_CA_N_CRL, (long long)d->id);
			snprintf(d->cache_key, sizeof(d->cache_key),
			    "infra-ca-%lld", (long long)d->id);
		}
		return;
	}
	if (first) {
		snprintf(d->crl_path, sizeof(d->crl_path), "%s",
		    CA_URL_PATH_CRL);
		snprintf(d->crt_path, sizeof(d->crt_path), "%s",
		    CA_URL_PATH_DEVICE_CA);
		snprintf(d->cache_key, sizeof(d->cache_key), "%s",
		    REG_ISSUER_DEVICE);
		return;
	}
	snprintf(d->crl_path, sizeof(d->crl_path), CA_URL_PATH_DEVICE_CA_N_CRL,
	    (long long)d->id);
	snprintf(d->crt_path, sizeof(d->crt_path), CA_URL_PATH_DEVICE_CA_N_CRT,
	    (long long)d->id);
	snprintf(d->cache_key, sizeof(d->cache_key), "device-ca-%lld",
	    (long long)d->id);
}

/* The certificate, key and URLs of row r into d. */
static int dca_load(const ca_t *ca, const struct ca_set *prev, struct ca_dca *d,
    const reg_ca_t *r, int first, char *err, size_t errlen)
{
	const unsigned char *p = r->der;
	const char *root_pem = ca->pem[CA_CERT_ROOT];
	unsigned int hl = 0;
	size_t lp, lr;
	int rc;

	d->id = r->id;
	snprintf(d->state, sizeof(d->state), "%s", r->state);
	snprintf(d->cert_sha256, sizeof(d->cert_sha256), "%s", r->cert_sha256);
	if ((d->cert = d2i_X509(NULL, &p, (long)r->der_len)) == NULL ||
	    (d->key_ref = strdup(r->key_ref)) == NULL)
		goto ossl;
	if ((rc = dca_key(ca, prev, d, r, err, errlen)) != CA_OK)
		return rc;
	if (ca_cert_to_der(&d->der, &d->der_len, d->cert) != CA_OK ||
	    (d->pem = ca_cert_to_pem(d->cert)) == NULL ||
	    X509_pubkey_digest(d->cert, EVP_sha1(), d->key_hash, &hl) != 1)
		goto ossl;
	lp = strlen(d->pem);
	lr = strlen(root_pem);
	if ((d->chain_pem = malloc(lp + lr + 1)) == NULL)
		goto ossl;
	memcpy(d->chain_pem, d->pem, lp);
	memcpy(d->chain_pem + lp, root_pem, lr + 1);
	dca_paths(d, first, strcmp(r->role, REG_CA_ROLE_INFRA) == 0);
	return CA_OK;
ossl:
	util_err_openssl(err, errlen, "Device CA %lld", (long long)r->id);
	return CA_ERR_INTERNAL;
}

/* Free one set (its CAs, extensions and signer pool); NULL-safe. */
static void set_free(struct ca_set *set)
{
	size_t i;
	int k, x;

	if (set == NULL)
		return;
	ca_signer_pool_free(set);
	pthread_mutex_destroy(&set->signer_mu);
	for (k = 0; k < CA_PROFILE_KINDS; k++)
		for (x = 0; set->dev_exts[k][x] != NULL; x++)
			X509_EXTENSION_free(set->dev_exts[k][x]);
	for (i = 0; i < set->n_dcas + set->n_icas; i++) {
		struct ca_dca *d = i < set->n_dcas ?
		    &set->dcas[i] :
		    &set->icas[i - set->n_dcas];

		X509_free(d->cert);
		EVP_PKEY_free(d->key);
		OPENSSL_free(d->der);
		free(d->pem);
		free(d->chain_pem);
		free(d->key_ref);
	}
	free(set);
}

/* The index of the issuing CA among n; n when none can sign. */
static size_t issuing_of(const struct ca_dca *cas, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(cas[i].state, REG_CA_ISSUING) == 0)
			return cas[i].key != NULL ? i : n;
	return n;
}

/* Pick the issuing CAs of set and build the Device CA's device-certificate
 * extensions (its own CRL and certificate URLs). */
static int set_issuing(const ca_t *ca, struct ca_set *set, char *err,
    size_t errlen)
{
	const struct ca_dca *d;
	size_t i;
	int k, rc;

	if ((set->infra_issuing = issuing_of(set->icas, set->n_icas)) ==
	    set->n_icas) {
		util_err_set(err, errlen,
		    "the registry names no issuing "
		    "Infrastructure CA (ca-server ca activate ID)");
		return CA_ERR_INVALID;
	}
	for (i = 0; i < set->n_dcas; i++)
		if (strcmp(set->dcas[i].state, REG_CA_ISSUING) == 0)
			break;
	if (i == set->n_dcas || set->dcas[i].key == NULL) {
		util_err_set(err, errlen,
		    "the registry names no issuing "
		    "Device CA (ca-server ca activate ID)");
		return CA_ERR_INVALID;
	}
	set->issuing = i;
	d = &set->dcas[i];
	for (k = 0; k < CA_PROFILE_KINDS; k++)
		if ((rc = ca_profile_exts_build(set->dev_exts[k], k, d->cert,
		         ca_revocation_base_url(ca), d->crl_path, d->crt_path,
		         err, errlen)) != CA_OK)
			return rc;
	return CA_OK;
}

/* Load the CAs of role from the registry into cas (*n of at most max). */
static int set_role_load(const ca_t *ca, const struct ca_set *prev, reg_t *reg,
    const char *role, struct ca_dca *cas, size_t *n, size_t max, char *err,
    size_t errlen)
{
	reg_ca_t *list = NULL;
	size_t cnt = 0, i;
	int rc;

	if ((rc = ca_from_reg(
	         reg_ca_list(reg, &list, &cnt, role, err, errlen))) != CA_OK)
		return rc;
	if (cnt == 0 || cnt > max) {
		util_err_set(err, errlen,
		    "%zu %s CAs in the registry (1..%zu "
		    "served)",
		    cnt, role, max);
		rc = CA_ERR_INVALID;
	}
	for (i = 0; i < cnt && rc == CA_OK; i++) {
		rc = dca_load(ca, prev, &cas[i], &list[i], i == 0, err, errlen);
		*n = i + 1;
	}
	reg_ca_list_free(list, cnt);
	return rc;
}

/* Build a set from the registry's rows on reg (stamp read first: a change
 * after it moves the stamp again); prev lends the keys it already holds. */
static int set_build(struct ca_set **out, const ca_t *ca,
    const struct ca_set *prev, reg_t *reg, char *err, size_t errlen)
{
	struct ca_set *set;
	int rc;

	*out = NULL;
	if ((set = calloc(1, sizeof(*set))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return CA_ERR_INTERNAL;
	}
	if (pthread_mutex_init(&set->signer_mu, NULL) != 0) {
		free(set);
		util_err_set(err, errlen, "cannot create a mutex");
		return CA_ERR_INTERNAL;
	}
	if ((rc = ca_from_reg(reg_ca_stamp(reg, set->stamp, sizeof(set->stamp),
	         err, errlen))) == CA_OK &&
	    (rc = set_role_load(ca, prev, reg, REG_CA_ROLE_DEVICE, set->dcas,
	         &set->n_dcas, CA_DEVICE_CAS_MAX, err, errlen)) == CA_OK &&
	    (rc = set_role_load(ca, prev, reg, REG_CA_ROLE_INFRA, set->icas,
	         &set->n_icas, CA_INFRA_CAS_MAX, err, errlen)) == CA_OK &&
	    (rc = set_issuing(ca, set, err, errlen)) == CA_OK) {
		*out = set;
		set = NULL;
	}
	set_free(set);
	return rc;
}

int ca_set_trust(const struct ca_set *set, X509_STORE *store)
{
	size_t i;

	for (i = 0; i < set->n_icas; i++)
		if (X509_STORE_add_cert(store, set->icas[i].cert) != 1)
			return CA_ERR_INTERNAL;
	return CA_OK;
}

int ca_rt_open(ca_t *ca, char *err, size_t errlen)
{
	struct ca_set *set = NULL;
	char stamp[CA_SET_STAMP_MAX];
	reg_t *reg = NULL;
	int rc;

	if ((ca->rt = calloc(1, sizeof(*ca->rt))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return CA_ERR_INTERNAL;
	}
	if (pthread_mutex_init(&ca->rt->mu, NULL) != 0) {
		free(ca->rt);
		ca->rt = NULL;
		util_err_set(err, errlen, "cannot create a mutex");
		return CA_ERR_INTERNAL;
	}
	if (pthread_mutex_init(&ca->rt->refresh_mu, NULL) != 0) {
		pthread_mutex_destroy(&ca->rt->mu);
		free(ca->rt);
		ca->rt = NULL;
		util_err_set(err, errlen, "cannot create a mutex");
		return CA_ERR_INTERNAL;
	}
	atomic_init(&ca->rt->cur, NULL);
	if ((rc = ca_from_reg(
	         reg_open_existing(&reg, ca->db_path, err, errlen))) != CA_OK)
		return rc;
	/* Only a registry without a CA of a role takes the write lock. */
	if ((rc = ca_from_reg(reg_ca_stamp(reg, stamp, sizeof(stamp), err,
	         errlen))) == CA_OK &&
	    (strstr(stamp, ":" REG_CA_ROLE_DEVICE ":") == NULL ||
	        strstr(stamp, ":" REG_CA_ROLE_INFRA ":") == NULL) &&
	    ((rc = cas_adopt_first(ca, reg, REG_CA_ROLE_DEVICE, err, errlen)) ==
	        CA_OK))
		rc = cas_adopt_first(ca, reg, REG_CA_ROLE_INFRA, err, errlen);
	if (rc == CA_OK &&
	    (rc = cas_follow_file(ca, reg, REG_CA_ROLE_DEVICE, err, errlen)) ==
	        CA_OK &&
	    (rc = cas_follow_file(ca, reg, REG_CA_ROLE_INFRA, err, errlen)) ==
	        CA_OK &&
	    (rc = set_build(&set, ca, NULL, reg, err, errlen)) == CA_OK)
		atomic_store(&ca->rt->cur, set);
	reg_close(reg);
	return rc;
}

void ca_rt_free(ca_t *ca)
{
	struct ca_set *set, *older;

	if (ca == NULL || ca->rt == NULL)
		return;
	for (set = atomic_load(&ca->rt->cur); set != NULL; set = older) {
		older = set->older;
		set_free(set);
	}
	pthread_mutex_destroy(&ca->rt->mu);
	pthread_mutex_destroy(&ca->rt->refresh_mu);
	reg_close(ca->rt->refresh_reg);
	X509_STORE_free(ca->rt->tls_store);
	free(ca->rt);
	ca->rt = NULL;
}

struct ca_set *ca_set_peek(const ca_t *ca)
{
	return atomic_load_explicit(&ca->rt->cur, memory_order_acquire);
}

struct ca_set *ca_set_get(const ca_t *ca, reg_t *reg, char *err, size_t errlen)
{
	struct ca_rt *rt = ca->rt;
	struct ca_set *cur = ca_set_peek(ca), *set = NULL;
	char stamp[CA_SET_STAMP_MAX];
	int rc;

	if (reg == NULL)
		return cur;
	if (ca_from_reg(reg_ca_stamp(reg, stamp, sizeof(stamp), err, errlen)) !=
	    CA_OK)
		return NULL;
	if (strcmp(stamp, cur->stamp) == 0)
		return cur;
	/* One reload at a time; a thread that waited finds it done. */
	pthread_mutex_lock(&rt->mu);
	cur = atomic_load_explicit(&rt->cur, memory_order_acquire);
	if (strcmp(stamp, cur->stamp) != 0) {
		if ((rc = set_build(&set, ca, cur, reg, err, errlen)) !=
		    CA_OK) {
			pthread_mutex_unlock(&rt->mu);
			return NULL;
		}
		/* New Infrastructure CAs are trusted before their
		 * principals can be told apart by the set. */
		if (rt->tls_store != NULL &&
		    ca_set_trust(set, rt->tls_store) != CA_OK)
			ERR_clear_error();
		set->older = cur;
		atomic_store_explicit(&rt->cur, set, memory_order_release);
		cur = set;
	}
	pthread_mutex_unlock(&rt->mu);
	return cur;
}

const struct ca_dca *ca_set_dca(const struct ca_set *set, int64_t id)
{
	size_t i;

	if (id == 0)
		return set->n_dcas > 0 ? &set->dcas[0] : NULL;
	for (i = 0; i < set->n_dcas; i++)
		if (set->dcas[i].id == id)
			return &set->dcas[i];
	return NULL;
}

const struct ca_dca *ca_set_ica(const struct ca_set *set, int64_t id)
{
	size_t i;

	if (id == 0)
		return set->n_icas > 0 ? &set->icas[0] : NULL;
	for (i = 0; i < set->n_icas; i++)
		if (set->icas[i].id == id)
			return &set->icas[i];
	return NULL;
}

/* Milliseconds of CLOCK_MONOTONIC. */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ca_set_refresh(const ca_t *ca, int64_t min_ms)
{
	struct ca_rt *rt = ca->rt;
	int64_t now = mono_ms();
	char err[256];

	if (now - atomic_load(&rt->refreshed_ms) < min_ms ||
	    pthread_mutex_trylock(&rt->refresh_mu) != 0)
		return;
	atomic_store(&rt->refreshed_ms, now);
	if (rt->refresh_reg == NULL &&
	    reg_open_existing(&rt->refresh_reg, ca->db_path, err,
	        sizeof(err)) != REG_OK)
		rt->refresh_reg = NULL;
	/* A failure keeps the current set; the next interval tries again. */
	if (rt->refresh_reg != NULL)
		(void)ca_set_get(ca, rt->refresh_reg, err, sizeof(err));
	pthread_mutex_unlock(&rt->refresh_mu);
}

const char *ca_chain_pem_of(const ca_t *ca, int64_t id)
{
	const struct ca_set *set = ca_set_peek(ca);
	const struct ca_dca *d = ca_set_dca(set, id);

	return d != NULL ? d->chain_pem : ca_set_issuing(set)->chain_pem;
}
