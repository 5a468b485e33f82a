/* aka.c — 5G-AKA on top of MILENAGE: the TS 33.220 KDF, the TS 33.501
 * Annex A derivations, the network's vector, the USIM's AUTN check with the
 * SQN freshness rule, AUTS resynchronisation, the K_AMF fingerprint and the
 * values `corehook av` prints. */
#include "aka.h"
#include "util.h"

#include <stddef.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define FC_CK_IK_PRIME 0x20
#define FC_KNAS 0x69
#define FC_KAUSF 0x6A
#define FC_RES_STAR 0x6B
#define FC_KSEAF 0x6C
#define FC_KAMF 0x6D
#define FC_KGNB 0x6E

#define ABBA_MIN 2
#define ABBA_MAX 255
#define IMSI_MIN 5
#define IMSI_MAX 15

static const uint8_t resync_amf[AKA_AMF_LEN] = { 0x00, 0x00 };

const char *aka_strerror(int code)
{
	switch (code) {
	case AKA_OK: return "ok";
	case AKA_ERR_ARG: return "invalid argument";
	case AKA_ERR_CRYPTO: return "cryptographic library failure";
	case AKA_ERR_MAC: return "MAC failure";
	case AKA_ERR_SYNC: return "synch failure";
	case AKA_ERR_AMF:
		return "AMF separation bit not set (non-5G authentication)";
	case AKA_ERR_IO: return "write failed";
	default: return "unknown AKA error";
	}
}

/* Length of a NUL-terminated name in [1, max], or 0 if NULL, empty or longer. */
static size_t name_len(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, max + 1);
	return n > max ? 0 : n;
}

int aka_kdf(uint8_t *out, const uint8_t *key, size_t keylen, uint8_t fc,
    const aka_kdf_param_t *params, size_t n)
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM op[2];
	size_t i, outl = 0;
	int rc = AKA_ERR_ARG;

	if (out == NULL || key == NULL || keylen == 0 ||
	    (n > 0 && params == NULL))
		return AKA_ERR_ARG;
	for (i = 0; i < n; i++)
		if (params[i].len > AKA_KDF_PARAM_MAX ||
		    (params[i].len > 0 && params[i].ptr == NULL))
			goto done;
	rc = AKA_ERR_CRYPTO;
	op[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	op[1] = OSSL_PARAM_construct_end();
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (ctx = EVP_MAC_CTX_new(mac)) == NULL ||
	    EVP_MAC_init(ctx, key, keylen, op) != 1 ||
	    EVP_MAC_update(ctx, &fc, 1) != 1)
		goto done;
	for (i = 0; i < n; i++) {
		uint8_t l[2] = { (uint8_t)(params[i].len >> 8),
			(uint8_t)params[i].len };

		if ((params[i].len > 0 &&
		        EVP_MAC_update(ctx, params[i].ptr, params[i].len) !=
		            1) ||
		    EVP_MAC_update(ctx, l, sizeof(l)) != 1)
			goto done;
	}
	if (EVP_MAC_final(ctx, out, &outl, AKA_KDF_LEN) != 1 ||
	    outl != AKA_KDF_LEN)
		goto done;
	rc = AKA_OK;
