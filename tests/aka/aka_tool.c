/* aka_tool.c — a test-only command line over common/aka.h, so scripts can
 * compare ProvCA's values with independent tools (osmo-auc-gen).
 *   aka_tool av <corehook av options>       NAME: hex lines (aka_av_write)
 *   aka_tool auts K OPC RAND SQN_MS          AUTS: hex
 *   aka_tool resync K OPC RAND AUTS          SQN_MS: hex, or exit 1
 *   aka_tool usim K OPC RAND AUTN SNN SQN_MS result: <code> and values
 * Exit 0 ok, 1 AKA failure, 2 bad arguments. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "aka.h"
#include "util.h"

/* Decode argv hex of exactly len octets, or complain and return -1. */
static int arg_hex(uint8_t *out, size_t len, const char *s, const char *what)
{
	if (util_hex_decode(out, len, s) != 0) {
		fprintf(stderr, "aka_tool: %s must be %zu hex digits\n", what,
		    2 * len);
		return -1;
	}
	return 0;
}

static void put_hex(const char *name, const uint8_t *v, size_t len)
{
	char hex[2 * 32 + 1];

	util_hex_encode(hex, v, len);
	printf("%s: %s\n", name, hex);
}

static int cmd_av(int argc, char **argv)
{
	aka_av_args_t a;
	char err[256];
	int rc;

	if (aka_av_args_parse(&a, argc, argv, err, sizeof(err)) != AKA_OK) {
		fprintf(stderr, "aka_tool av: %s\n", err);
		return 2;
	}
	rc = aka_av_write(stdout, &a, err, sizeof(err));
	aka_av_args_clear(&a);
	if (rc != AKA_OK) {
		fprintf(stderr, "aka_tool av: %s\n", err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t k[16], opc[16], rand[16], x[16], sqn[6];
	aka_usim_result_t r;
	int rc, ret = 2;

	if (argc >= 2 && strcmp(argv[1], "av") == 0)
		return cmd_av(argc - 2, argv + 2);
	if (argc < 6 || arg_hex(k, 16, argv[2], "K") != 0 ||
	    arg_hex(opc, 16, argv[3], "OPc") != 0 ||
	    arg_hex(rand, 16, argv[4], "RAND") != 0)
		goto usage;
	if (strcmp(argv[1], "auts") == 0 && argc == 6) {
		if (arg_hex(sqn, 6, argv[5], "SQN_MS") != 0)
			goto done;
		/* A replayed AUTN (SQN = SQN_MS) makes the USIM answer AUTS. */
		{
			aka_vector_t v;

			if (aka_vector_make(&v, k, opc,
			        (const uint8_t *)"\x80\x00", sqn, rand,
			        "5G:mnc001.mcc001.3gppnetwork.org") != AKA_OK)
				goto fail;
			rc = aka_usim_authenticate(&r, k, opc, rand, v.autn,
			    "5G:mnc001.mcc001.3gppnetwork.org", sqn);
			aka_vector_clear(&v);
		}
		if (rc != AKA_ERR_SYNC)
			goto fail;
		put_hex("AUTS", r.auts, AKA_AUTS_LEN);
		ret = 0;
	} else if (strcmp(argv[1], "resync") == 0 && argc == 6) {
		if (arg_hex(x, 14, argv[5], "AUTS") != 0)
			goto done;
		if (aka_auts_resync(sqn, k, opc, rand, x) != AKA_OK)
			goto fail;
		put_hex("SQN_MS", sqn, 6);
		ret = 0;
	} else if (strcmp(argv[1], "usim") == 0 && argc == 8) {
		if (arg_hex(x, 16, argv[5], "AUTN") != 0 ||
		    arg_hex(sqn, 6, argv[7], "SQN_MS") != 0)
			goto done;
		rc = aka_usim_authenticate(&r, k, opc, rand, x, argv[6], sqn);
		printf("result: %s\n", aka_strerror(rc));
		if (rc == AKA_OK) {
			put_hex("RES*", r.res_star, AKA_RES_STAR_LEN);
			put_hex("K_AUSF", r.kausf, AKA_KAUSF_LEN);
			put_hex("K_SEAF", r.kseaf, AKA_KSEAF_LEN);
			put_hex("SQN", r.sqn, AKA_SQN_LEN);
		} else if (rc == AKA_ERR_SYNC) {
			put_hex("AUTS", r.auts, AKA_AUTS_LEN);
		}
		ret = rc == AKA_OK ? 0 : 1;
	} else {
		goto usage;
	}
	goto done;
usage:
	fprintf(stderr,
	    "usage: aka_tool av OPTIONS | auts K OPC RAND SQN_MS |"
	    " resync K OPC RAND AUTS | usim K OPC RAND AUTN SNN SQN_MS\n");
	goto done;
fail:
	fprintf(stderr, "aka_tool: %s failed\n", argv[1]);
	ret = 1;
done:
	aka_usim_result_clear(&r);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(opc, sizeof(opc));
	return ret;
}
