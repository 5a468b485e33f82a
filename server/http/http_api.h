/* http_api.h — helpers shared by the API handler files (devices,
 * principals and audit, public CA files). */
#ifndef PROVCA_HTTP_API_H
#define PROVCA_HTTP_API_H

#include <stddef.h>
#include <stdint.h>

#include "http_int.h"

#define PT_FIELD "invalid-field"
#define PT_QUERY "invalid-query"

/* Longest CSR text accepted in a request, bytes. */
#define API_CSR_MAX (16 * 1024)

/* String member name of obj into *out (borrowed). Absent and !required:
 * *out = NULL, 0. Otherwise a 422 problem is sent and its status returned
 * when it is missing, not a string, empty or longer than maxlen. */
int api_json_string(const char **out, http_req_t *req, const struct cJSON *obj,
    const char *name, size_t maxlen, int required);

/* 0 if pem is a PKCS#10 request whose self-signature verifies; -1 with a
 * reason in err otherwise. */
int api_csr_check(const char *pem, char *err, size_t errlen);

/* api_csr_check for a device request, through the engine's fast path
 * (ca_csr_read), keeping the parsed request in *out (ca_csr_free) so the
 * engine need not decode and verify it again (ca_issue_item_t). */
int api_csr_parse(ca_csr_t **out, const ca_t *ca, const char *pem, char *err,
    size_t errlen);

/* The problem detail of a refused CSR (enum ca_csr_refusal). */
const char *api_csr_refusal(int why);

/* Unix time as "YYYY-MM-DDTHH:MM:SSZ". */
void api_time_iso(char *out, size_t outlen, int64_t t);

/* Add t to obj as an ISO 8601 string (null when t <= 0). 0 or -1. */
int api_add_time(struct cJSON *obj, const char *name, int64_t t);

/* Add the page's "next_cursor" to obj: next as a decimal string, null when
 * next <= 0 (no further page). 0 or -1. */
int api_add_cursor(struct cJSON *obj, int64_t next);

/* cursor= and limit= of the query (limit 1..1000, default 100). Returns 0
 * or the status of the 400 problem sent. */
int api_page_params(int64_t *after, size_t *limit, http_req_t *req);

/* 1 if the If-None-Match value inm lists etag (or "*"). */
int api_etag_matches(const char *inm, const char *etag);

/* Answer a CA engine error code with the matching problem. */
int api_reply_ca_error(http_req_t *req, int rc, const char *err);

/* 503: the thread's registry connection could not be opened. */
int api_reply_no_db(http_req_t *req);

/* The security context document of d (the operator's JSON lookup); it
 * borrows d's strings, so d must outlive it. NULL when out of memory
 * (http_api_context.c). */
struct cJSON *api_security_context(http_server *srv, const ca_device_t *d);

/* Add member key (a literal) with the string s, which outlives obj: no
 * copy of either. 0, or -1 when out of memory. */
int api_add_ref(struct cJSON *obj, const char *key, const char *s);

/* Add "chain" (chain_pem, which outlives doc) to doc, pre-rendered once per
 * server for the server's chain. 0, or -1 when out of memory. */
int api_add_chain(struct cJSON *doc, http_server *srv, const char *chain_pem);

/* Parse a time query value: RFC 3339 ("2024-05-01T12:00:00Z", offsets and
 * fractions accepted, fractions dropped) or Unix seconds (digits only).
 * 0 and *out set, or -1 when it is neither. */
int api_time_parse(int64_t *out, const char *s);

/* Device handlers: http_api_lookup.c, http_api_enroll.c,
 * http_api_device_list.c, http_api_device_status.c. */
int route_device_lookup(http_req_t *req);
int route_device_enroll(http_req_t *req);
int route_device_batch(http_req_t *req);
int route_device_list(http_req_t *req);
int route_device_revoke(http_req_t *req);
int route_device_suspend(http_req_t *req);
int route_device_reinstate(http_req_t *req);

/* Handlers of http_api_history.c, http_api_admin.c, http_api_public.c and
 * http_api_cmp.c. */
int route_device_read(http_req_t *req);
int route_ca_infra(http_req_t *req);
int route_ca_device_der(http_req_t *req);
int route_ca_root_der(http_req_t *req);
int route_ocsp(http_req_t *req);
int route_ocsp_get(http_req_t *req);
int route_cmp(http_req_t *req);
int route_cmp_pbm(http_req_t *req);
int route_cmp_secret_create(http_req_t *req);
int route_principal_list(http_req_t *req);
int route_principal_create(http_req_t *req);
int route_principal_disable(http_req_t *req);
int route_principal_revoke(http_req_t *req);
int route_principal_renew(http_req_t *req);
int route_self_renew(http_req_t *req);
int route_audit_list(http_req_t *req);
int route_ca_root(http_req_t *req);
int route_ca_device(http_req_t *req);
int route_ca_chain(http_req_t *req);
int route_crl(http_req_t *req);
int route_crl_infra(http_req_t *req);
int route_crl_root(http_req_t *req);
int route_ca_device_n_der(http_req_t *req);
int route_crl_device_n(http_req_t *req);
/* GET /crl/infra-ca-{id}.crl: a later Infrastructure CA's CRL (DER). */
int route_crl_infra_n(http_req_t *req);
int route_healthz(http_req_t *req);
int route_metrics(http_req_t *req);

#endif