done:
	if (rc != AKA_OK) {
		OPENSSL_cleanse(out, AKA_KDF_LEN);
		ERR_clear_error();
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

static int all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int aka_snn_format(char *out, size_t outlen, const char *mcc, const char *mnc)
{
	size_t mcc_len, mnc_len;
	int n;

	if (out == NULL || outlen < AKA_SNN_BUF)
		return AKA_ERR_ARG;
	out[0] = '\0';
	mcc_len = name_len(mcc, 3);
	mnc_len = name_len(mnc, 3);
	if (mcc_len != 3 || !all_digits(mcc, 3) || mnc_len < 2 ||
	    !all_digits(mnc, mnc_len))
		return AKA_ERR_ARG;
	n = snprintf(out, outlen, "5G:mnc%s%s.mcc%s.3gppnetwork.org",
	    mnc_len == 2 ? "0" : "", mnc, mcc);
	if (n < 0 || (size_t)n >= outlen) {
		out[0] = '\0';
		return AKA_ERR_ARG;
	}
	return AKA_OK;
}

/* KDF keyed with CK || IK. */
static int kdf_ckik(uint8_t *out, const uint8_t *ck, const uint8_t *ik,
    uint8_t fc, const aka_kdf_param_t *params, size_t n)
{
	uint8_t key[AKA_CK_LEN + AKA_IK_LEN];
	int rc;

	memcpy(key, ck, AKA_CK_LEN);
	memcpy(key + AKA_CK_LEN, ik, AKA_IK_LEN);
	rc = aka_kdf(out, key, sizeof(key), fc, params, n);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int aka_res_star(uint8_t *out, const uint8_t *ck, const uint8_t *ik,
    const char *snn, const uint8_t *rand, const uint8_t *res, size_t res_len)
{
	uint8_t full[AKA_KDF_LEN];
	aka_kdf_param_t p[3];
	size_t snn_len = name_len(snn, AKA_SNN_MAX);
	int rc;

	if (out == NULL)
		return AKA_ERR_ARG;
	if (ck == NULL || ik == NULL || snn_len == 0 || rand == NULL ||
	    res == NULL || res_len < AKA_RES_MIN_LEN ||
	    res_len > AKA_RES_MAX_LEN) {
		OPENSSL_cleanse(out, AKA_RES_STAR_LEN);
		return AKA_ERR_ARG;
	}
	p[0] = (aka_kdf_param_t){ (const uint8_t *)snn, snn_len };
	p[1] = (aka_kdf_param_t){ rand, AKA_RAND_LEN };
	p[2] = (aka_kdf_param_t){ res, res_len };
	rc = kdf_ckik(full, ck, ik, FC_RES_STAR, p, 3);
	if (rc == AKA_OK)
		memcpy(out, full + AKA_KDF_LEN - AKA_RES_STAR_LEN,
		    AKA_RES_STAR_LEN);
	else
		OPENSSL_cleanse(out, AKA_RES_STAR_LEN);
	OPENSSL_cleanse(full, sizeof(full));
	return rc;
}

int aka_hxres_star(uint8_t *out, const uint8_t *rand, const uint8_t *xres_star)
{
	uint8_t in[AKA_RAND_LEN + AKA_RES_STAR_LEN], md[32];
	unsigned int mdlen = 0;
	int rc = AKA_OK;

	if (out == NULL || rand == NULL || xres_star == NULL) {
		if (out != NULL)
			OPENSSL_cleanse(out, AKA_HXRES_STAR_LEN);
		return AKA_ERR_ARG;
	}
	memcpy(in, rand, AKA_RAND_LEN);
	memcpy(in + AKA_RAND_LEN, xres_star, AKA_RES_STAR_LEN);
	if (EVP_Digest(in, sizeof(in), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md)) {
		ERR_clear_error();
		OPENSSL_cleanse(out, AKA_HXRES_STAR_LEN);
		rc = AKA_ERR_CRYPTO;
	} else {
		memcpy(out, md + sizeof(md) - AKA_HXRES_STAR_LEN,
		    AKA_HXRES_STAR_LEN);
	}
	OPENSSL_cleanse(in, sizeof(in));
	OPENSSL_cleanse(md, sizeof(md));
	return rc;
}

int aka_kausf(uint8_t *out, const uint8_t *ck, const uint8_t *ik,
    const char *snn, const uint8_t *sqn_xor_ak)
{
	aka_kdf_param_t p[2];
	size_t snn_len = name_len(snn, AKA_SNN_MAX);

	if (out == NULL)
		return AKA_ERR_ARG;
	if (ck == NULL || ik == NULL || snn_len == 0 || sqn_xor_ak == NULL) {
		OPENSSL_cleanse(out, AKA_KAUSF_LEN);
		return AKA_ERR_ARG;
	}
	p[0] = (aka_kdf_param_t){ (const uint8_t *)snn, snn_len };
	p[1] = (aka_kdf_param_t){ sqn_xor_ak, AKA_SQN_LEN };
	return kdf_ckik(out, ck, ik, FC_KAUSF, p, 2);
}

int aka_kseaf(uint8_t *out, const uint8_t *kausf, const char *snn)
{
	aka_kdf_param_t p[1];
	size_t snn_len = name_len(snn, AKA_SNN_MAX);

	if (out == NULL)
		return AKA_ERR_ARG;
	if (kausf == NULL || snn_len == 0) {
		OPENSSL_cleanse(out, AKA_KSEAF_LEN);
		return AKA_ERR_ARG;
	}
	p[0] = (aka_kdf_param_t){ (const uint8_t *)snn, snn_len };
	return aka_kdf(out, kausf, AKA_KAUSF_LEN, FC_KSEAF, p, 1);
}

int aka_kamf(uint8_t *out, const uint8_t *kseaf, const char *supi,
    const uint8_t *abba, size_t abba_len)
{
	aka_kdf_param_t p[2];
	size_t supi_len;

	if (out == NULL)
		return AKA_ERR_ARG;
	if (supi != NULL && strncmp(supi, "imsi-", 5) == 0) {
		supi += 5;
		supi_len = name_len(supi, IMSI_MAX);
		if (supi_len < IMSI_MIN || !all_digits(supi, supi_len))
			supi_len = 0;
	} else {
		supi_len = name_len(supi, AKA_SUPI_MAX);
	}
	if (kseaf == NULL || supi_len == 0 || abba == NULL ||
	    abba_len < ABBA_MIN || abba_len > ABBA_MAX) {
		OPENSSL_cleanse(out, AKA_KAMF_LEN);
		return AKA_ERR_ARG;
	}
	p[0] = (aka_kdf_param_t){ (const uint8_t *)supi, supi_len };
	p[1] = (aka_kdf_param_t){ abba, abba_len };
	return aka_kdf(out, kseaf, AKA_KSEAF_LEN, FC_KAMF, p, 2);
}

int aka_kgnb(uint8_t *out, const uint8_t *kamf, uint32_t ul_nas_count,
    uint8_t access_type)
{
	uint8_t count[4] = { (uint8_t)(ul_nas_count >> 24),
		(uint8_t)(ul_nas_count >> 16), (uint8_t)(ul_nas_count >> 8),
		(uint8_t)ul_nas_count };
	aka_kdf_param_t p[2];

	if (out == NULL)
		return AKA_ERR_ARG;
	if (kamf == NULL) {
		OPENSSL_cleanse(out, AKA_KGNB_LEN);
		return AKA_ERR_ARG;
	}
	p[0] = (aka_kdf_param_t){ count, sizeof(count) };
	p[1] = (aka_kdf_param_t){ &access_type, 1 };
	return aka_kdf(out, kamf, AKA_KAMF_LEN, FC_KGNB, p, 2);
}

int aka_knas(uint8_t *out, const uint8_t *kamf, uint8_t alg_type,
    uint8_t alg_id)
{
	aka_kdf_param_t p[2];

	if (out == NULL)
		return AKA_ERR_ARG;
	if (kamf == NULL) {
		OPENSSL_cleanse(out, AKA_KDF_LEN);
		return AKA_ERR_ARG;
	}
	p[0] = (aka_kdf_param_t){ &alg_type, 1 };
	p[1] = (aka_kdf_param_t){ &alg_id, 1 };
	return aka_kdf(out, kamf, AKA_KAMF_LEN, FC_KNAS, p, 2);
}

int aka_ck_ik_prime(uint8_t *out, const uint8_t *ck, const uint8_t *ik,
    const char *ani, const uint8_t *sqn_xor_ak)
{
	aka_kdf_param_t p[2];
	size_t ani_len = name_len(ani, AKA_KDF_PARAM_MAX);

	if (out == NULL)
		return AKA_ERR_ARG;
	if (ck == NULL || ik == NULL || ani_len == 0 || sqn_xor_ak == NULL) {
		OPENSSL_cleanse(out, AKA_KDF_LEN);
		return AKA_ERR_ARG;
	}
	p[0] = (aka_kdf_param_t){ (const uint8_t *)ani, ani_len };
	p[1] = (aka_kdf_param_t){ sqn_xor_ak, AKA_SQN_LEN };
	return kdf_ckik(out, ck, ik, FC_CK_IK_PRIME, p, 2);
}

uint64_t aka_sqn_to_u64(const uint8_t *sqn)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < AKA_SQN_LEN; i++)
		v = v << 8 | sqn[i];
	return v;
}

