/* nas.c — encoder and decoder for the plain 5GMM messages of nas.h (their
 * security-protected form is common/nas_sec.c's), following
 * TS 24.501 §8/§9 and TS 24.007 §11.2.4 (IE formats). */
#include "nas.h"

#include <stdio.h>
#include <string.h>

/* IE formats (TS 24.007 §11.2.1.1). */
enum {
	F_T1,   /* one octet: half-octet IEI + half-octet value, or T */
	F_TV,   /* IEI + fixed-length value */
	F_TLV,  /* IEI + 1-octet length + value */
	F_TLVE, /* IEI + 2-octet length + value */
};

/* An optional IE a message knows: its IEI (high nibble only for F_T1),
 * format, and for F_TV the value length. */
struct ie_spec {
	uint8_t iei;
	int fmt;
	size_t fixed;
};

/* Optional IE IEIs ProvCA handles. */
#define IEI_PAYLOAD_TYPE 0x80 /* half-octet IEI 0x8- */
#define IEI_PAYLOAD 0x7B
#define IEI_GUTI 0x77
#define IEI_T3346 0x5F
#define IEI_RAND 0x21
#define IEI_AUTN 0x20
#define IEI_RES_STAR 0x2D
#define IEI_AUTS 0x30
#define IEI_UE_SEC_CAP 0x2E
#define IEI_ABBA 0x38

#define SUCI_FIXED_LEN 8 /* octets before the scheme output */
#define GUTI_LEN 11

/* ---- writer ---------------------------------------------------------- */

struct wbuf {
	uint8_t *p;
	size_t cap;
	size_t off;
	int err;
};

static void put_u8(struct wbuf *w, uint8_t v)
{
	if (w->err != 0)
		return;
	if (w->off >= w->cap) {
		w->err = NAS_ERR_SPACE;
		return;
	}
	w->p[w->off++] = v;
}

static void put_bytes(struct wbuf *w, const uint8_t *v, size_t n)
{
	if (w->err != 0)
		return;
	if (n > w->cap - w->off) {
		w->err = NAS_ERR_SPACE;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->off, v, n);
	w->off += n;
}

static void put_u16(struct wbuf *w, size_t v)
{
	put_u8(w, (uint8_t)(v >> 8));
	put_u8(w, (uint8_t)v);
}

/* ---- BCD helpers ----------------------------------------------------- */

