/* ch_sbi_seed.c — test-only: give a device a subscription in corehook's
 * store with a known Ki, through the store's own allocation (the path a
 * provisioning takes after the CA checks), so the SBI tests can check the
 * vectors the UDM serves with the device-side USIM functions.
 *   ch_sbi_seed CONFIG DEVICE_ID KI_HEX     prints "SUPI OPC_HEX"
 * Exit 0 ok, 1 failure, 2 bad arguments. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "aka.h"
#include "ch_int.h"
#include "subs.h"
#include "util.h"

int main(int argc, char **argv)
{
	corehook_config *cfg = NULL;
	subs_db *db = NULL;
	subs_record_t rec;
	subs_alloc_t a;
	uint8_t ki[16], opc[16];
	char err[512], hex[33];
	int rc = 1;

	memset(&rec, 0, sizeof(rec));
	if (argc != 4 || util_hex_decode(ki, 16, argv[3]) != 0) {
		fprintf(stderr, "usage: ch_sbi_seed CONFIG DEVICE_ID KI_HEX\n");
		return 2;
	}
	if (corehook_config_load(&cfg, argv[1], err, sizeof(err)) != 0 ||
	    subs_open(&db, cfg->db_path, err, sizeof(err)) != SUBS_OK)
		goto out;
	if (cfg->have_op) {
		if (aka_opc(opc, ki, cfg->op_or_opc) != AKA_OK)
			goto out;
	} else {
		memcpy(opc, cfg->op_or_opc, 16);
	}
	memset(&a, 0, sizeof(a));
	a.device_id = argv[2];
	a.mcc = cfg->mcc;
	a.mnc = cfg->mnc;
	a.msin_first = cfg->msin_first;
	a.msin_last = cfg->msin_last;
	a.ki = ki;
	a.opc = opc;
	a.amf = cfg->amf;
	a.sqn = cfg->sqn_initial;
	a.profile = "{}";
	a.counter = 1; /* the first provisioning request of the device */
	if (subs_allocate(db, &rec, &a, err, sizeof(err)) != SUBS_OK)
		goto out;
	util_hex_encode(hex, opc, 16);
	printf("%s %s\n", rec.supi, hex);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "ch_sbi_seed: %s\n", err);
	OPENSSL_cleanse(ki, sizeof(ki));
	OPENSSL_cleanse(opc, sizeof(opc));
	subs_record_wipe(&rec);
	subs_close(db);
	corehook_config_free(cfg);
	return rc;
}
