/* pcap.c — a thread-safe pcap writer for LINKTYPE_WIRESHARK_UPPER_PDU
 * records carrying NAS-5GS messages (layout in pcap.h). */
#include "pcap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define PCAP_MAGIC 0xa1b2c3d4u
#define PCAP_SNAPLEN 65535u

/* Exported-PDU tags (Wireshark epan/exported_pdu.h). */
#define EXP_PDU_TAG_END_OF_OPT 0
#define EXP_PDU_TAG_DISSECTOR_NAME 12
#define EXP_PDU_TAG_IPV4_SRC 20
#define EXP_PDU_TAG_IPV4_DST 21
#define EXP_PDU_TAG_PORT_TYPE 24
#define EXP_PDU_TAG_SRC_PORT 25
#define EXP_PDU_TAG_DST_PORT 26
#define EXP_PDU_PT_UDP 3

#define DISSECTOR_NAME "nas-5gs"
#define TAGS_MAX 64 /* the tags below take 56 octets */

struct pcap_writer {
	FILE *fp;
	pthread_mutex_t lock;
	pcap_endpoint_t ue;
	pcap_endpoint_t core;
	uint8_t rec[16 + TAGS_MAX + PCAP_MAX_PDU];
};

/* pcap global header (host byte order, as libpcap writes it). */
struct pcap_hdr {
	uint32_t magic;
	uint16_t major;
	uint16_t minor;
	int32_t thiszone;
	uint32_t sigfigs;
	uint32_t snaplen;
	uint32_t linktype;
};

static size_t put_be16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static size_t put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

/* Write one tag with value v (vlen octets) zero-padded to 4; return size. */
static size_t put_tag(uint8_t *p, unsigned tag, const void *v, size_t vlen)
{
	size_t padded = (vlen + 3) & ~(size_t)3;

	put_be16(p, tag);
	put_be16(p + 2, (unsigned)padded);
	memset(p + 4, 0, padded);
	if (vlen > 0)
		memcpy(p + 4, v, vlen);
	return 4 + padded;
}

static size_t put_tag_u32(uint8_t *p, unsigned tag, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	return put_tag(p, tag, b, 4);
}

/* Check that fp (positioned at 0) starts with our kind of header. */
static int header_check(FILE *fp)
{
	struct pcap_hdr h;

	if (fread(&h, sizeof(h), 1, fp) != 1)
		return PCAP_ERR_FORMAT;
	if (h.magic != PCAP_MAGIC || h.major != 2 ||
	    h.linktype != PCAP_LINKTYPE_UPPER_PDU)
		return PCAP_ERR_FORMAT;
	return 0;
}

