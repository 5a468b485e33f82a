/* signer.c — the provisioning signer of a corehook context: its key (file
 * or PKCS#11), its certificate and the intermediates every container
 * carries, checked once at open (key matches, signer EKU, chain complete
 * and, when the Root is at hand, verified) and prepared for signing. */
#include "ch_ctx.h"

#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "prov.h"
#include "util.h"

/* Move every certificate of the PEM file at path onto pool. */
static int pool_add_file(STACK_OF(X509) * pool, const char *path, char *err,
    size_t errlen)
{
	STACK_OF(X509) *s = NULL;
	X509 *x;

	if (pki_chain_load_file(&s, path, err, errlen) != PKI_OK)
		return -1;
	while ((x = sk_X509_shift(s)) != NULL) {
		if (!sk_X509_push(pool, x)) {
			X509_free(x);
			sk_X509_pop_free(s, X509_free);
			util_err_set(err, errlen, "out of memory");
			return -1;
		}
	}
	sk_X509_free(s);
	return 0;
}

/*
 * Load the signer certificate (the first in signer.cert) and the
 * intermediates the container carries: from the certificates after it in
 * the same file and from signer.chain, follow issuers up from the signer,
 * stop at a self-issued certificate (the Root is never carried). Files may
 * list them in any order (ca-server's NAME-chain.pem is Infra CA, Root).
 */
static int signer_chain_load(corehook *ch, const corehook_config *cfg,
    char *err, size_t errlen)
{
	STACK_OF(X509) *pool = NULL;
	X509 *cur, *x;
	int i, found, rc = -1;

	if ((pool = sk_X509_new_null()) == NULL ||
	    (ch->signer_chain = sk_X509_new_null()) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto done;
	}
	if (pool_add_file(pool, cfg->signer_cert, err, errlen) != 0 ||
	    (cfg->signer_chain[0] != '\0' &&
	        pool_add_file(pool, cfg->signer_chain, err, errlen) != 0))
		goto done;
	ch->signer_cert = sk_X509_shift(pool);
	cur = ch->signer_cert;
	do {
		found = 0;
		for (i = 0; i < sk_X509_num(pool); i++) {
			x = sk_X509_value(pool, i);
			if (X509_check_issued(x, cur) != X509_V_OK ||
			    X509_check_issued(x, x) == X509_V_OK)
				continue;
			if (sk_X509_num(ch->signer_chain) >=
			    PROV_CHAIN_MAX - 1) {
				util_err_set(err, errlen,
				    "signer chain longer "
				    "than %d intermediates",
				    PROV_CHAIN_MAX - 1);
				goto done;
			}
			(void)sk_X509_delete(pool, i);
			if (!sk_X509_push(ch->signer_chain, x)) {
				X509_free(x);
				util_err_set(err, errlen, "out of memory");
				goto done;
			}
			cur = x;
			found = 1;
			break;
		}
	} while (found);
	/* Fail closed: a signer the devices cannot chain to their Root would
	 * make every container useless. A self-signed signer is its own root;
	 * otherwise the chain must be complete, and when the files also hold
	 * the Root, the whole chain is verified now, as a device will. */
	if (X509_self_signed(ch->signer_cert, 1) != 1) {
		X509 *root = NULL;

		for (i = 0; i < sk_X509_num(pool); i++) {
			x = sk_X509_value(pool, i);
			if (X509_check_issued(x, x) == X509_V_OK &&
			    X509_check_issued(x, cur) == X509_V_OK)
				root = x;
		}
		if (root == NULL && sk_X509_num(ch->signer_chain) == 0) {
			util_err_set(err, errlen,
			    "the signer certificate's "
			    "issuer is in neither signer.cert nor signer.chain; "
			    "set signer.chain to the file with its Infrastructure "
			    "CA and Root (ca-server writes NAME-chain.pem)");
			goto done;
		}
		if (root != NULL &&
		    pki_cert_verify(ch->signer_cert, root, ch->signer_chain,
		        (int64_t)time(NULL), PROVCA_OID_EKU_SIGNER, err,
		        errlen) != PKI_OK)
			goto done;
	}
	rc = 0;
done:
	ERR_clear_error();
	sk_X509_pop_free(pool, X509_free);
	return rc;
}

/* Load and check the signer once (contract in ch_ctx.h). */
int ch_signer_open(corehook *ch, char *err, size_t errlen)
{
	const corehook_config *cfg = ch->cfg;
	char perr[256];

	if (pki_signing_key_open(&ch->signer_key, cfg->signer_key, NULL, NULL,
	        &cfg->signer_token, perr, sizeof(perr)) != PKI_OK ||
	    signer_chain_load(ch, cfg, perr, sizeof(perr)) != 0) {
		util_err_set(err, errlen, "provisioning signer: %s", perr);
		return COREHOOK_ERR_CONFIG;
	}
	if (X509_check_private_key(ch->signer_cert, ch->signer_key) != 1) {
		util_err_openssl(err, errlen,
		    "signer key does not match its"
		    " certificate");
		return COREHOOK_ERR_CONFIG;
	}
	if (!pki_cert_has_eku(ch->signer_cert, PROVCA_OID_EKU_SIGNER)) {
		util_err_set(err, errlen,
		    "signer certificate lacks the"
		    " provisioning-signer EKU");
		return COREHOOK_ERR_CONFIG;
	}
	/* The key check and the chain's DER, once rather than per container. */
	if (prov_signer_new(&ch->signer, ch->signer_key, ch->signer_cert,
	        ch->signer_chain, perr, sizeof(perr)) != PROV_OK) {
		util_err_set(err, errlen, "provisioning signer: %s", perr);
		return COREHOOK_ERR_CONFIG;
	}
	ch_log(ch, COREHOOK_LOG_INFO,
	    "signer %s: containers carry %d "
	    "intermediate(s); key custody %s%s%s",
	    cfg->signer_cert, sk_X509_num(ch->signer_chain),
	    pki_custody_name(pki_key_custody(cfg->signer_key, NULL)),
	    pki_key_ref_is_pkcs11(cfg->signer_key) ? " " : "",
	    pki_key_ref_is_pkcs11(cfg->signer_key) ? cfg->signer_key : "");
	return COREHOOK_OK;
}

/* Free the signer's key, certificates and prepared signer. */
void ch_signer_close(corehook *ch)
{
	prov_signer_free(ch->signer);
	EVP_PKEY_free(ch->signer_key);
	X509_free(ch->signer_cert);
	sk_X509_pop_free(ch->signer_chain, X509_free);
	ch->signer = NULL;
	ch->signer_key = NULL;
	ch->signer_cert = NULL;
	ch->signer_chain = NULL;
}