static bool is_digits(const char *s, size_t min, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Digit i of s, or 0xF past its end. */
static uint8_t digit_or_f(const char *s, size_t i)
{
	size_t n = strlen(s);

	return i < n ? (uint8_t)(s[i] - '0') : 0x0F;
}

/* Encode MCC/MNC as the three PLMN octets (TS 24.008 10.5.1.13 layout). */
static int put_plmn(struct wbuf *w, const char *mcc, const char *mnc)
{
	if (!is_digits(mcc, 3, 3) || !is_digits(mnc, 2, 3))
		return NAS_ERR_BAD_VALUE;
	put_u8(w, (uint8_t)(digit_or_f(mcc, 1) << 4 | digit_or_f(mcc, 0)));
	put_u8(w, (uint8_t)(digit_or_f(mnc, 2) << 4 | digit_or_f(mcc, 2)));
	put_u8(w, (uint8_t)(digit_or_f(mnc, 1) << 4 | digit_or_f(mnc, 0)));
	return 0;
}

/* Decode the three PLMN octets at p into mcc (3 digits) and mnc (2-3). */
static int get_plmn(char mcc[4], char mnc[4], const uint8_t *p)
{
	uint8_t d[6] = {
		p[0] & 0x0F, p[0] >> 4, p[1] & 0x0F, /* MCC 1..3 */
		p[2] & 0x0F, p[2] >> 4, p[1] >> 4,   /* MNC 1..3 */
	};

	for (int i = 0; i < 5; i++)
		if (d[i] > 9)
			return NAS_ERR_BAD_VALUE;
	if (d[5] > 9 && d[5] != 0x0F)
		return NAS_ERR_BAD_VALUE;
	for (int i = 0; i < 3; i++)
		mcc[i] = (char)('0' + d[i]);
	mcc[3] = '\0';
	mnc[0] = (char)('0' + d[3]);
	mnc[1] = (char)('0' + d[4]);
	mnc[2] = d[5] == 0x0F ? '\0' : (char)('0' + d[5]);
	mnc[3] = '\0';
	return 0;
}

/* Decode n BCD octets (low nibble first) into out (capacity outcap incl.
 * NUL). Digits end at the first 0xF nibble, which may only be followed by
 * further 0xF nibbles; at least min digits are required. */
static int get_bcd(char *out, size_t outcap, const uint8_t *p, size_t n,
    size_t min)
{
	size_t nd = 0;
	bool ended = false;

	for (size_t i = 0; i < 2 * n; i++) {
		uint8_t d = (i & 1) ? p[i / 2] >> 4 : p[i / 2] & 0x0F;

		if (d == 0x0F) {
			ended = true;
			continue;
		}
		if (ended || d > 9)
			return NAS_ERR_BAD_VALUE;
		if (nd + 1 >= outcap)
			return NAS_ERR_BAD_LENGTH;
		out[nd++] = (char)('0' + d);
	}
	out[nd] = '\0';
	return nd < min ? NAS_ERR_BAD_VALUE : 0;
}

/* ---- mobile identity ------------------------------------------------- */

/* Encode the value part of a 5GS mobile identity (TS 24.501 9.11.3.4). */
static int put_mobile_id(struct wbuf *w, const nas_mobile_id_t *id)
{
	int rc;

	switch (id->kind) {
	case NAS_ID_NONE: put_u8(w, 0x00); return 0;
	case NAS_ID_SUCI: {
		const nas_suci_t *s = &id->suci;
		size_t nm;

		if (s->scheme > 2)
			return NAS_ERR_UNSUPPORTED;
		if (!is_digits(s->routing, 1, 4) ||
		    (s->scheme == 0 && !is_digits(s->msin, 1, NAS_MSIN_MAX)) ||
		    (s->scheme != 0 &&
		        (s->out_len == 0 || s->out_len > NAS_SUCI_OUT_MAX)))
			return NAS_ERR_BAD_VALUE;
		put_u8(w, 0x01); /* SUPI format IMSI, type SUCI */
		if ((rc = put_plmn(w, s->mcc, s->mnc)) != 0)
			return rc;
		put_u8(w,
		    (uint8_t)(digit_or_f(s->routing, 1) << 4 |
		        digit_or_f(s->routing, 0)));
		put_u8(w,
		    (uint8_t)(digit_or_f(s->routing, 3) << 4 |
		        digit_or_f(s->routing, 2)));
		put_u8(w, s->scheme & 0x0F);
		put_u8(w, s->hnpki);
		if (s->scheme != 0) {
			put_bytes(w, s->out, s->out_len);
			return 0;
		}
		nm = strlen(s->msin);
		for (size_t i = 0; i < nm; i += 2)
			put_u8(w,
			    (uint8_t)(digit_or_f(s->msin, i + 1) << 4 |
			        digit_or_f(s->msin, i)));
		return 0;
	}
	case NAS_ID_GUTI: {
		const nas_guti_t *g = &id->guti;

		if (g->amf_set > 0x3FF || g->amf_pointer > 0x3F)
			return NAS_ERR_BAD_VALUE;
		put_u8(w, 0xF2); /* spare 1111, even, type 5G-GUTI */
		if ((rc = put_plmn(w, g->mcc, g->mnc)) != 0)
			return rc;
		put_u8(w, g->amf_region);
		put_u8(w, (uint8_t)(g->amf_set >> 2));
		put_u8(w, (uint8_t)((g->amf_set & 0x03) << 6 | g->amf_pointer));
		put_u8(w, (uint8_t)(g->tmsi >> 24));
		put_u8(w, (uint8_t)(g->tmsi >> 16));
		put_u8(w, (uint8_t)(g->tmsi >> 8));
		put_u8(w, (uint8_t)g->tmsi);
		return 0;
	}
	default: return NAS_ERR_BAD_VALUE;
	}
}

/* Length of the encoded mobile identity value, 0 if id cannot be encoded. */
static size_t mobile_id_len(const nas_mobile_id_t *id)
{
	switch (id->kind) {
	case NAS_ID_NONE: return 1;
	case NAS_ID_SUCI:
		if (id->suci.scheme != 0)
			return SUCI_FIXED_LEN + id->suci.out_len;
		return SUCI_FIXED_LEN +
		    (strnlen(id->suci.msin, NAS_MSIN_MAX + 1) + 1) / 2;
	case NAS_ID_GUTI: return GUTI_LEN;
	default: return 0;
	}
}

static int get_guti(nas_guti_t *g, const uint8_t *p, size_t n)
{
	int rc;

	if (n != GUTI_LEN)
		return NAS_ERR_BAD_LENGTH;
	if ((p[0] & 0x07) != NAS_ID_GUTI)
		return NAS_ERR_BAD_VALUE;
	if ((rc = get_plmn(g->mcc, g->mnc, p + 1)) != 0)
		return rc;
	g->amf_region = p[4];
	g->amf_set = (uint16_t)(p[5] << 2 | p[6] >> 6);
	g->amf_pointer = p[6] & 0x3F;
	g->tmsi = (uint32_t)p[7] << 24 | (uint32_t)p[8] << 16 |
	    (uint32_t)p[9] << 8 | p[10];
	return 0;
}

static int get_mobile_id(nas_mobile_id_t *id, const uint8_t *p, size_t n)
{
	int rc;

	if (n < 1)
		return NAS_ERR_BAD_LENGTH;
	switch (p[0] & 0x07) {
	case 0:
		if (n != 1)
			return NAS_ERR_BAD_LENGTH;
		id->kind = NAS_ID_NONE;
		return 0;
	case 1: {
		nas_suci_t *s = &id->suci;

		if (((p[0] >> 4) & 0x07) != 0) /* SUPI format NAI */
			return NAS_ERR_UNSUPPORTED;
		if (n < SUCI_FIXED_LEN + 1)
			return NAS_ERR_BAD_LENGTH;
		if ((p[6] & 0x0F) > 2)
			return NAS_ERR_UNSUPPORTED;
		if (n > SUCI_FIXED_LEN +
		        ((p[6] & 0x0F) == 0 ? (NAS_MSIN_MAX + 1) / 2 :
		                              NAS_SUCI_OUT_MAX))
			return NAS_ERR_BAD_LENGTH;
		if ((rc = get_plmn(s->mcc, s->mnc, p + 1)) != 0)
			return rc;
		if ((rc = get_bcd(s->routing, sizeof(s->routing), p + 4, 2,
		         1)) != 0)
			return rc;
		s->scheme = p[6] & 0x0F;
		s->hnpki = p[7];
		if (s->scheme != 0) { /* ECIES output: opened by suci.c */
			s->out_len = n - SUCI_FIXED_LEN;
			memcpy(s->out, p + SUCI_FIXED_LEN, s->out_len);
			id->kind = NAS_ID_SUCI;
			return 0;
		}
		/* the scheme output must be exactly the MSIN: a filler
		 * nibble is allowed only in the high half of its last octet */
		if ((rc = get_bcd(s->msin, sizeof(s->msin), p + SUCI_FIXED_LEN,
		         n - SUCI_FIXED_LEN, 1)) != 0)
			return rc;
		if ((strlen(s->msin) + 1) / 2 != n - SUCI_FIXED_LEN)
			return NAS_ERR_BAD_VALUE;
		id->kind = NAS_ID_SUCI;
		return 0;
	}
	case 2:
		if ((rc = get_guti(&id->guti, p, n)) != 0)
			return rc;
		id->kind = NAS_ID_GUTI;
		return 0;
	default: return NAS_ERR_UNSUPPORTED;
	}
}

/* ---- encoder --------------------------------------------------------- */

static bool known_type(int type)
{
	switch (type) {
	case NAS_MSG_REGISTRATION_REQUEST:
	case NAS_MSG_REGISTRATION_ACCEPT:
	case NAS_MSG_REGISTRATION_REJECT:
	case NAS_MSG_AUTH_REQUEST:
	case NAS_MSG_AUTH_RESPONSE:
	case NAS_MSG_AUTH_REJECT:
	case NAS_MSG_AUTH_FAILURE:
	case NAS_MSG_REGISTRATION_COMPLETE:
	case NAS_MSG_SECURITY_MODE_COMMAND:
	case NAS_MSG_SECURITY_MODE_COMPLETE:
	case NAS_MSG_SECURITY_MODE_REJECT: return true;
	default: return false;
	}
}

static int put_payload(struct wbuf *w, const uint8_t *payload, size_t len)
{
	if (len == 0)
		return NAS_ERR_BAD_LENGTH;
	if (len > NAS_PAYLOAD_MAX)
		return NAS_ERR_TOO_LONG;
	put_u8(w, IEI_PAYLOAD);
	put_u16(w, len);
	put_bytes(w, payload, len);
	return 0;
}

static int ngksi_ok(const nas_ngksi_t *k)
{
	return k->tsc <= 1 && k->ksi <= 7;
}

static uint8_t ngksi_nibble(const nas_ngksi_t *k)
{
	return (uint8_t)(k->tsc << 3 | k->ksi);
}

static int enc_reg_request(struct wbuf *w, const nas_reg_request_t *m)
{
	size_t idlen;
	int rc;

	if (m->reg_type > 7 || m->follow_on > 1 || !ngksi_ok(&m->ngksi))
		return NAS_ERR_BAD_VALUE;
	put_u8(w,
	    (uint8_t)(ngksi_nibble(&m->ngksi) << 4 | m->follow_on << 3 |
	        m->reg_type));
	if ((idlen = mobile_id_len(&m->id)) == 0)
		return NAS_ERR_BAD_VALUE;
	put_u16(w, idlen);
	if ((rc = put_mobile_id(w, &m->id)) != 0)
		return rc;
	if (m->has_ue_sec_cap) {
		if (m->ue_sec_cap_len < 2 ||
		    m->ue_sec_cap_len > NAS_UE_SEC_CAP_MAX)
			return NAS_ERR_BAD_LENGTH;
		put_u8(w, IEI_UE_SEC_CAP);
		put_u8(w, (uint8_t)m->ue_sec_cap_len);
		put_bytes(w, m->ue_sec_cap, m->ue_sec_cap_len);
	}
	if (m->has_payload) {
		if (m->payload_type > 0x0F)
			return NAS_ERR_BAD_VALUE;
		put_u8(w, (uint8_t)(IEI_PAYLOAD_TYPE | m->payload_type));
		return put_payload(w, m->payload, m->payload_len);
	}
	return 0;
}

static int enc_reg_accept(struct wbuf *w, const nas_reg_accept_t *m)
{
	nas_mobile_id_t id;

	put_u8(w, 1);
	put_u8(w, m->result);
	if (m->has_guti) {
		memset(&id, 0, sizeof(id));
		id.kind = NAS_ID_GUTI;
		id.guti = m->guti;
		put_u8(w, IEI_GUTI);
		put_u16(w, GUTI_LEN);
		return put_mobile_id(w, &id);
	}
	return 0;
}

static int enc_reg_reject(struct wbuf *w, const nas_reg_reject_t *m)
{
	put_u8(w, m->cause);
	if (m->has_t3346) {
		put_u8(w, IEI_T3346);
		put_u8(w, 1);
		put_u8(w, m->t3346);
	}
	if (m->has_payload)
		return put_payload(w, m->payload, m->payload_len);
	return 0;
}

static int enc_auth_request(struct wbuf *w, const nas_auth_request_t *m)
{
	if (!ngksi_ok(&m->ngksi))
		return NAS_ERR_BAD_VALUE;
	if (m->abba_len < 2 || m->abba_len > NAS_ABBA_MAX)
		return NAS_ERR_BAD_LENGTH;
	put_u8(w, ngksi_nibble(&m->ngksi)); /* spare half octet above */
	put_u8(w, (uint8_t)m->abba_len);
	put_bytes(w, m->abba, m->abba_len);
	put_u8(w, IEI_RAND);
	put_bytes(w, m->rand, NAS_RAND_LEN);
	put_u8(w, IEI_AUTN);
	put_u8(w, NAS_AUTN_LEN);
	put_bytes(w, m->autn, NAS_AUTN_LEN);
	return 0;
}

static int enc_auth_failure(struct wbuf *w, const nas_auth_failure_t *m)
{
	/* AUTS travels exactly with a synch failure (TS 24.501 8.2.4.2) */
	if (m->has_auts != (m->cause == NAS_CAUSE_SYNCH_FAILURE))
		return NAS_ERR_BAD_VALUE;
	put_u8(w, m->cause);
	if (m->has_auts) {
		put_u8(w, IEI_AUTS);
		put_u8(w, NAS_AUTS_LEN);
		put_bytes(w, m->auts, NAS_AUTS_LEN);
	}
	return 0;
}

static int enc_smc(struct wbuf *w, const nas_smc_t *m)
{
	if (!ngksi_ok(&m->ngksi) || m->enc_alg > 0x0F || m->int_alg > 0x0F)
		return NAS_ERR_BAD_VALUE;
	if (m->caps_len < 2 || m->caps_len > NAS_UE_SEC_CAP_MAX ||
	    (m->has_abba && (m->abba_len < 2 || m->abba_len > NAS_ABBA_MAX)))
		return NAS_ERR_BAD_LENGTH;
	put_u8(w, (uint8_t)(m->enc_alg << 4 | m->int_alg));
	put_u8(w, ngksi_nibble(&m->ngksi)); /* spare half octet above */
	put_u8(w, (uint8_t)m->caps_len);
	put_bytes(w, m->caps, m->caps_len);
	if (m->has_abba) {
		put_u8(w, IEI_ABBA);
		put_u8(w, (uint8_t)m->abba_len);
		put_bytes(w, m->abba, m->abba_len);
	}
	return 0;
}

int nas_encode(uint8_t *out, size_t outcap, size_t *outlen,
    const nas_msg_t *msg)
{
	struct wbuf w = { out, outcap, 0, 0 };
	int rc;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL || msg == NULL)
		return NAS_ERR_INVALID_ARG;
	if (!known_type(msg->type))
		return NAS_ERR_UNKNOWN_TYPE;
	put_u8(&w, NAS_EPD_5GMM);
	put_u8(&w, 0x00); /* plain NAS message, spare half octet */
	put_u8(&w, (uint8_t)msg->type);
	switch (msg->type) {
	case NAS_MSG_REGISTRATION_REQUEST:
		rc = enc_reg_request(&w, &msg->reg_req);
		break;
	case NAS_MSG_REGISTRATION_ACCEPT:
		rc = enc_reg_accept(&w, &msg->reg_acc);
		break;
	case NAS_MSG_REGISTRATION_REJECT:
		rc = enc_reg_reject(&w, &msg->reg_rej);
		break;
	case NAS_MSG_AUTH_REQUEST:
		rc = enc_auth_request(&w, &msg->auth_req);
		break;
	case NAS_MSG_AUTH_RESPONSE:
		put_u8(&w, IEI_RES_STAR);
		put_u8(&w, NAS_RES_STAR_LEN);
		put_bytes(&w, msg->auth_resp.res_star, NAS_RES_STAR_LEN);
		rc = 0;
		break;
	case NAS_MSG_AUTH_FAILURE:
		rc = enc_auth_failure(&w, &msg->auth_fail);
		break;
	case NAS_MSG_SECURITY_MODE_COMMAND: rc = enc_smc(&w, &msg->smc); break;
	case NAS_MSG_SECURITY_MODE_REJECT:
		put_u8(&w, msg->smc_rej.cause);
		rc = 0;
		break;
	default: /* Authentication reject, Security mode complete,
			 * Registration complete: header only */
		rc = 0;
		break;
	}
	if (rc == 0)
		rc = w.err;
	if (rc == 0 && w.off > NAS_MAX_MSG_LEN)
		rc = NAS_ERR_TOO_LONG;
	if (rc == 0)
		*outlen = w.off;
	return rc;
}

