/* corehook.c — the corehook context's small core: open (in named steps:
 * the context, the provisioning signer, the caches in front of the CA, the
 * SUCI home network keys, each allow-list entry's anchor, path cache and
 * fetcher, the subscriber store pool) and close, and the metrics text.
 * The top of the library's layering: it owns what the other files use and
 * none of them calls it (only the daemon, serve.c and main.c, is above). Provisioning is provision.c, 5G-AKA auth.c and
 * nas_auth.c, the sessions session.c. */
#include "ch_ctx.h"

#include <stdlib.h>

#include <curl/curl.h>

#include "aka.h"
#include "pki.h"
#include "util.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

/* libcurl's global state, once per process. */
static void curl_init_once(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* A new context for cfg: session table ready, serving network name
 * formed; everything else is opened by the steps after it. */
static int ctx_new(corehook **out, const corehook_config *cfg,
    corehook_log_fn log, void *logarg, char *err, size_t errlen)
{
	corehook *ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return COREHOOK_ERR;
	}
	ch->cfg = cfg;
	ch->log = log;
	ch->logarg = logarg;
	ch_sessions_init(ch);
	*out = ch;
	if (aka_snn_format(ch->snn, sizeof(ch->snn), cfg->mcc, cfg->mnc) !=
	    AKA_OK) {
		util_err_set(err, errlen,
		    "cannot form the serving network name");
		return COREHOOK_ERR_CONFIG;
	}
	return COREHOOK_OK;
}

/* Per allow-list entry: the trust anchor for its device certificates, the
 * verified issuer path cache and the fetcher of its CA. */
static int allow_entries_open(corehook *ch, char *err, size_t errlen)
{
	const corehook_config *cfg = ch->cfg;
	char perr[256];
	size_t i;

	for (i = 0; i < cfg->allow_count; i++) {
		if (pki_cert_load_file(&ch->anchor[i],
		        cfg->allow[i].trust_anchor, perr,
		        sizeof(perr)) != PKI_OK) {
			util_err_set(err, errlen, "trust anchor of %s: %s",
			    cfg->allow[i].base_url, perr);
			return COREHOOK_ERR_CONFIG;
		}
		if (ch_path_cache_new(&ch->paths[i]) != 0) {
			util_err_set(err, errlen, "out of memory");
			return COREHOOK_ERR;
		}
		if (ch_fetcher_new(&ch->fetch[i], &cfg->allow[i],
		        cfg->fetch_connections, cfg->connect_timeout_ms,
		        cfg->total_timeout_ms, cfg->max_response_bytes, err,
		        errlen) != 0)
			return COREHOOK_ERR;
	}
	return COREHOOK_OK;
}

/* Open a context in its named steps; on failure everything opened so
 * far is closed again (contract in corehook.h). */
int corehook_open(corehook **out, const corehook_config *cfg,
    corehook_log_fn log, void *logarg, char *err, size_t errlen)
{
	corehook *ch = NULL;
	int rc;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok) {
		util_err_set(err, errlen, "libcurl initialisation failed");
		return COREHOOK_ERR;
	}
	if ((rc = ctx_new(&ch, cfg, log, logarg, err, errlen)) != COREHOOK_OK ||
	    (rc = ch_signer_open(ch, err, errlen)) != COREHOOK_OK)
		goto out;
	rc = COREHOOK_ERR;
	if (ch_ca_cache_new(&ch->cache, cfg, err, errlen) != 0)
		goto out;
	if ((rc = ch_suci_open(ch, err, errlen)) != COREHOOK_OK ||
	    (rc = allow_entries_open(ch, err, errlen)) != COREHOOK_OK ||
	    (rc = ch_db_pool_open(ch, err, errlen)) != COREHOOK_OK)
		goto out;
	*out = ch;
	ch = NULL;
out:
	corehook_close(ch);
	return rc;
}

/* Close what each step opened, in reverse; NULL-safe. */
void corehook_close(corehook *ch)
{
	size_t i;

	if (ch == NULL)
		return;
	ch_sessions_close(ch);
	ch_db_pool_close(ch);
	for (i = 0; i < CH_ALLOW_MAX; i++) {
		X509_free(ch->anchor[i]);
		ch_fetcher_free(ch->fetch[i]);
		ch_path_cache_free(ch->paths[i]);
	}
	ch_ca_cache_free(ch->cache);
	ch_suci_close(ch);
	ch_signer_close(ch);
	free(ch);
}

/* The context's metrics as Prometheus text. */
int corehook_metrics_write(corehook *ch, char *buf, size_t cap)
{
	return ch_metrics_format(&ch->metrics, buf, cap);
}