int pcap_writer_open(pcap_writer **out, const char *path, int flags, char *err,
    size_t errlen)
{
	struct pcap_hdr h = { PCAP_MAGIC, 2, 4, 0, 0, PCAP_SNAPLEN,
		PCAP_LINKTYPE_UPPER_PDU };
	const pcap_endpoint_t ue = { { 192, 0, 2, 2 }, 40000 };
	const pcap_endpoint_t core = { { 192, 0, 2, 1 }, 4997 };
	pcap_writer *w = NULL;
	struct stat st;
	int fd = -1, rc = PCAP_ERR_IO;

	if (out == NULL || path == NULL) {
		util_err_set(err, errlen, "pcap: invalid argument");
		return PCAP_ERR_INVALID_ARG;
	}
	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		util_err_set(err, errlen, "pcap: out of memory");
		return PCAP_ERR_NOMEM;
	}
	w->ue = ue;
	w->core = core;
	fd = open(path,
	    O_RDWR | O_CREAT | O_CLOEXEC |
	        ((flags & PCAP_OPEN_APPEND) ? 0 : O_TRUNC),
	    0640);
	if (fd < 0) {
		util_err_set(err, errlen, "pcap: open %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if ((w->fp = fdopen(fd, "r+b")) == NULL) {
		util_err_set(err, errlen, "pcap: fdopen %s: %s", path,
		    strerror(errno));
		close(fd);
		goto fail;
	}
	if (fstat(fd, &st) != 0) {
		util_err_set(err, errlen, "pcap: stat %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (st.st_size > 0) {
		if ((rc = header_check(w->fp)) != 0) {
			util_err_set(err, errlen,
			    "pcap: %s is not a link-type-252 pcap file", path);
			goto fail;
		}
		rc = PCAP_ERR_IO;
		if (fseek(w->fp, 0, SEEK_END) != 0) {
			util_err_set(err, errlen, "pcap: seek %s: %s", path,
			    strerror(errno));
			goto fail;
		}
	} else if (fwrite(&h, sizeof(h), 1, w->fp) != 1 || fflush(w->fp) != 0) {
		util_err_set(err, errlen, "pcap: write %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (pthread_mutex_init(&w->lock, NULL) != 0) {
		util_err_set(err, errlen, "pcap: mutex init failed");
		goto fail;
	}
	*out = w;
	return 0;
fail:
	if (w->fp != NULL)
		fclose(w->fp);
	free(w);
	return rc;
}

void pcap_writer_set_endpoints(pcap_writer *w, const pcap_endpoint_t *ue,
    const pcap_endpoint_t *core)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	if (ue != NULL)
		w->ue = *ue;
	if (core != NULL)
		w->core = *core;
	pthread_mutex_unlock(&w->lock);
}

/* Build and write one record; the caller holds w->lock. */
static int write_record(pcap_writer *w, const pcap_endpoint_t *src,
    const pcap_endpoint_t *dst, const uint8_t *pdu, size_t len)
{
	uint8_t *r = w->rec, *t = w->rec + 16;
	struct timespec ts;
	uint32_t hdr[4];
	size_t n = 0;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return PCAP_ERR_IO;
	n += put_tag(t + n, EXP_PDU_TAG_DISSECTOR_NAME, DISSECTOR_NAME,
	    strlen(DISSECTOR_NAME));
	n += put_tag(t + n, EXP_PDU_TAG_IPV4_SRC, src->addr, 4);
	n += put_tag(t + n, EXP_PDU_TAG_IPV4_DST, dst->addr, 4);
	n += put_tag_u32(t + n, EXP_PDU_TAG_PORT_TYPE, EXP_PDU_PT_UDP);
	n += put_tag_u32(t + n, EXP_PDU_TAG_SRC_PORT, src->port);
	n += put_tag_u32(t + n, EXP_PDU_TAG_DST_PORT, dst->port);
	n += put_tag(t + n, EXP_PDU_TAG_END_OF_OPT, NULL, 0);
	if (len > 0)
		memcpy(t + n, pdu, len);
	n += len;
	hdr[0] = (uint32_t)ts.tv_sec;
	hdr[1] = (uint32_t)(ts.tv_nsec / 1000);
	hdr[2] = (uint32_t)n;
	hdr[3] = (uint32_t)n;
	memcpy(r, hdr, sizeof(hdr));
	if (fwrite(r, 16 + n, 1, w->fp) != 1 || fflush(w->fp) != 0)
		return PCAP_ERR_IO;
	return 0;
}

int pcap_writer_add_addr(pcap_writer *w, const pcap_endpoint_t *src,
    const pcap_endpoint_t *dst, const uint8_t *pdu, size_t len)
{
	int rc;

	if (w == NULL || src == NULL || dst == NULL || (pdu == NULL && len > 0))
		return PCAP_ERR_INVALID_ARG;
	if (len > PCAP_MAX_PDU)
		return PCAP_ERR_TOO_LONG;
	pthread_mutex_lock(&w->lock);
	rc = write_record(w, src, dst, pdu, len);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

int pcap_writer_add(pcap_writer *w, int dir, const uint8_t *pdu, size_t len)
{
	pcap_endpoint_t src, dst;

	if (w == NULL ||
	    (dir != PCAP_DIR_UE_TO_CORE && dir != PCAP_DIR_CORE_TO_UE))
		return PCAP_ERR_INVALID_ARG;
	pthread_mutex_lock(&w->lock);
	src = dir == PCAP_DIR_UE_TO_CORE ? w->ue : w->core;
	dst = dir == PCAP_DIR_UE_TO_CORE ? w->core : w->ue;
	pthread_mutex_unlock(&w->lock);
	return pcap_writer_add_addr(w, &src, &dst, pdu, len);
}

void pcap_writer_close(pcap_writer *w)
{
	if (w == NULL)
		return;
	fclose(w->fp);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