/* ---- decoder --------------------------------------------------------- */

/* The known optional IEs of each message (their index is their bit in
 * nas_decode's seen mask: the Registration request's payload pair stays
 * bits 0 and 1). */
static const struct ie_spec reg_req_ies[] = {
	{ IEI_PAYLOAD_TYPE, F_T1, 0 },
	{ IEI_PAYLOAD, F_TLVE, 0 },
	{ IEI_UE_SEC_CAP, F_TLV, 0 },
};
static const struct ie_spec smc_ies[] = {
	{ IEI_ABBA, F_TLV, 0 },
};
static const struct ie_spec reg_acc_ies[] = {
	{ IEI_GUTI, F_TLVE, 0 },
};
static const struct ie_spec reg_rej_ies[] = {
	{ IEI_T3346, F_TLV, 0 },
	{ IEI_PAYLOAD, F_TLVE, 0 },
};
static const struct ie_spec auth_req_ies[] = {
	{ IEI_RAND, F_TV, NAS_RAND_LEN },
	{ IEI_AUTN, F_TLV, 0 },
};
static const struct ie_spec auth_resp_ies[] = {
	{ IEI_RES_STAR, F_TLV, 0 },
};
static const struct ie_spec auth_fail_ies[] = {
	{ IEI_AUTS, F_TLV, 0 },
};

