/* fuzz_nas.c — libFuzzer target for the NAS-5GS decoder: any input either
 * fails with a NAS_ERR_* code or decodes to a message that re-encodes and
 * decodes to the same value (and needs exactly the space it reports). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nas.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static nas_msg_t a, b;
	static uint8_t out[NAS_MAX_MSG_LEN];
	size_t n, n2;
	int rc;

	rc = nas_decode(&a, data, size);
	if (rc > 0 || rc < NAS_ERR_UNSUPPORTED)
		abort();
	if (rc != 0)
		return 0;
	if (nas_encode(out, sizeof(out), &n, &a) != 0)
		abort();
	if (n > NAS_MAX_MSG_LEN)
		abort();
	if (nas_decode(&b, out, n) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	if (nas_encode(out, n - 1, &n2, &a) != NAS_ERR_SPACE || n2 != 0)
		abort();
	return 0;
}