int aka_sqn_from_u64(uint8_t *out, uint64_t v)
{
	int i;

	if (out == NULL || v > AKA_SQN_MAX)
		return AKA_ERR_ARG;
	for (i = AKA_SQN_LEN - 1; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
	return AKA_OK;
}

int aka_sqn_is_fresh(uint64_t sqn, uint64_t sqn_ms)
{
	if (sqn > AKA_SQN_MAX || sqn_ms > AKA_SQN_MAX)
		return 0;
	return sqn > sqn_ms && sqn - sqn_ms <= AKA_SQN_DELTA;
}

void aka_vector_clear(aka_vector_t *v)
{
	if (v != NULL)
		OPENSSL_cleanse(v, sizeof(*v));
}

void aka_usim_result_clear(aka_usim_result_t *r)
{
	if (r != NULL)
		OPENSSL_cleanse(r, sizeof(*r));
}

int aka_vector_make(aka_vector_t *out, const uint8_t *k, const uint8_t *opc,
    const uint8_t *amf, const uint8_t *sqn, const uint8_t *rand,
    const char *snn)
{
	uint8_t r[AKA_RAND_LEN], res[AKA_RES_LEN], ck[AKA_CK_LEN],
	    ik[AKA_IK_LEN], ak[AKA_AK_LEN], mac_a[AKA_MAC_LEN];
	int i, rc = AKA_ERR_ARG;

	if (out == NULL)
		return AKA_ERR_ARG;
	if (k == NULL || opc == NULL || amf == NULL || sqn == NULL ||
	    name_len(snn, AKA_SNN_MAX) == 0) {
		aka_vector_clear(out);
		return AKA_ERR_ARG;
	}
	if (rand != NULL)
		memcpy(r, rand, sizeof(r));
	else if (util_random(r, sizeof(r)) != 0) {
		rc = AKA_ERR_CRYPTO;
		goto done;
	}
	if ((rc = aka_milenage_f2345(res, ck, ik, ak, k, opc, r)) != AKA_OK ||
	    (rc = aka_milenage_f1(mac_a, NULL, k, opc, r, sqn, amf)) != AKA_OK)
		goto done;
	memcpy(out->rand, r, sizeof(r));
	for (i = 0; i < AKA_SQN_LEN; i++)
		out->autn[i] = sqn[i] ^ ak[i];
	memcpy(out->autn + AKA_SQN_LEN, amf, AKA_AMF_LEN);
	memcpy(out->autn + AKA_SQN_LEN + AKA_AMF_LEN, mac_a, AKA_MAC_LEN);
	if ((rc = aka_res_star(out->xres_star, ck, ik, snn, r, res,
	         AKA_RES_LEN)) != AKA_OK ||
	    (rc = aka_hxres_star(out->hxres_star, r, out->xres_star)) !=
	        AKA_OK ||
	    (rc = aka_kausf(out->kausf, ck, ik, snn, out->autn)) != AKA_OK ||
	    (rc = aka_kseaf(out->kseaf, out->kausf, snn)) != AKA_OK)
		goto done;
done:
	if (rc != AKA_OK)
		aka_vector_clear(out);
	OPENSSL_cleanse(r, sizeof(r));
	OPENSSL_cleanse(res, sizeof(res));
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(ik, sizeof(ik));
	OPENSSL_cleanse(ak, sizeof(ak));
	OPENSSL_cleanse(mac_a, sizeof(mac_a));
	return rc;
}

int aka_vector_check_res_star(const aka_vector_t *v, const uint8_t *res_star)
{
	uint8_t hres[AKA_HXRES_STAR_LEN];
	int rc;

	if (v == NULL || res_star == NULL)
		return AKA_ERR_ARG;
	if ((rc = aka_hxres_star(hres, v->rand, res_star)) != AKA_OK)
		return rc;
	rc = AKA_OK;
	if (CRYPTO_memcmp(hres, v->hxres_star, AKA_HXRES_STAR_LEN) != 0 ||
	    CRYPTO_memcmp(res_star, v->xres_star, AKA_RES_STAR_LEN) != 0)
		rc = AKA_ERR_MAC;
	OPENSSL_cleanse(hres, sizeof(hres));
	return rc;
}

/* AUTS = (SQN_MS ^ AK*) || f1*(SQN_MS, RAND, AMF 0x0000). */
static int auts_make(uint8_t *auts, const uint8_t *k, const uint8_t *opc,
    const uint8_t *rand, const uint8_t *sqn_ms)
{
	uint8_t ak_star[AKA_AK_LEN], mac_s[AKA_MAC_LEN];
	int i, rc;

	if ((rc = aka_milenage_f5star(ak_star, k, opc, rand)) != AKA_OK ||
	    (rc = aka_milenage_f1(NULL, mac_s, k, opc, rand, sqn_ms,
	         resync_amf)) != AKA_OK)
		goto done;
	for (i = 0; i < AKA_SQN_LEN; i++)
		auts[i] = sqn_ms[i] ^ ak_star[i];
	memcpy(auts + AKA_SQN_LEN, mac_s, AKA_MAC_LEN);
done:
	OPENSSL_cleanse(ak_star, sizeof(ak_star));
	OPENSSL_cleanse(mac_s, sizeof(mac_s));
	return rc;
}

int aka_usim_authenticate(aka_usim_result_t *out, const uint8_t *k,
    const uint8_t *opc, const uint8_t *rand, const uint8_t *autn,
    const char *snn, const uint8_t *sqn_ms)
{
	uint8_t res[AKA_RES_LEN], ck[AKA_CK_LEN], ik[AKA_IK_LEN],
	    ak[AKA_AK_LEN], sqn[AKA_SQN_LEN], xmac[AKA_MAC_LEN];
	const uint8_t *amf, *mac;
	int i, rc;

	if (out == NULL)
		return AKA_ERR_ARG;
	aka_usim_result_clear(out);
	if (k == NULL || opc == NULL || rand == NULL || autn == NULL ||
	    name_len(snn, AKA_SNN_MAX) == 0 || sqn_ms == NULL)
		return AKA_ERR_ARG;
	amf = autn + AKA_SQN_LEN;
	mac = autn + AKA_SQN_LEN + AKA_AMF_LEN;
	if ((rc = aka_milenage_f2345(res, ck, ik, ak, k, opc, rand)) != AKA_OK)
		goto done;
	for (i = 0; i < AKA_SQN_LEN; i++)
		sqn[i] = autn[i] ^ ak[i];
	if ((rc = aka_milenage_f1(xmac, NULL, k, opc, rand, sqn, amf)) !=
	    AKA_OK)
		goto done;
	if (CRYPTO_memcmp(xmac, mac, AKA_MAC_LEN) != 0) {
		rc = AKA_ERR_MAC;
		goto done;
	}
	if ((amf[0] & AKA_AMF_SEPARATION_BIT) == 0) {
		rc = AKA_ERR_AMF;
		goto done;
	}
	if (!aka_sqn_is_fresh(aka_sqn_to_u64(sqn), aka_sqn_to_u64(sqn_ms))) {
		rc = auts_make(out->auts, k, opc, rand, sqn_ms);
		if (rc == AKA_OK)
			rc = AKA_ERR_SYNC;
		goto done;
	}
	if ((rc = aka_res_star(out->res_star, ck, ik, snn, rand, res,
	         AKA_RES_LEN)) != AKA_OK ||
	    (rc = aka_kausf(out->kausf, ck, ik, snn, autn)) != AKA_OK ||
	    (rc = aka_kseaf(out->kseaf, out->kausf, snn)) != AKA_OK)
		goto done;
	memcpy(out->sqn, sqn, AKA_SQN_LEN);
done:
	if (rc != AKA_OK && rc != AKA_ERR_SYNC)
		aka_usim_result_clear(out);
	OPENSSL_cleanse(res, sizeof(res));
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(ik, sizeof(ik));
	OPENSSL_cleanse(ak, sizeof(ak));
	OPENSSL_cleanse(sqn, sizeof(sqn));
	OPENSSL_cleanse(xmac, sizeof(xmac));
	return rc;
}

int aka_auts_resync(uint8_t *out_sqn_ms, const uint8_t *k, const uint8_t *opc,
    const uint8_t *rand, const uint8_t *auts)
{
	uint8_t ak_star[AKA_AK_LEN], sqn_ms[AKA_SQN_LEN], xmac_s[AKA_MAC_LEN];
	int i, rc;

	if (out_sqn_ms == NULL)
		return AKA_ERR_ARG;
	if (k == NULL || opc == NULL || rand == NULL || auts == NULL) {
		OPENSSL_cleanse(out_sqn_ms, AKA_SQN_LEN);
		return AKA_ERR_ARG;
	}
	if ((rc = aka_milenage_f5star(ak_star, k, opc, rand)) != AKA_OK)
		goto done;
	for (i = 0; i < AKA_SQN_LEN; i++)
		sqn_ms[i] = auts[i] ^ ak_star[i];
	if ((rc = aka_milenage_f1(NULL, xmac_s, k, opc, rand, sqn_ms,
	         resync_amf)) != AKA_OK)
		goto done;
	if (CRYPTO_memcmp(xmac_s, auts + AKA_SQN_LEN, AKA_MAC_LEN) != 0) {
		rc = AKA_ERR_MAC;
		goto done;
	}
	memcpy(out_sqn_ms, sqn_ms, AKA_SQN_LEN);
done:
	if (rc != AKA_OK)
		OPENSSL_cleanse(out_sqn_ms, AKA_SQN_LEN);
	OPENSSL_cleanse(ak_star, sizeof(ak_star));
	OPENSSL_cleanse(sqn_ms, sizeof(sqn_ms));
	OPENSSL_cleanse(xmac_s, sizeof(xmac_s));
	return rc;
}

int aka_fingerprint(char *out, const uint8_t *kamf)
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	if (out == NULL)
		return AKA_ERR_ARG;
	out[0] = '\0';
	if (kamf == NULL)
		return AKA_ERR_ARG;
	if (EVP_Digest(kamf, AKA_KAMF_LEN, md, &mdlen, EVP_sha256(), NULL) !=
	        1 ||
	    mdlen != sizeof(md)) {
		ERR_clear_error();
		return AKA_ERR_CRYPTO;
	}
	util_hex_encode(out, md, (AKA_FP_HEX_LEN - 1) / 2);
	OPENSSL_cleanse(md, sizeof(md));
	return AKA_OK;
}