/* One optional IE as found in the buffer. */
struct ie {
	uint8_t iei;  /* high nibble only for F_T1 */
	uint8_t half; /* F_T1 value nibble */
	const uint8_t *v;
	size_t len;
	int known; /* index in the spec table, or -1 */
};

/* Read the optional IE at buf[*off] per the message's known IEs, else per
 * TS 24.007 §11.2.4; advance *off past it. */
static int next_ie(struct ie *ie, const uint8_t *buf, size_t len, size_t *off,
    const struct ie_spec *known, size_t nknown)
{
	uint8_t b = buf[*off];
	int fmt = (b & 0x80) ? F_T1 : (b & 0xF0) == 0x70 ? F_TLVE : F_TLV;
	size_t fixed = 0, p = *off + 1;

	ie->known = -1;
	for (size_t i = 0; i < nknown; i++) {
		uint8_t iei = known[i].fmt == F_T1 ? (b & 0xF0) : b;

		if ((b & 0x80) && known[i].fmt != F_T1)
			continue;
		if (iei == known[i].iei) {
			ie->known = (int)i;
			fmt = known[i].fmt;
			fixed = known[i].fixed;
			break;
		}
	}
	ie->iei = fmt == F_T1 ? (b & 0xF0) : b;
	ie->half = b & 0x0F;
	switch (fmt) {
	case F_T1: ie->len = 0; break;
	case F_TV: ie->len = fixed; break;
	case F_TLV:
		if (p + 1 > len)
			return NAS_ERR_TRUNCATED;
		ie->len = buf[p];
		p += 1;
		break;
	default:
		if (p + 2 > len)
			return NAS_ERR_TRUNCATED;
		ie->len = (size_t)buf[p] << 8 | buf[p + 1];
		p += 2;
		break;
	}
	if (ie->len > len - p)
		return NAS_ERR_TRUNCATED;
	ie->v = buf + p;
	*off = p + ie->len;
	return 0;
}

