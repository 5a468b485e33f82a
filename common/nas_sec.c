/* nas_sec.c — 128-NIA2 / 128-NEA2 / NIA0 / NEA0, NAS key derivation, NAS
 * COUNT and protect / unprotect of NAS messages (see nas_sec.h). AES comes
 * from OpenSSL (ECB as the block function for CMAC, CTR for NEA2); only the
 * CMAC subkey and bit-level padding steps are written here, because
 * OpenSSL's CMAC pads at octet boundaries and NIA2 is defined on bits. */
#include "nas_sec.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "aka.h"

#define BLK 16

const char *nas_sec_strerror(int code)
{
	switch (code) {
	case NAS_SEC_OK: return "ok";
	case NAS_SEC_ERR_ARG: return "bad argument";
	case NAS_SEC_ERR_CRYPTO: return "OpenSSL failure";
	case NAS_SEC_ERR_ALG: return "algorithm not supported";
	case NAS_SEC_ERR_NIA0: return "NIA0 refused outside an emergency";
	case NAS_SEC_ERR_MAC: return "MAC failure";
	case NAS_SEC_ERR_REPLAY: return "replayed NAS COUNT";
	case NAS_SEC_ERR_HDR: return "not a protected 5GMM message";
	case NAS_SEC_ERR_SPACE: return "output buffer too small";
	case NAS_SEC_ERR_COUNT: return "NAS COUNT exhausted";
	default: return "unknown error";
	}
}

const char *nas_sec_alg_name(int is_integrity, int alg)
{
	static const char *const ia[] = { "NIA0", "128-NIA1", "128-NIA2",
		"128-NIA3" };
	static const char *const ea[] = { "NEA0", "128-NEA1", "128-NEA2",
		"128-NEA3" };

	if (alg < 0 || alg > 3)
		return "unknown";
	return is_integrity ? ia[alg] : ea[alg];
}

/* The 8 octets COUNT || BEARER(5) || DIRECTION(1) || 0^26 both algorithms
 * start from. */
static void iv_head(uint8_t *h, uint32_t count, uint8_t bearer, uint8_t dir)
{
	h[0] = (uint8_t)(count >> 24);
	h[1] = (uint8_t)(count >> 16);
	h[2] = (uint8_t)(count >> 8);
	h[3] = (uint8_t)count;
	h[4] = (uint8_t)((bearer << 3) | (dir << 2));
	h[5] = h[6] = h[7] = 0;
}

/* b = b << 1 over 128 bits, XOR Rb (0x87) when the top bit fell out
 * (the CMAC subkey step of NIST SP 800-38B §6.1). */
static void cmac_dbl(uint8_t *b)
{
	uint8_t carry = b[0] >> 7;
	int i;

	for (i = 0; i < BLK - 1; i++)
		b[i] = (uint8_t)((b[i] << 1) | (b[i + 1] >> 7));
	b[BLK - 1] = (uint8_t)((b[BLK - 1] << 1) ^ (carry ? 0x87 : 0));
}

/* Octet i of the CMAC input head(8) || msg truncated to bits bits, with the
 * padding bit right after bit 64 + bits (zero past it). */
static uint8_t cmac_octet(const uint8_t *head, const uint8_t *msg, size_t bits,
    size_t i)
{
	size_t total = 64 + bits, bit0 = i * 8;
	uint8_t v;

	if (bit0 >= total)
		v = 0;
	else if (i < 8)
		v = head[i];
	else
		v = msg[i - 8];
	if (bit0 + 8 > total) {
		/* keep the bits before total, then the 1 of the padding */
		size_t keep = total > bit0 ? total - bit0 : 0;

		if (keep < 8) {
			v = (uint8_t)(v & (uint8_t)(0xFF << (8 - keep)));
			if (total >= bit0)
				v |= (uint8_t)(0x80 >> keep);
		}
	}
	return v;
}

/* AES-128 on one block with an ECB context already keyed. */
static int aes_block(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in)
{
	int n = 0;

	return EVP_EncryptUpdate(c, out, &n, in, BLK) == 1 && n == BLK ? 0 : -1;
}

