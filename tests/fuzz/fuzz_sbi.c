/* fuzz_sbi.c — libFuzzer target for the SBI's HTTP/2 server side
 * (corehook/sbi_server.c over libnghttp2): any byte stream a client sends
 * is framed without a crash, and every request handed to the handler keeps
 * the server's contract (method and path present and bounded, body at most
 * SBI_BODY_MAX and NUL-terminated); the JSON body is then parsed as the
 * Nudm_UEAU handlers parse it. Input: the client's bytes after connecting
 * (seeds carry the connection preface, SETTINGS, HEADERS and DATA). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sbi.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The handler: check the request, parse the body, answer like UEAU. */
static void handle(void *arg, const sbi_request_t *req, sbi_response_t *resp)
{
	cJSON *doc;
	const cJSON *it;
	uint8_t rand[16];

	(void)arg;
	if (req->method[0] == '\0' || req->path[0] == '\0' ||
	    strlen(req->path) >= 512 || req->body_len > SBI_BODY_MAX ||
	    req->body[req->body_len] != '\0' || strcmp(req->peer, "127.0.0.1"))
		abort();
	doc = cJSON_ParseWithLength((const char *)req->body, req->body_len);
	resp->status = doc != NULL ? 200 : 400;
	it = cJSON_GetObjectItemCaseSensitive(doc, "resynchronizationInfo");
	it = cJSON_GetObjectItemCaseSensitive(it, "rand");
	if (cJSON_IsString(it))
		(void)util_hex_decode(rand, sizeof(rand), it->valuestring);
	if (doc != NULL && (resp->body = cJSON_PrintUnformatted(doc)) != NULL) {
		resp->body_len = strlen(resp->body);
		strcpy(resp->content_type, "application/json");
		strcpy(resp->location, "http://127.0.0.1:7777/x");
	}
	cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)sbi_server_feed(data, size, handle, NULL);
	return 0;
}