static int get_payload(size_t *outlen, uint8_t *out, const struct ie *ie)
{
	if (ie->len == 0)
		return NAS_ERR_BAD_LENGTH;
	if (ie->len > NAS_PAYLOAD_MAX)
		return NAS_ERR_TOO_LONG;
	memcpy(out, ie->v, ie->len);
	*outlen = ie->len;
	return 0;
}

/* Handle one known optional IE (first occurrence) of message type. */
static int dec_optional(nas_msg_t *m, const struct ie *ie)
{
	switch (m->type) {
	case NAS_MSG_REGISTRATION_REQUEST:
		if (ie->iei == IEI_UE_SEC_CAP) {
			if (ie->len < 2 || ie->len > NAS_UE_SEC_CAP_MAX)
				return NAS_ERR_BAD_LENGTH;
			m->reg_req.has_ue_sec_cap = true;
			m->reg_req.ue_sec_cap_len = ie->len;
			memcpy(m->reg_req.ue_sec_cap, ie->v, ie->len);
			return 0;
		}
		if (ie->iei == IEI_PAYLOAD_TYPE) {
			m->reg_req.payload_type = ie->half;
			return 0;
		}
		return get_payload(&m->reg_req.payload_len, m->reg_req.payload,
		    ie);
	case NAS_MSG_REGISTRATION_ACCEPT:
		m->reg_acc.has_guti = true;
		return get_guti(&m->reg_acc.guti, ie->v, ie->len);
	case NAS_MSG_REGISTRATION_REJECT:
		if (ie->iei == IEI_T3346) {
			if (ie->len != 1)
				return NAS_ERR_BAD_LENGTH;
			m->reg_rej.has_t3346 = true;
			m->reg_rej.t3346 = ie->v[0];
			return 0;
		}
		m->reg_rej.has_payload = true;
		return get_payload(&m->reg_rej.payload_len, m->reg_rej.payload,
		    ie);
	case NAS_MSG_AUTH_REQUEST:
		if (ie->iei == IEI_RAND) {
			memcpy(m->auth_req.rand, ie->v, NAS_RAND_LEN);
			return 0;
		}
		if (ie->len != NAS_AUTN_LEN)
			return NAS_ERR_BAD_LENGTH;
		memcpy(m->auth_req.autn, ie->v, NAS_AUTN_LEN);
		return 0;
	case NAS_MSG_SECURITY_MODE_COMMAND:
		if (ie->len < 2 || ie->len > NAS_ABBA_MAX)
			return NAS_ERR_BAD_LENGTH;
		m->smc.has_abba = true;
		m->smc.abba_len = ie->len;
		memcpy(m->smc.abba, ie->v, ie->len);
		return 0;
	case NAS_MSG_AUTH_RESPONSE:
		if (ie->len != NAS_RES_STAR_LEN)
			return NAS_ERR_BAD_LENGTH;
		memcpy(m->auth_resp.res_star, ie->v, NAS_RES_STAR_LEN);
		return 0;
	default: /* NAS_MSG_AUTH_FAILURE */
		if (ie->len != NAS_AUTS_LEN)
			return NAS_ERR_BAD_LENGTH;
		m->auth_fail.has_auts = true;
		memcpy(m->auth_fail.auts, ie->v, NAS_AUTS_LEN);
		return 0;
	}
}