int nas_sec_nia2(uint8_t *mac, const uint8_t *key, uint32_t count,
    uint8_t bearer, uint8_t direction, const uint8_t *msg, size_t bits)
{
	EVP_CIPHER_CTX *c = NULL;
	uint8_t head[8], k1[BLK], k2[BLK], x[BLK], blk[BLK];
	size_t total, n, i, j;
	int rc = NAS_SEC_ERR_CRYPTO, complete;

	if (mac == NULL || key == NULL || (msg == NULL && bits > 0) ||
	    bearer > 31 || direction > 1 || bits > NAS_SEC_MAX_BITS)
		return NAS_SEC_ERR_ARG;
	iv_head(head, count, bearer, direction);
	total = 64 + bits;
	n = (total + 8 * BLK - 1) / (8 * BLK);
	complete = total % (8 * BLK) == 0;
	memset(x, 0, sizeof(x));
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(c, 0) != 1 || aes_block(c, k1, x) != 0)
		goto out;
	cmac_dbl(k1);
	memcpy(k2, k1, BLK);
	cmac_dbl(k2);
	for (i = 0; i < n; i++) {
		for (j = 0; j < BLK; j++)
			blk[j] = cmac_octet(head, msg, bits, i * BLK + j);
		if (i == n - 1)
			for (j = 0; j < BLK; j++)
				blk[j] ^= complete ? k1[j] : k2[j];
		for (j = 0; j < BLK; j++)
			x[j] ^= blk[j];
		if (aes_block(c, x, x) != 0)
			goto out;
	}
	memcpy(mac, x, NAS_SEC_MAC_LEN);
	rc = NAS_SEC_OK;
out:
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	OPENSSL_cleanse(x, sizeof(x));
	OPENSSL_cleanse(blk, sizeof(blk));
	return rc;
}

/* Zero the bits of a bits-long string past its end in its last octet. */
static void bits_trim(uint8_t *buf, size_t bits)
{
	if (bits % 8 != 0)
		buf[bits / 8] &= (uint8_t)(0xFF << (8 - bits % 8));
}

int nas_sec_nea2(uint8_t *out, const uint8_t *key, uint32_t count,
    uint8_t bearer, uint8_t direction, const uint8_t *in, size_t bits)
{
	EVP_CIPHER_CTX *c = NULL;
	uint8_t iv[BLK];
	size_t len = (bits + 7) / 8;
	int n = 0, rc = NAS_SEC_ERR_CRYPTO;

	if (out == NULL || key == NULL || (in == NULL && bits > 0) ||
	    bearer > 31 || direction > 1 || bits > NAS_SEC_MAX_BITS)
		return NAS_SEC_ERR_ARG;
	if (bits == 0)
		return NAS_SEC_OK;
	memset(iv, 0, sizeof(iv));
	iv_head(iv, count, bearer, direction);
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(c, out, &n, in, (int)len) != 1 ||
	    (size_t)n != len)
		goto out;
	bits_trim(out, bits);
	rc = NAS_SEC_OK;
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int nas_sec_kdf(uint8_t *key, const uint8_t *kamf, uint8_t alg_type,
    uint8_t alg_id)
{
	uint8_t full[AKA_KDF_LEN];
	int rc;

	if (key == NULL || kamf == NULL ||
	    (alg_type != NAS_SEC_ALG_TYPE_ENC &&
	        alg_type != NAS_SEC_ALG_TYPE_INT))
		return NAS_SEC_ERR_ARG;
	rc = aka_knas(full, kamf, alg_type, alg_id) == AKA_OK ?
	    NAS_SEC_OK :
	    NAS_SEC_ERR_CRYPTO;
	if (rc == NAS_SEC_OK)
		memcpy(key, full + AKA_KDF_LEN - NAS_SEC_KEY_LEN,
		    NAS_SEC_KEY_LEN);
	OPENSSL_cleanse(full, sizeof(full));
	return rc;
}

