/* milenage.c — the MILENAGE functions f1, f1*, f2-f5, f5* and OPc of
 * TS 35.206 §4.1, on OpenSSL's AES-128 (ECB, one block at a time). */
#include "aka.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define BLK 16

/* Rotation amounts r1..r5 of TS 35.206 in octets (64, 0, 32, 64, 96 bits);
 * constants c1..c5 differ only in the last octet (0, 1, 2, 4, 8). */
enum { R1 = 8, R2 = 0, R3 = 4, R4 = 8, R5 = 12 };
enum { C1 = 0x00, C2 = 0x01, C3 = 0x02, C4 = 0x04, C5 = 0x08 };

/* A keyed AES-128-ECB encryptor in *out, or AKA_ERR_CRYPTO. */
static int aes_new(EVP_CIPHER_CTX **out, const uint8_t *k)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	*out = NULL;
	if (ctx == NULL)
		goto fail;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, k, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)
		goto fail;
	*out = ctx;
	return AKA_OK;
fail:
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	return AKA_ERR_CRYPTO;
}

/* out = AES_K(in), one block. */
static int aes_block(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in)
{
	int outl = 0;

	if (EVP_EncryptUpdate(ctx, out, &outl, in, BLK) != 1 || outl != BLK) {
		ERR_clear_error();
		return AKA_ERR_CRYPTO;
	}
	return AKA_OK;
}

/* out = x rotated toward the most significant end by r octets. */
static void rot(uint8_t *out, const uint8_t *x, int r)
{
	int i;

	for (i = 0; i < BLK; i++)
		out[i] = x[(i + r) % BLK];
}

/* TEMP = AES_K(RAND ^ OPc). */
static int temp_compute(EVP_CIPHER_CTX *ctx, uint8_t *temp, const uint8_t *opc,
    const uint8_t *rand)
{
	uint8_t x[BLK];
	int i, rc;

	for (i = 0; i < BLK; i++)
		x[i] = rand[i] ^ opc[i];
	rc = aes_block(ctx, temp, x);
	OPENSSL_cleanse(x, sizeof(x));
	return rc;
}

/* OUTn = AES_K(rot(TEMP ^ OPc, r) ^ c) ^ OPc, for n = 2..5. */
static int out_compute(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *temp,
    const uint8_t *opc, int r, uint8_t c)
{
	uint8_t x[BLK], y[BLK];
	int i, rc;

	for (i = 0; i < BLK; i++)
		x[i] = temp[i] ^ opc[i];
	rot(y, x, r);
	y[BLK - 1] ^= c;
	rc = aes_block(ctx, out, y);
	for (i = 0; i < BLK; i++)
		out[i] ^= opc[i];
	OPENSSL_cleanse(x, sizeof(x));
	OPENSSL_cleanse(y, sizeof(y));
	return rc;
}

int aka_opc(uint8_t *opc, const uint8_t *k, const uint8_t *op)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t e[BLK];
	int i, rc;

	if (opc == NULL || k == NULL || op == NULL)
		return AKA_ERR_ARG;
	if ((rc = aes_new(&ctx, k)) != AKA_OK)
		goto done;
	if ((rc = aes_block(ctx, e, op)) != AKA_OK)
		goto done;
	for (i = 0; i < BLK; i++)
		opc[i] = op[i] ^ e[i];
done:
	if (rc != AKA_OK)
		OPENSSL_cleanse(opc, AKA_OPC_LEN);
	OPENSSL_cleanse(e, sizeof(e));
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int aka_milenage_f1(uint8_t *mac_a, uint8_t *mac_s, const uint8_t *k,
    const uint8_t *opc, const uint8_t *rand, const uint8_t *sqn,
    const uint8_t *amf)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t temp[BLK], in1[BLK], x[BLK], y[BLK], out1[BLK];
	int i, rc;

	if (k == NULL || opc == NULL || rand == NULL || sqn == NULL ||
	    amf == NULL || (mac_a == NULL && mac_s == NULL))
		return AKA_ERR_ARG;
	if ((rc = aes_new(&ctx, k)) != AKA_OK)
		goto done;
	if ((rc = temp_compute(ctx, temp, opc, rand)) != AKA_OK)
		goto done;
	/* IN1 = SQN || AMF || SQN || AMF */
	memcpy(in1, sqn, AKA_SQN_LEN);
	memcpy(in1 + 6, amf, AKA_AMF_LEN);
	memcpy(in1 + 8, sqn, AKA_SQN_LEN);
	memcpy(in1 + 14, amf, AKA_AMF_LEN);
	/* OUT1 = AES_K(TEMP ^ rot(IN1 ^ OPc, r1) ^ c1) ^ OPc */
	for (i = 0; i < BLK; i++)
		x[i] = in1[i] ^ opc[i];
	rot(y, x, R1);
	for (i = 0; i < BLK; i++)
		y[i] ^= temp[i];
	y[BLK - 1] ^= C1;
	if ((rc = aes_block(ctx, out1, y)) != AKA_OK)
		goto done;
	for (i = 0; i < BLK; i++)
		out1[i] ^= opc[i];
	if (mac_a != NULL)
		memcpy(mac_a, out1, AKA_MAC_LEN);
	if (mac_s != NULL)
		memcpy(mac_s, out1 + 8, AKA_MAC_LEN);
