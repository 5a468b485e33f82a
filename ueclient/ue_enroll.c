/* ue_enroll.c — the factory step: send the device's CSR to ca-server's
 * manufacturer API over mutually authenticated TLS (libcurl, peer and host
 * verification on), check what comes back, store it in the state folder. */
#include "ue.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#define HTTP_BODY_MAX (1024 * 1024)

typedef struct {
	char *data;
	size_t len;
	int overflow;
} body_t;

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	body_t *b = ud;
	size_t n = size * nmemb;
	char *p;

	if (nmemb != 0 && n / nmemb != size)
		return 0;
	if (n > HTTP_BODY_MAX - b->len) {
		b->overflow = 1;
		return 0; /* aborts the transfer */
	}
	p = realloc(b->data, b->len + n + 1);
	if (p == NULL)
		return 0;
	b->data = p;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* One HTTPS request: body_json NULL → GET. Client certificate optional.
 * Returns 0 with *status and the body (NUL-terminated) or UE_ERR_HTTP. */
static int https_do(long *status, body_t *resp, const char *url,
    const char *body_json, const ue_enroll_opts_t *o, const char *cainfo,
    char *err, size_t errlen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	long tmo = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	int rc = UE_ERR_HTTP;

	*status = 0;
	if (c == NULL) {
		util_err_set(err, errlen, "curl_easy_init failed");
		return UE_ERR_NOMEM;
	}
	hdr = curl_slist_append(hdr,
	    body_json != NULL ? "Content-Type: application/json" :
	                        "Accept: */*");
	if (hdr != NULL && body_json != NULL)
		hdr = curl_slist_append(hdr, "Accept: application/json");
	if (hdr == NULL) {
		util_err_set(err, errlen, "out of memory");
		rc = UE_ERR_NOMEM;
		goto done;
	}
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLVERSION,
	        (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    (cainfo != NULL &&
	        curl_easy_setopt(c, CURLOPT_CAINFO, cainfo) != CURLE_OK) ||
	    (cainfo != NULL &&
	        curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK) ||
	    (o->cert_file != NULL &&
	        curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert_file) !=
	            CURLE_OK) ||
	    (o->key_file != NULL &&
	        curl_easy_setopt(c, CURLOPT_SSLKEY, o->key_file) != CURLE_OK) ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, tmo) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, tmo) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write) !=
	        CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp) != CURLE_OK ||
	    (body_json != NULL &&
	        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_json) !=
	            CURLE_OK)) {
		util_err_set(err, errlen,
		    "setting up the HTTPS request failed");
		goto done;
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		util_err_set(err, errlen, "%s: %s", url,
		    resp->overflow      ? "answer larger than 1 MiB" :
		        cerr[0] != '\0' ? cerr :
		                          curl_easy_strerror(cc));
		goto done;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status) != CURLE_OK) {
		util_err_set(err, errlen, "%s: no HTTP status", url);
		goto done;
	}
	rc = UE_OK;
done:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}

/* Parse every certificate in a PEM text into a new stack. */
static STACK_OF(X509) * pem_certs(const char *pem, size_t len)
{
	BIO *in = BIO_new_mem_buf(pem, (int)len);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;

	if (in == NULL || sk == NULL || len > INT32_MAX)
		goto fail;
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			goto fail;
		}
	}
	ERR_clear_error(); /* end of input shows up as an error */
	BIO_free(in);
	return sk;
fail:
	BIO_free(in);
	sk_X509_pop_free(sk, X509_free);
	return NULL;
}

/* Check that cert holds our public key and chains through chain to root,
 * which must be self-signed. */