int nas_sec_ctx_init(nas_sec_ctx_t *ctx, const uint8_t *kamf, uint8_t enc_alg,
    uint8_t int_alg, int is_ue, unsigned flags)
{
	int rc;

	if (ctx == NULL || kamf == NULL)
		return NAS_SEC_ERR_ARG;
	memset(ctx, 0, sizeof(*ctx));
	if (int_alg == NAS_SEC_ALG_0 && !(flags & NAS_SEC_ALLOW_NIA0))
		return NAS_SEC_ERR_NIA0;
	if ((int_alg != NAS_SEC_ALG_0 && int_alg != NAS_SEC_ALG_2) ||
	    (enc_alg != NAS_SEC_ALG_0 && enc_alg != NAS_SEC_ALG_2))
		return NAS_SEC_ERR_ALG;
	ctx->int_alg = int_alg;
	ctx->enc_alg = enc_alg;
	ctx->tx_dir = is_ue ? NAS_SEC_DIR_UPLINK : NAS_SEC_DIR_DOWNLINK;
	ctx->bearer = NAS_SEC_BEARER_3GPP;
	rc = nas_sec_kdf(ctx->knas_int, kamf, NAS_SEC_ALG_TYPE_INT, int_alg);
	if (rc == NAS_SEC_OK)
		rc = nas_sec_kdf(ctx->knas_enc, kamf, NAS_SEC_ALG_TYPE_ENC,
		    enc_alg);
	if (rc != NAS_SEC_OK)
		nas_sec_ctx_clear(ctx);
	return rc;
}

void nas_sec_ctx_clear(nas_sec_ctx_t *ctx)
{
	if (ctx != NULL)
		OPENSSL_cleanse(ctx, sizeof(*ctx));
}

int nas_sec_mac(uint8_t *mac, uint8_t alg, unsigned flags, const uint8_t *key,
    uint32_t count, uint8_t bearer, uint8_t direction, const uint8_t *msg,
    size_t bits)
{
	if (mac == NULL)
		return NAS_SEC_ERR_ARG;
	if (alg == NAS_SEC_ALG_0) {
		if (!(flags & NAS_SEC_ALLOW_NIA0))
			return NAS_SEC_ERR_NIA0;
		memset(mac, 0, NAS_SEC_MAC_LEN);
		return NAS_SEC_OK;
	}
	if (alg != NAS_SEC_ALG_2)
		return NAS_SEC_ERR_ALG;
	return nas_sec_nia2(mac, key, count, bearer, direction, msg, bits);
}

/* Cipher (or decipher) len octets in place with ctx's algorithm. */
static int ctx_cipher(const nas_sec_ctx_t *ctx, uint32_t count, uint8_t dir,
    uint8_t *buf, size_t len)
{
	if (ctx->enc_alg == NAS_SEC_ALG_0)
		return NAS_SEC_OK;
	return nas_sec_nea2(buf, ctx->knas_enc, count, ctx->bearer, dir, buf,
	    len * 8);
}

/* MAC of SQN || message (the part of a protected message from octet 7 on),
 * with ctx's integrity algorithm. NIA0 passed ctx_init only when allowed. */
static int ctx_mac(const nas_sec_ctx_t *ctx, uint8_t *mac, uint32_t count,
    uint8_t dir, const uint8_t *from_sqn, size_t len)
{
	return nas_sec_mac(mac, ctx->int_alg, NAS_SEC_ALLOW_NIA0, ctx->knas_int,
	    count, ctx->bearer, dir, from_sqn, len * 8);
}