/* Decode the mandatory part after the 3-octet header; *off advances. */
static int dec_mandatory(nas_msg_t *m, const uint8_t *buf, size_t len,
    size_t *off)
{
	size_t p = *off, n;
	int rc;

	switch (m->type) {
	case NAS_MSG_REGISTRATION_REQUEST:
		if (p + 3 > len)
			return NAS_ERR_TRUNCATED;
		m->reg_req.reg_type = buf[p] & 0x07;
		m->reg_req.follow_on = (buf[p] >> 3) & 0x01;
		m->reg_req.ngksi.ksi = (buf[p] >> 4) & 0x07;
		m->reg_req.ngksi.tsc = buf[p] >> 7;
		n = (size_t)buf[p + 1] << 8 | buf[p + 2];
		p += 3;
		if (n > len - p)
			return NAS_ERR_TRUNCATED;
		if ((rc = get_mobile_id(&m->reg_req.id, buf + p, n)) != 0)
			return rc;
		p += n;
		break;
	case NAS_MSG_REGISTRATION_ACCEPT:
		if (p + 1 > len)
			return NAS_ERR_TRUNCATED;
		n = buf[p++];
		if (n > len - p)
			return NAS_ERR_TRUNCATED;
		if (n != 1)
			return NAS_ERR_BAD_LENGTH;
		m->reg_acc.result = buf[p];
		p += n;
		break;
	case NAS_MSG_REGISTRATION_REJECT:
	case NAS_MSG_AUTH_FAILURE:
	case NAS_MSG_SECURITY_MODE_REJECT:
		if (p + 1 > len)
			return NAS_ERR_TRUNCATED;
		if (m->type == NAS_MSG_REGISTRATION_REJECT)
			m->reg_rej.cause = buf[p];
		else if (m->type == NAS_MSG_AUTH_FAILURE)
			m->auth_fail.cause = buf[p];
		else
			m->smc_rej.cause = buf[p];
		p += 1;
		break;
	case NAS_MSG_SECURITY_MODE_COMMAND:
		if (p + 3 > len)
			return NAS_ERR_TRUNCATED;
		m->smc.enc_alg = buf[p] >> 4;
		m->smc.int_alg = buf[p] & 0x0F;
		m->smc.ngksi.ksi = buf[p + 1] & 0x07;
		m->smc.ngksi.tsc = (buf[p + 1] >> 3) & 0x01;
		n = buf[p + 2];
		p += 3;
		if (n > len - p)
			return NAS_ERR_TRUNCATED;
		if (n < 2 || n > NAS_UE_SEC_CAP_MAX)
			return NAS_ERR_BAD_LENGTH;
		memcpy(m->smc.caps, buf + p, n);
		m->smc.caps_len = n;
		p += n;
		break;
	case NAS_MSG_AUTH_REQUEST:
		if (p + 2 > len)
			return NAS_ERR_TRUNCATED;
		m->auth_req.ngksi.ksi = buf[p] & 0x07;
		m->auth_req.ngksi.tsc = (buf[p] >> 3) & 0x01;
		n = buf[p + 1];
		p += 2;
		if (n > len - p)
			return NAS_ERR_TRUNCATED;
		if (n < 2)
			return NAS_ERR_BAD_LENGTH;
		if (n > NAS_ABBA_MAX)
			return NAS_ERR_TOO_LONG;
		memcpy(m->auth_req.abba, buf + p, n);
		m->auth_req.abba_len = n;
		p += n;
		break;
	default: /* response and reject: no mandatory IE */ break;
	}
	*off = p;
	return 0;
}