/* ---- `corehook av` ---- */

/* One option of `corehook av`: where its hex goes and how long it is. */
struct av_opt {
	const char *name;
	size_t len;    /* octets; 0 for the text option --snn */
	size_t offset; /* of the destination in aka_av_args_t */
	size_t flag;   /* offset of the int set when the option is seen */
};

#define AV_FIELD(f) offsetof(aka_av_args_t, f)

static const struct av_opt av_opts[] = {
	{ "k", AKA_K_LEN, AV_FIELD(k), 0 },
	{ "op", AKA_OP_LEN, AV_FIELD(op), AV_FIELD(have_op) },
	{ "opc", AKA_OPC_LEN, AV_FIELD(opc), AV_FIELD(have_opc) },
	{ "rand", AKA_RAND_LEN, AV_FIELD(rand), 0 },
	{ "sqn", AKA_SQN_LEN, AV_FIELD(sqn), 0 },
	{ "amf", AKA_AMF_LEN, AV_FIELD(amf), 0 },
	{ "snn", 0, AV_FIELD(snn), AV_FIELD(have_snn) },
};
#define AV_NOPTS (sizeof(av_opts) / sizeof(av_opts[0]))

/* Store one option's value; AKA_ERR_ARG with a message saying why not. */
static int av_opt_set(aka_av_args_t *a, const struct av_opt *o, const char *val,
    char *err, size_t errlen)
{
	uint8_t *dst = (uint8_t *)a + o->offset;
	size_t n, i;

	if (o->len == 0) {
		n = strnlen(val, AKA_SNN_MAX + 1);
		if (n == 0 || n > AKA_SNN_MAX) {
			util_err_set(err, errlen,
			    "--%s: expected 1 to %d "
			    "characters",
			    o->name, AKA_SNN_MAX);
			return AKA_ERR_ARG;
		}
		for (i = 0; i < n; i++)
			if (val[i] < 0x21 || val[i] > 0x7e) {
				util_err_set(err, errlen,
				    "--%s: only printable "
				    "ASCII without spaces is allowed",
				    o->name);
				return AKA_ERR_ARG;
			}
		memcpy(dst, val, n + 1);
		return AKA_OK;
	}
	n = strnlen(val, 2 * o->len + 1);
	for (i = 0; i < n; i++) {
		char c = val[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		        (c >= 'A' && c <= 'F'))) {
			util_err_set(err, errlen,
			    "--%s: '%c' is not a hex "
			    "digit (expected %zu hex digits)",
			    o->name, (c >= 0x20 && c < 0x7f) ? c : '?',
			    2 * o->len);
			return AKA_ERR_ARG;
		}
	}
	if (n != 2 * o->len || util_hex_decode(dst, o->len, val) != 0) {
		util_err_set(err, errlen,
		    "--%s: expected %zu hex digits "
		    "(%zu octets), got %s%zu",
		    o->name, 2 * o->len, o->len,
		    n > 2 * o->len ? "more than " : "",
		    n > 2 * o->len ? 2 * o->len : n);
		OPENSSL_cleanse(dst, o->len);
		return AKA_ERR_ARG;
	}
	return AKA_OK;
}