int nas_sec_protect(uint8_t *out, size_t outcap, size_t *outlen,
    nas_sec_ctx_t *ctx, uint8_t hdr, const uint8_t *plain, size_t plen)
{
	uint32_t count;
	int rc;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL || ctx == NULL || plain == NULL ||
	    plen == 0 || hdr < NAS_SEC_HDR_INTEGRITY ||
	    hdr > NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW ||
	    plen > NAS_SEC_MAX_BITS / 8 - 1)
		return NAS_SEC_ERR_ARG;
	if (outcap < NAS_SEC_HDR_LEN + plen)
		return NAS_SEC_ERR_SPACE;
	if (ctx->tx_count > NAS_SEC_COUNT_MAX)
		return NAS_SEC_ERR_COUNT;
	count = ctx->tx_count;
	out[0] = 0x7E;
	out[1] = hdr;
	out[6] = (uint8_t)count;
	memcpy(out + NAS_SEC_HDR_LEN, plain, plen);
	if (hdr == NAS_SEC_HDR_INTEGRITY_CIPHERED ||
	    hdr == NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW) {
		rc = ctx_cipher(ctx, count, ctx->tx_dir, out + NAS_SEC_HDR_LEN,
		    plen);
		if (rc != NAS_SEC_OK)
			return rc;
	}
	rc = ctx_mac(ctx, out + 2, count, ctx->tx_dir, out + 6, plen + 1);
	if (rc != NAS_SEC_OK)
		return rc;
	ctx->tx_count = count + 1;
	*outlen = NAS_SEC_HDR_LEN + plen;
	return NAS_SEC_OK;
}

int nas_sec_header_type(const uint8_t *msg, size_t len)
{
	if (msg == NULL || len < 3 || msg[0] != 0x7E || (msg[1] & 0xF0) != 0 ||
	    msg[1] > NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW)
		return NAS_SEC_ERR_HDR;
	return msg[1];
}

/* COUNT estimated from a received SQN against the lowest COUNT still
 * accepted (TS 24.501 §4.4.3.1): an SQN below the expected one means the
 * overflow counter moved on. */
static uint32_t count_estimate(uint32_t rx, uint8_t sqn)
{
	uint32_t ovf = rx >> 8;

	if (sqn < (uint8_t)rx)
		ovf++;
	return (ovf << 8) | sqn;
}

int nas_sec_unprotect(uint8_t *out, size_t outcap, size_t *outlen,
    uint8_t *out_hdr, nas_sec_ctx_t *ctx, const uint8_t *msg, size_t len)
{
	uint8_t mac[NAS_SEC_MAC_LEN], rx_dir;
	uint32_t count;
	size_t plen;
	int hdr, rc;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL || out_hdr == NULL || ctx == NULL ||
	    msg == NULL || len > NAS_SEC_MAX_BITS / 8)
		return NAS_SEC_ERR_ARG;
	hdr = nas_sec_header_type(msg, len);
	if (hdr <= 0 || len <= NAS_SEC_HDR_LEN)
		return NAS_SEC_ERR_HDR;
	plen = len - NAS_SEC_HDR_LEN;
	if (outcap < plen)
		return NAS_SEC_ERR_SPACE;
	rx_dir = ctx->tx_dir ^ 1;
	count = count_estimate(ctx->rx_count, msg[6]);
	if (count > NAS_SEC_COUNT_MAX)
		return NAS_SEC_ERR_COUNT;
	rc = ctx_mac(ctx, mac, count, rx_dir, msg + 6, plen + 1);
	if (rc != NAS_SEC_OK)
		return rc;
	if (CRYPTO_memcmp(mac, msg + 2, NAS_SEC_MAC_LEN) != 0) {
		/* The same SQN one overflow back: an already used COUNT. */
		uint32_t old = count - 256;

		if (count >= 256 && old < ctx->rx_count &&
		    ctx_mac(ctx, mac, old, rx_dir, msg + 6, plen + 1) ==
		        NAS_SEC_OK &&
		    CRYPTO_memcmp(mac, msg + 2, NAS_SEC_MAC_LEN) == 0)
			return NAS_SEC_ERR_REPLAY;
		return NAS_SEC_ERR_MAC;
	}
	memcpy(out, msg + NAS_SEC_HDR_LEN, plen);
	if (hdr == NAS_SEC_HDR_INTEGRITY_CIPHERED ||
	    hdr == NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW) {
		rc = ctx_cipher(ctx, count, rx_dir, out, plen);
		if (rc != NAS_SEC_OK) {
			OPENSSL_cleanse(out, plen);
			return rc;
		}
	}
	ctx->rx_count = count + 1;
	*out_hdr = (uint8_t)hdr;
	*outlen = plen;
	return NAS_SEC_OK;
}
