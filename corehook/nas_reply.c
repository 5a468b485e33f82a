/* nas_reply.c — the downlink NAS messages corehook answers with, encoded
 * into the caller's buffer: Registration reject (with the provisioning
 * container and T3346 when there are), the messages without fields, and
 * any message protected in a session's NAS security context. */
#include "ch_ctx.h"

#include <string.h>

#include <openssl/crypto.h>

#include "util.h"

/* Encode m; COREHOOK_ERR_SPACE when it does not fit. */
int ch_nas_encode(uint8_t *out, size_t outcap, size_t *outlen,
    const nas_msg_t *m, char *err, size_t errlen)
{
	int r = nas_encode(out, outcap, outlen, m);

	if (r != NAS_OK) {
		util_err_set(err, errlen, "NAS encode: %s", nas_strerror(r));
		return r == NAS_ERR_SPACE ? COREHOOK_ERR_SPACE : COREHOOK_ERR;
	}
	return COREHOOK_OK;
}

/* Registration reject with cause, T3346 and container (ch_ctx.h). */
int ch_nas_reject(nas_msg_t *m, uint8_t cause, unsigned t3346,
    const uint8_t *container, size_t clen, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_REJECT;
	m->reg_rej.cause = cause;
	if (t3346 > 0) {
		m->reg_rej.has_t3346 = true;
		m->reg_rej.t3346 = nas_gprs_timer_from_seconds(t3346);
	}
	if (container != NULL && clen > 0) {
		if (clen > sizeof(m->reg_rej.payload)) {
			util_err_set(err, errlen, "container too large");
			return COREHOOK_ERR;
		}
		m->reg_rej.has_payload = true;
		m->reg_rej.payload_len = clen;
		memcpy(m->reg_rej.payload, container, clen);
	}
	return ch_nas_encode(out, outcap, outlen, m, err, errlen);
}

/* A message of type without fields. */
int ch_nas_simple(nas_msg_t *m, int type, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	if (type == NAS_MSG_REGISTRATION_ACCEPT)
		m->reg_acc.result = NAS_REG_RESULT_3GPP;
	return ch_nas_encode(out, outcap, outlen, m, err, errlen);
}

/* m encoded and protected in sec with header type hdr. */
int ch_nas_protect(nas_sec_ctx_t *sec, uint8_t hdr, const nas_msg_t *m,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	uint8_t plain[256];
	size_t plen = 0;
	int rc, r;

	if ((rc = ch_nas_encode(plain, sizeof(plain), &plen, m, err, errlen)) !=
	    0)
		return rc;
	r = nas_sec_protect(out, outcap, outlen, sec, hdr, plain, plen);
	OPENSSL_cleanse(plain, sizeof(plain));
	if (r != NAS_SEC_OK) {
		util_err_set(err, errlen, "NAS protect: %s",
		    nas_sec_strerror(r));
		return r == NAS_SEC_ERR_SPACE ? COREHOOK_ERR_SPACE :
		                                COREHOOK_ERR;
	}
	return COREHOOK_OK;
}