static void known_ies(int type, const struct ie_spec **out, size_t *n)
{
#define KNOWN(t) \
	do { \
		*out = (t); \
		*n = sizeof(t) / sizeof((t)[0]); \
	} while (0)
	switch (type) {
	case NAS_MSG_REGISTRATION_REQUEST: KNOWN(reg_req_ies); break;
	case NAS_MSG_REGISTRATION_ACCEPT: KNOWN(reg_acc_ies); break;
	case NAS_MSG_REGISTRATION_REJECT: KNOWN(reg_rej_ies); break;
	case NAS_MSG_AUTH_REQUEST: KNOWN(auth_req_ies); break;
	case NAS_MSG_AUTH_RESPONSE: KNOWN(auth_resp_ies); break;
	case NAS_MSG_AUTH_FAILURE: KNOWN(auth_fail_ies); break;
	case NAS_MSG_SECURITY_MODE_COMMAND: KNOWN(smc_ies); break;
	default:
		*out = NULL;
		*n = 0;
		break;
	}
#undef KNOWN
}

/* The IEs ProvCA requires, checked once all IEs have been read. */
static int check_required(const nas_msg_t *m, unsigned seen)
{
	switch (m->type) {
	case NAS_MSG_REGISTRATION_REQUEST:
		/* payload container type (bit 0) and container (bit 1) pair */
		if ((seen & 3) == 1 || (seen & 3) == 2)
			return NAS_ERR_MISSING_IE;
		return 0;
	case NAS_MSG_AUTH_REQUEST:
		return (seen & 3) == 3 ? 0 : NAS_ERR_MISSING_IE;
	case NAS_MSG_AUTH_RESPONSE: return (seen & 1) ? 0 : NAS_ERR_MISSING_IE;
	case NAS_MSG_AUTH_FAILURE:
		if (m->auth_fail.cause == NAS_CAUSE_SYNCH_FAILURE)
			return m->auth_fail.has_auts ? 0 : NAS_ERR_MISSING_IE;
		return 0;
	default: return 0;
	}
}