static int enroll_check(const char *cert_pem, const char *chain_pem,
    const char *root_pem, EVP_PKEY *key, char *err, size_t errlen)
{
	STACK_OF(X509) *leaf = NULL, *chain = NULL, *roots = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509 *root;
	int rc = UE_ERR_CRYPTO;

	leaf = pem_certs(cert_pem, strlen(cert_pem));
	chain = pem_certs(chain_pem, strlen(chain_pem));
	roots = pem_certs(root_pem, strlen(root_pem));
	if (leaf == NULL || chain == NULL || roots == NULL) {
		util_err_set(err, errlen, "out of memory");
		rc = UE_ERR_NOMEM;
		goto done;
	}
	if (sk_X509_num(leaf) != 1 || sk_X509_num(roots) != 1) {
		util_err_set(err, errlen,
		    "expected one device certificate and one "
		    "Root CA certificate (got %d and %d)",
		    sk_X509_num(leaf), sk_X509_num(roots));
		goto done;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(leaf, 0)), key) != 1) {
		util_err_set(err, errlen,
		    "the issued certificate does not carry "
		    "this device's public key");
		goto done;
	}
	root = sk_X509_value(roots, 0);
	if (X509_check_issued(root, root) != X509_V_OK) {
		util_err_set(err, errlen,
		    "the Root CA certificate is not "
		    "self-issued");
		goto done;
	}
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL ||
	    X509_STORE_add_cert(store, root) != 1 ||
	    X509_STORE_CTX_init(ctx, store, sk_X509_value(leaf, 0), chain) !=
	        1) {
		util_err_openssl(err, errlen, "setting up chain verification");
		goto done;
	}
	if (X509_verify_cert(ctx) != 1) {
		util_err_set(err, errlen,
		    "the issued certificate does not chain "
		    "to the Root CA: %s",
		    X509_verify_cert_error_string(
		        X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
		goto done;
	}
	rc = UE_OK;
done:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(leaf, X509_free);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(roots, X509_free);
	return rc;
}

/* Concatenate the "chain" member: a PEM string or an array of PEM strings. */
static int chain_text(char **out, const cJSON *chain, char *err, size_t errlen)
{
	const cJSON *it;
	size_t total = 1, off = 0;

	*out = NULL;
	if (cJSON_IsString(chain)) {
		*out = strdup(chain->valuestring);
		return *out != NULL ? UE_OK : UE_ERR_NOMEM;
	}
	if (!cJSON_IsArray(chain)) {
		util_err_set(err, errlen,
		    "\"chain\" is neither PEM nor a list");
		return UE_ERR_PROTO;
	}
	cJSON_ArrayForEach(it, chain)
	{
		if (!cJSON_IsString(it)) {
			util_err_set(err, errlen,
			    "\"chain\" holds a non-string");
			return UE_ERR_PROTO;
		}
		total += strlen(it->valuestring) + 1;
	}
	*out = malloc(total);
	if (*out == NULL)
		return UE_ERR_NOMEM;
	cJSON_ArrayForEach(it, chain)
	{
		size_t n = strlen(it->valuestring);

		memcpy(*out + off, it->valuestring, n);
		off += n;
		if (n > 0 && it->valuestring[n - 1] != '\n')
			(*out)[off++] = '\n';
	}
	(*out)[off] = '\0';
	return UE_OK;
}

/* Strip trailing slashes from the CA base URL into buf. */
static int base_url(char *buf, size_t cap, const char *url)
{
	size_t n = strlen(url);

	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n == 0 || n >= cap || strncmp(url, "https://", 8) != 0)
		return UE_ERR_ARG;
	memcpy(buf, url, n);
	buf[n] = '\0';
	return UE_OK;
}

static int store_file(const char *dir, const char *name, const char *text,
    char *err, size_t errlen)
{
	char path[4096];

	if (ue_state_path(path, sizeof(path), dir, name) != 0) {
		util_err_set(err, errlen, "state path too long");
		return UE_ERR_ARG;
	}
	return ue_file_write_atomic(path, text, strlen(text), 0644, err,
	    errlen);
}

/* POST the enrollment request (CSR and the device's attributes) and
 * parse the answer into *ans; 0, UE_ERR_HTTP (refused, with the problem's
 * title) or another error, err set. */