int aka_av_args_parse(aka_av_args_t *out, int argc, char *const *argv,
    char *err, size_t errlen)
{
	int seen[AV_NOPTS] = { 0 };
	int i, rc = AKA_ERR_ARG;
	size_t j;

	util_err_set(err, errlen, "%s", "");
	if (out == NULL || argc < 0 || (argc > 0 && argv == NULL)) {
		util_err_set(err, errlen, "invalid arguments");
		return AKA_ERR_ARG;
	}
	memset(out, 0, sizeof(*out));
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *val = NULL, *eq;
		const struct av_opt *o = NULL;
		size_t nlen;

		if (arg == NULL || strncmp(arg, "--", 2) != 0) {
			util_err_set(err, errlen, "unexpected argument '%.40s'",
			    arg != NULL ? arg : "(null)");
			goto done;
		}
		arg += 2;
		eq = strchr(arg, '=');
		nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		for (j = 0; j < AV_NOPTS; j++)
			if (strlen(av_opts[j].name) == nlen &&
			    strncmp(av_opts[j].name, arg, nlen) == 0)
				break;
		if (j == AV_NOPTS) {
			util_err_set(err, errlen, "unknown option '--%.*s'",
			    (int)(nlen > 40 ? 40 : nlen), arg);
			goto done;
		}
		o = &av_opts[j];
		if (seen[j]) {
			util_err_set(err, errlen, "--%s given twice", o->name);
			goto done;
		}
		seen[j] = 1;
		if (eq != NULL) {
			val = eq + 1;
		} else if (i + 1 < argc && argv[i + 1] != NULL) {
			val = argv[++i];
		} else {
			util_err_set(err, errlen, "--%s needs a value",
			    o->name);
			goto done;
		}
		if ((rc = av_opt_set(out, o, val, err, errlen)) != AKA_OK)
			goto done;
		rc = AKA_ERR_ARG;
		if (o->flag != 0)
			*(int *)((uint8_t *)out + o->flag) = 1;
	}
	for (j = 0; j < AV_NOPTS; j++)
		if (av_opts[j].flag == 0 && !seen[j]) {
			util_err_set(err, errlen, "--%s is required",
			    av_opts[j].name);
			goto done;
		}
	if (out->have_op == out->have_opc) {
		util_err_set(err, errlen, "give exactly one of --op and --opc");
		goto done;
	}
	rc = AKA_OK;