int nas_decode(nas_msg_t *out, const uint8_t *buf, size_t len)
{
	const struct ie_spec *known;
	size_t nknown, off = 3;
	unsigned seen = 0;
	struct ie ie;
	int rc;

	if (out == NULL)
		return NAS_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (buf == NULL && len > 0)
		return NAS_ERR_INVALID_ARG;
	if (len > NAS_MAX_MSG_LEN)
		return NAS_ERR_TOO_LONG;
	if (len < 1)
		return NAS_ERR_TRUNCATED;
	if (buf[0] != NAS_EPD_5GMM)
		return NAS_ERR_BAD_EPD;
	if (len < 3)
		return NAS_ERR_TRUNCATED;
	if (buf[1] != 0x00)
		return NAS_ERR_SEC_HDR;
	out->type = buf[2];
	if (!known_type(out->type)) {
		rc = NAS_ERR_UNKNOWN_TYPE;
		goto done;
	}
	if ((rc = dec_mandatory(out, buf, len, &off)) != 0)
		goto done;
	known_ies(out->type, &known, &nknown);
	while (off < len) {
		if ((rc = next_ie(&ie, buf, len, &off, known, nknown)) != 0)
			goto done;
		if (ie.known < 0 || (seen & (1u << ie.known)))
			continue; /* unknown, or a repetition */
		seen |= 1u << ie.known;
		if ((rc = dec_optional(out, &ie)) != 0)
			goto done;
	}
	if (out->type == NAS_MSG_REGISTRATION_REQUEST)
		out->reg_req.has_payload = (seen & 3) == 3;
	rc = check_required(out, seen);
	/* AUTS is meaningful only with #21; otherwise it is ignored */
	if (rc == 0 && out->type == NAS_MSG_AUTH_FAILURE &&
	    out->auth_fail.cause != NAS_CAUSE_SYNCH_FAILURE) {
		out->auth_fail.has_auts = false;
		memset(out->auth_fail.auts, 0, sizeof(out->auth_fail.auts));
	}
done:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- names, helpers -------------------------------------------------- */

const char *nas_strerror(int err)
{
	switch (err) {
	case NAS_OK: return "success";
	case NAS_ERR_INVALID_ARG: return "invalid argument";
	case NAS_ERR_TRUNCATED: return "message truncated";
	case NAS_ERR_BAD_EPD:
		return "not a 5GMM message (protocol discriminator)";
	case NAS_ERR_SEC_HDR:
		return "not a plain NAS message (security header)";
	case NAS_ERR_UNKNOWN_TYPE: return "unknown message type";
	case NAS_ERR_BAD_LENGTH: return "information element has a bad length";
	case NAS_ERR_MISSING_IE: return "required information element missing";
	case NAS_ERR_BAD_VALUE: return "information element has a bad value";
	case NAS_ERR_TOO_LONG: return "message or container too long";
	case NAS_ERR_SPACE: return "output buffer too small";
	case NAS_ERR_UNSUPPORTED:
		return "information element value not supported";
	default: return "unknown NAS error";
	}
}

const char *nas_msg_name(int type)
{
	switch (type) {
	case NAS_MSG_REGISTRATION_REQUEST: return "Registration request";
	case NAS_MSG_REGISTRATION_ACCEPT: return "Registration accept";
	case NAS_MSG_REGISTRATION_REJECT: return "Registration reject";
	case NAS_MSG_AUTH_REQUEST: return "Authentication request";
	case NAS_MSG_AUTH_RESPONSE: return "Authentication response";
	case NAS_MSG_AUTH_REJECT: return "Authentication reject";
	case NAS_MSG_AUTH_FAILURE: return "Authentication failure";
	case NAS_MSG_REGISTRATION_COMPLETE: return "Registration complete";
	case NAS_MSG_SECURITY_MODE_COMMAND: return "Security mode command";
	case NAS_MSG_SECURITY_MODE_COMPLETE: return "Security mode complete";
	case NAS_MSG_SECURITY_MODE_REJECT: return "Security mode reject";
	default: return "Unknown message type";
	}
}

int nas_ue_sec_cap_has(const uint8_t *caps, size_t len, int is_integrity,
    int alg)
{
	if (caps == NULL || len < 2 || alg < 0 || alg > 7)
		return 0;
	return (caps[is_integrity ? 1 : 0] >> (7 - alg)) & 1;
}

int nas_suci_from_supi(nas_suci_t *out, const char *supi, int mnc_len)
{
	const char *d;
	size_t n;

	if (out == NULL || supi == NULL)
		return NAS_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (strncmp(supi, "imsi-", 5) != 0 || (mnc_len != 2 && mnc_len != 3))
		return NAS_ERR_BAD_VALUE;
	d = supi + 5;
	if (!is_digits(d, 6, 15))
		return NAS_ERR_BAD_VALUE;
	n = strlen(d);
	if (n < 3 + (size_t)mnc_len + 1 ||
	    n - 3 - (size_t)mnc_len > NAS_MSIN_MAX)
		return NAS_ERR_BAD_VALUE;
	memcpy(out->mcc, d, 3);
	memcpy(out->mnc, d + 3, (size_t)mnc_len);
	memcpy(out->routing, "0000", 5);
	memcpy(out->msin, d + 3 + mnc_len, n - 3 - (size_t)mnc_len + 1);
	return 0;
}

int nas_supi_from_suci(char *out, size_t outcap, const nas_suci_t *suci)
{
	int n;

	if (out == NULL || suci == NULL)
		return NAS_ERR_INVALID_ARG;
	if (outcap > 0)
		out[0] = '\0';
	if (suci->scheme != 0)
		return NAS_ERR_UNSUPPORTED;
	if (!is_digits(suci->mcc, 3, 3) || !is_digits(suci->mnc, 2, 3) ||
	    !is_digits(suci->msin, 1, NAS_MSIN_MAX))
		return NAS_ERR_BAD_VALUE;
	n = snprintf(out, outcap, "imsi-%s%s%s", suci->mcc, suci->mnc,
	    suci->msin);
	if (n < 0 || (size_t)n >= outcap) {
		if (outcap > 0)
			out[0] = '\0';
		return NAS_ERR_SPACE;
	}
	return 0;
}

uint8_t nas_gprs_timer_from_seconds(unsigned secs)
{
	if (secs <= 31 * 2)
		return (uint8_t)((secs + 1) / 2); /* 2 s units */
	if (secs <= 31 * 60)
		return (uint8_t)(1 << 5 | (secs + 59) / 60); /* minutes */
	if (secs <= 31 * 360)
		return (uint8_t)(2 << 5 | (secs + 359) / 360); /* decihours */
	return (uint8_t)(2 << 5 | 31);
}

unsigned nas_gprs_timer_to_seconds(uint8_t octet)
{
	unsigned v = octet & 0x1F;

	switch (octet >> 5) {
	case 0: return v * 2;
	case 2: return v * 360;
	case 7: return 0;       /* deactivated */
	default: return v * 60; /* 1 minute, and what 24.008 maps to it */
	}
}