static int enroll_post(cJSON **ans, const char *base, const char *csr,
    const ue_device_t *dev, const ue_enroll_opts_t *o, const char *cainfo,
    char *err, size_t errlen)
{
	char url[UE_URL_MAX + 64], *req_text = NULL;
	body_t resp = { 0 };
	cJSON *req = cJSON_CreateObject();
	const cJSON *t;
	long status = 0;
	int rc = UE_ERR_NOMEM;

	*ans = NULL;
	if (req == NULL || cJSON_AddStringToObject(req, "csr", csr) == NULL ||
	    cJSON_AddStringToObject(req, "serial", dev->serial) == NULL ||
	    cJSON_AddStringToObject(req, "model", dev->model) == NULL ||
	    (dev->hardware_version[0] != '\0' &&
	        cJSON_AddStringToObject(req, "hardware_version",
	            dev->hardware_version) == NULL) ||
	    (req_text = cJSON_PrintUnformatted(req)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	snprintf(url, sizeof(url), "%s/api/v1/devices", base);
	if ((rc = https_do(&status, &resp, url, req_text, o, cainfo, err,
	         errlen)) != 0)
		goto out;
	*ans = resp.data != NULL ? cJSON_Parse(resp.data) : NULL;
	if (status != 201 && status != 200) {
		t = cJSON_GetObjectItemCaseSensitive(*ans, "title");
		util_err_set(err, errlen, "enrollment refused: HTTP %ld%s%s",
		    status, cJSON_IsString(t) ? ": " : "",
		    cJSON_IsString(t) ? t->valuestring : "");
		cJSON_Delete(*ans);
		*ans = NULL;
		rc = UE_ERR_HTTP;
		goto out;
	}
	rc = UE_OK;
out:
	cJSON_Delete(req);
	cJSON_free(req_text);
	free(resp.data);
	return rc;
}

/* The Root certificate: the given file, or fetched from the CA over the
 * same verified TLS without a client certificate (the Root is public). */
static int enroll_root(char **root, const char *base, const ue_enroll_opts_t *o,
    const char *cainfo, char *err, size_t errlen)
{
	ue_enroll_opts_t anon = *o;
	char url[UE_URL_MAX + 64];
	body_t resp = { 0 };
	long status = 0;
	int rc;

	*root = NULL;
	if (o->root_file != NULL)
		return ue_file_read(root, NULL, o->root_file, 65536, err,
		    errlen);
	anon.cert_file = NULL;
	anon.key_file = NULL;
	snprintf(url, sizeof(url), "%s/ca/root.pem", base);
	if ((rc = https_do(&status, &resp, url, NULL, &anon, cainfo, err,
	         errlen)) != 0)
		goto out;
	if (status != 200 || resp.data == NULL) {
		util_err_set(err, errlen, "%s: HTTP %ld", url, status);
		rc = UE_ERR_HTTP;
		goto out;
	}
	*root = resp.data;
	resp.data = NULL;
out:
	free(resp.data);
	return rc;
}

/* Store what enrollment brought: extra CA certificates when asked, the
 * certificate, its chain and the Root. */
static int enroll_store(const char *dir, const ue_enroll_opts_t *o,
    const char *cert, const char *chain, const char *root, char *err,
    size_t errlen)
{
	char *extra = NULL;
	int rc;

	if (o->ca_certs_file != NULL) {
		if ((rc = ue_file_read(&extra, NULL, o->ca_certs_file, 262144,
		         err, errlen)) != 0)
			return rc;
		rc = store_file(dir, UE_F_CACERTS, extra, err, errlen);
		free(extra);
		if (rc != 0)
			return rc;
	}
	if ((rc = store_file(dir, UE_F_CERT, cert, err, errlen)) != 0 ||
	    (rc = store_file(dir, UE_F_CHAIN, chain, err, errlen)) != 0)
		return rc;
	return store_file(dir, UE_F_ROOT, root, err, errlen);
}

int ue_enroll(ue_device_t *out, const char *dir, const ue_enroll_opts_t *o,
    char *err, size_t errlen)
{
	char base[UE_URL_MAX + 1], path[4096];
	char *csr = NULL, *chain = NULL, *root = NULL;
	const char *cainfo;
	cJSON *ans = NULL;
	const cJSON *j_id, *j_url, *j_cert, *j_chain;
	EVP_PKEY *key = NULL;
	int rc;

	if ((rc = ue_device_load(out, dir, err, errlen)) != 0)
		return rc;
	if (out->device_id[0] != '\0') {
		if (ue_state_path(path, sizeof(path), dir, UE_F_CERT) == 0 &&
		    access(path, R_OK) == 0)
			return UE_OK; /* already enrolled: nothing to do */
	}
	if (o->ca_url == NULL || base_url(base, sizeof(base), o->ca_url) != 0) {
		util_err_set(err, errlen,
		    "the CA URL must be https://host:port");
		return UE_ERR_ARG;
	}
	cainfo = o->tls_ca != NULL ? o->tls_ca : o->root_file;
	if ((rc = ue_key_load((void **)&key, dir, err, errlen)) != 0)
		goto done;
	if ((rc = ue_state_path(path, sizeof(path), dir, UE_F_CSR)) != 0 ||
	    (rc = ue_file_read(&csr, NULL, path, 65536, err, errlen)) != 0 ||
	    (rc = enroll_post(&ans, base, csr, out, o, cainfo, err, errlen)) !=
	        0)
		goto done;
	rc = UE_ERR_PROTO;
	j_id = cJSON_GetObjectItemCaseSensitive(ans, "device_id");
	j_url = cJSON_GetObjectItemCaseSensitive(ans, "certificate_url");
	j_cert = cJSON_GetObjectItemCaseSensitive(ans, "certificate");
	j_chain = cJSON_GetObjectItemCaseSensitive(ans, "chain");
	if (!cJSON_IsString(j_id) || !ue_id_valid(j_id->valuestring) ||
	    !cJSON_IsString(j_url) || strlen(j_url->valuestring) > UE_URL_MAX ||
	    strncmp(j_url->valuestring, "https://", 8) != 0 ||
	    !cJSON_IsString(j_cert) || j_chain == NULL) {
		util_err_set(err, errlen,
		    "enrollment answer lacks a valid "
		    "device_id, certificate_url, certificate or chain");
		goto done;
	}
	if ((rc = chain_text(&chain, j_chain, err, errlen)) != 0 ||
	    (rc = enroll_root(&root, base, o, cainfo, err, errlen)) != 0 ||
	    (rc = enroll_check(j_cert->valuestring, chain, root, key, err,
	         errlen)) != 0 ||
	    (rc = enroll_store(dir, o, j_cert->valuestring, chain, root, err,
	         errlen)) != 0)
		goto done;
	snprintf(out->device_id, sizeof(out->device_id), "%s",
	    j_id->valuestring);
	snprintf(out->certificate_url, sizeof(out->certificate_url), "%s",
	    j_url->valuestring);
	rc = ue_device_store(out, dir, err, errlen);
done:
	EVP_PKEY_free(key);
	cJSON_Delete(ans);
	free(csr);
	free(chain);
	free(root);
	return rc;
}
