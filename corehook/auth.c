/* auth.c — 5G-AKA as the AUSF/UDM side of corehook answers it, for NAS
 * sessions (nas_auth.c) and Nudm_UEAU (sbi_ueau.c) alike: a fresh vector
 * with the next durable SQN, the RES* check and K_AMF, the confirmation
 * that promotes a pending subscription, and resynchronisation from AUTS. */
#include "ch_ctx.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "aka.h"
#include "util.h"

/* Wipe a vector; NULL-safe. */
void corehook_av_clear(corehook_av_t *av)
{
	if (av != NULL)
		OPENSSL_cleanse(av, sizeof(*av));
}

/* A fresh vector with the next durable SQN (contract in corehook.h). */
int corehook_av_generate(corehook *ch, corehook_av_t *out, const char *supi,
    char *err, size_t errlen)
{
	subs_db *db = NULL;
	subs_record_t rec;
	aka_vector_t v;
	uint8_t sqn[6];
	uint64_t next;
	int rc = COREHOOK_ERR, r;

	memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	memset(&v, 0, sizeof(v));
	if (ch_db_get(ch, &db, err, errlen) != COREHOOK_OK)
		return COREHOOK_ERR;
	r = subs_group_sqn_next_read(ch->group, db, &next, &rec, supi,
	    ch->cfg->sqn_ind_bits, err, errlen);
	ch_db_put(ch, db);
	if (r == SUBS_NOTFOUND || r == SUBS_INVALID) {
		rc = COREHOOK_ERR_NOTFOUND;
		goto out;
	}
	if (r != SUBS_OK)
		goto out;
	if (aka_sqn_from_u64(sqn, next) != AKA_OK ||
	    aka_vector_make(&v, rec.ki, rec.opc, rec.amf, sqn, NULL, ch->snn) !=
	        AKA_OK) {
		util_err_set(err, errlen, "authentication vector failed");
		goto out;
	}
	snprintf(out->supi, sizeof(out->supi), "%s", supi);
	out->pending = rec.state == SUBS_STATE_PENDING;
	memcpy(out->rand, v.rand, 16);
	memcpy(out->autn, v.autn, 16);
	memcpy(out->xres_star, v.xres_star, 16);
	memcpy(out->hxres_star, v.hxres_star, 16);
	memcpy(out->kausf, v.kausf, 32);
	memcpy(out->kseaf, v.kseaf, 32);
	out->sqn = next;
	rc = COREHOOK_OK;
out:
	aka_vector_clear(&v);
	subs_record_wipe(&rec);
	return rc;
}

/* RES* against the vector in constant time; K_AMF on a match. */
int corehook_res_confirm(const corehook_av_t *av, const uint8_t *res_star,
    uint8_t *kamf)
{
	static const uint8_t abba[2] = { 0x00, 0x00 };
	uint8_t hres[16];
	int ok;

	if (aka_hxres_star(hres, av->rand, res_star) != AKA_OK)
		return 0;
	/* The SEAF's check (HRES* vs HXRES*), then the AUSF's (RES* vs XRES*). */
	ok = CRYPTO_memcmp(hres, av->hxres_star, 16) == 0;
	ok &= CRYPTO_memcmp(res_star, av->xres_star, 16) == 0;
	OPENSSL_cleanse(hres, sizeof(hres));
	if (!ok)
		return 0;
	if (kamf != NULL &&
	    aka_kamf(kamf, av->kseaf, av->supi, abba, sizeof(abba)) != AKA_OK)
		return 0;
	return 1;
}

/* 5G-AKA done: a pending subscription becomes active. */
int corehook_confirm(corehook *ch, const char *supi, int *promoted, char *err,
    size_t errlen)
{
	subs_db *db = NULL;
	int r, p = 0;

	if (promoted != NULL)
		*promoted = 0;
	if (ch == NULL || supi == NULL)
		return COREHOOK_ERR_ARG;
	if (ch_db_get(ch, &db, err, errlen) != COREHOOK_OK)
		return COREHOOK_ERR;
	r = subs_group_confirm(ch->group, db, supi, &p, err, errlen);
	ch_db_put(ch, db);
	if (r == SUBS_NOTFOUND)
		return COREHOOK_ERR_NOTFOUND;
	if (r != SUBS_OK)
		return COREHOOK_ERR;
	if (p)
		atomic_fetch_add(&ch->metrics.aka[CH_AKA_PROMOTED], 1);
	if (promoted != NULL)
		*promoted = p;
	return COREHOOK_OK;
}

/* SQN_MS recovered from AUTS and stored (contract in corehook.h). */
int corehook_resync(corehook *ch, const char *supi, const uint8_t *rand,
    const uint8_t *auts, char *err, size_t errlen)
{
	subs_db *db = NULL;
	subs_record_t rec;
	uint8_t sqn_ms[6];
	int rc = COREHOOK_ERR, r;

	memset(&rec, 0, sizeof(rec));
	if (ch_db_get(ch, &db, err, errlen) != COREHOOK_OK)
		return COREHOOK_ERR;
	r = subs_find_supi(db, &rec, supi, err, errlen);
	if (r != SUBS_OK) {
		rc = r == SUBS_NOTFOUND ? COREHOOK_ERR_NOTFOUND : COREHOOK_ERR;
		goto out;
	}
	if (aka_auts_resync(sqn_ms, rec.ki, rec.opc, rand, auts) != AKA_OK) {
		util_err_set(err, errlen, "AUTS does not verify");
		rc = COREHOOK_ERR_AUTH;
		goto out;
	}
	if (subs_sqn_set(db, supi, aka_sqn_to_u64(sqn_ms), err, errlen) !=
	    SUBS_OK)
		goto out;
	rc = COREHOOK_OK;
out:
	ch_db_put(ch, db);
	subs_record_wipe(&rec);
	return rc;
}