done:
	if (rc != AKA_OK)
		aka_av_args_clear(out);
	return rc;
}

void aka_av_args_clear(aka_av_args_t *a)
{
	if (a != NULL)
		OPENSSL_cleanse(a, sizeof(*a));
}

void aka_av_fields_clear(aka_av_field_t *f, size_t n)
{
	if (f != NULL)
		OPENSSL_cleanse(f, n * sizeof(*f));
}

/* Append one named value to the field list. */
static void av_field_add(aka_av_field_t *out, size_t *n, const char *name,
    const uint8_t *v, size_t len)
{
	out[*n].name = name;
	util_hex_encode(out[*n].hex, v, len);
	(*n)++;
}

int aka_av_compute(aka_av_field_t *out, size_t *out_n, const aka_av_args_t *a,
    char *err, size_t errlen)
{
	uint8_t opc[AKA_OPC_LEN], mac_a[AKA_MAC_LEN], mac_s[AKA_MAC_LEN],
	    res[AKA_RES_LEN], ck[AKA_CK_LEN], ik[AKA_IK_LEN], ak[AKA_AK_LEN],
	    ak_star[AKA_AK_LEN], autn[AKA_AUTN_LEN];
	aka_vector_t v;
	size_t n = 0;
	int i, rc;

	memset(&v, 0, sizeof(v));
	if (out_n != NULL)
		*out_n = 0;
	if (out == NULL || out_n == NULL || a == NULL ||
	    a->have_op == a->have_opc) {
		util_err_set(err, errlen, "invalid arguments");
		return AKA_ERR_ARG;
	}
	if (a->have_op) {
		if ((rc = aka_opc(opc, a->k, a->op)) != AKA_OK)
			goto done;
	} else {
		memcpy(opc, a->opc, sizeof(opc));
	}
	if ((rc = aka_milenage_f1(mac_a, mac_s, a->k, opc, a->rand, a->sqn,
	         a->amf)) != AKA_OK ||
	    (rc = aka_milenage_f2345(res, ck, ik, ak, a->k, opc, a->rand)) !=
	        AKA_OK ||
	    (rc = aka_milenage_f5star(ak_star, a->k, opc, a->rand)) != AKA_OK)
		goto done;
	for (i = 0; i < AKA_SQN_LEN; i++)
		autn[i] = a->sqn[i] ^ ak[i];
	memcpy(autn + AKA_SQN_LEN, a->amf, AKA_AMF_LEN);
	memcpy(autn + AKA_SQN_LEN + AKA_AMF_LEN, mac_a, AKA_MAC_LEN);
	/* The 5G values come from the code the network itself uses. */
	if (a->have_snn &&
	    (rc = aka_vector_make(&v, a->k, opc, a->amf, a->sqn, a->rand,
	         a->snn)) != AKA_OK)
		goto done;
	av_field_add(out, &n, "OPc", opc, sizeof(opc));
	av_field_add(out, &n, "MAC-A", mac_a, sizeof(mac_a));
	av_field_add(out, &n, "MAC-S", mac_s, sizeof(mac_s));
	av_field_add(out, &n, "XRES", res, sizeof(res));
	av_field_add(out, &n, "CK", ck, sizeof(ck));
	av_field_add(out, &n, "IK", ik, sizeof(ik));
	av_field_add(out, &n, "AK", ak, sizeof(ak));
	av_field_add(out, &n, "AK*", ak_star, sizeof(ak_star));
	av_field_add(out, &n, "AUTN", autn, sizeof(autn));
	if (a->have_snn) {
		av_field_add(out, &n, "XRES*", v.xres_star,
		    sizeof(v.xres_star));
		av_field_add(out, &n, "HXRES*", v.hxres_star,
		    sizeof(v.hxres_star));
		av_field_add(out, &n, "K_AUSF", v.kausf, sizeof(v.kausf));
		av_field_add(out, &n, "K_SEAF", v.kseaf, sizeof(v.kseaf));
	}
	*out_n = n;
done:
	if (rc != AKA_OK) {
		util_err_set(err, errlen, "computing the vector failed: %s",
		    aka_strerror(rc));
		aka_av_fields_clear(out, AKA_AV_FIELDS_MAX);
	}
	aka_vector_clear(&v);
	OPENSSL_cleanse(opc, sizeof(opc));
	OPENSSL_cleanse(mac_a, sizeof(mac_a));
	OPENSSL_cleanse(mac_s, sizeof(mac_s));
	OPENSSL_cleanse(res, sizeof(res));
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(ik, sizeof(ik));
	OPENSSL_cleanse(ak, sizeof(ak));
	OPENSSL_cleanse(ak_star, sizeof(ak_star));
	OPENSSL_cleanse(autn, sizeof(autn));
	return rc;
}

int aka_av_write(FILE *fp, const aka_av_args_t *a, char *err, size_t errlen)
{
	aka_av_field_t f[AKA_AV_FIELDS_MAX];
	size_t n = 0, i;
	int rc;

	if (fp == NULL) {
		util_err_set(err, errlen, "invalid arguments");
		return AKA_ERR_ARG;
	}
	if ((rc = aka_av_compute(f, &n, a, err, errlen)) != AKA_OK)
		goto done;
	for (i = 0; i < n; i++)
		if (fprintf(fp, "%s: %s\n", f[i].name, f[i].hex) < 0) {
			util_err_set(err, errlen, "writing the values failed");
			rc = AKA_ERR_IO;
			goto done;
		}
	if (fflush(fp) != 0) {
		util_err_set(err, errlen, "writing the values failed");
		rc = AKA_ERR_IO;
	}
done:
	aka_av_fields_clear(f, AKA_AV_FIELDS_MAX);
	return rc;
}