done:
	if (rc != AKA_OK) {
		if (mac_a != NULL)
			OPENSSL_cleanse(mac_a, AKA_MAC_LEN);
		if (mac_s != NULL)
			OPENSSL_cleanse(mac_s, AKA_MAC_LEN);
	}
	OPENSSL_cleanse(temp, sizeof(temp));
	OPENSSL_cleanse(in1, sizeof(in1));
	OPENSSL_cleanse(x, sizeof(x));
	OPENSSL_cleanse(y, sizeof(y));
	OPENSSL_cleanse(out1, sizeof(out1));
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int aka_milenage_f2345(uint8_t *res, uint8_t *ck, uint8_t *ik, uint8_t *ak,
    const uint8_t *k, const uint8_t *opc, const uint8_t *rand)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t temp[BLK], out[BLK];
	int rc;

	if (k == NULL || opc == NULL || rand == NULL ||
	    (res == NULL && ck == NULL && ik == NULL && ak == NULL))
		return AKA_ERR_ARG;
	if ((rc = aes_new(&ctx, k)) != AKA_OK)
		goto done;
	if ((rc = temp_compute(ctx, temp, opc, rand)) != AKA_OK)
		goto done;
	if (res != NULL || ak != NULL) {
		/* OUT2: f5 = AK is octets 0..5, f2 = RES is octets 8..15 */
		if ((rc = out_compute(ctx, out, temp, opc, R2, C2)) != AKA_OK)
			goto done;
		if (ak != NULL)
			memcpy(ak, out, AKA_AK_LEN);
		if (res != NULL)
			memcpy(res, out + 8, AKA_RES_LEN);
	}
	if (ck != NULL) {
		if ((rc = out_compute(ctx, out, temp, opc, R3, C3)) != AKA_OK)
			goto done;
		memcpy(ck, out, AKA_CK_LEN);
	}
	if (ik != NULL) {
		if ((rc = out_compute(ctx, out, temp, opc, R4, C4)) != AKA_OK)
			goto done;
		memcpy(ik, out, AKA_IK_LEN);
	}
done:
	if (rc != AKA_OK) {
		if (res != NULL)
			OPENSSL_cleanse(res, AKA_RES_LEN);
		if (ck != NULL)
			OPENSSL_cleanse(ck, AKA_CK_LEN);
		if (ik != NULL)
			OPENSSL_cleanse(ik, AKA_IK_LEN);
		if (ak != NULL)
			OPENSSL_cleanse(ak, AKA_AK_LEN);
	}
	OPENSSL_cleanse(temp, sizeof(temp));
	OPENSSL_cleanse(out, sizeof(out));
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int aka_milenage_f5star(uint8_t *ak_star, const uint8_t *k, const uint8_t *opc,
    const uint8_t *rand)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t temp[BLK], out[BLK];
	int rc;

	if (ak_star == NULL || k == NULL || opc == NULL || rand == NULL)
		return AKA_ERR_ARG;
	if ((rc = aes_new(&ctx, k)) != AKA_OK)
		goto done;
	if ((rc = temp_compute(ctx, temp, opc, rand)) != AKA_OK)
		goto done;
	if ((rc = out_compute(ctx, out, temp, opc, R5, C5)) != AKA_OK)
		goto done;
	memcpy(ak_star, out, AKA_AK_LEN);
done:
	if (rc != AKA_OK)
		OPENSSL_cleanse(ak_star, AKA_AK_LEN);
	OPENSSL_cleanse(temp, sizeof(temp));
	OPENSSL_cleanse(out, sizeof(out));
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}
