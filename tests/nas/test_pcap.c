/* test_pcap.c — the upper-PDU pcap writer: exact header and record bytes,
 * append, refusal of foreign files, errors, and concurrent writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pcap.h"

static char dir[] = "/tmp/provca-pcap-XXXXXX";
static char path[256];

/* The tags every record starts with, for UE 192.0.2.2:40000 -> core
 * 192.0.2.1:4997. */
static const uint8_t UE_TAGS[] = {
	0x00,
	0x0c,
	0x00,
	0x08,
	'n',
	'a',
	's',
	'-',
	'5',
	'g',
	's',
	0x00,
	0x00,
	0x14,
	0x00,
	0x04,
	192,
	0,
	2,
	2,
	0x00,
	0x15,
	0x00,
	0x04,
	192,
	0,
	2,
	1,
	0x00,
	0x18,
	0x00,
	0x04,
	0,
	0,
	0,
	3,
	0x00,
	0x19,
	0x00,
	0x04,
	0,
	0,
	0x9c,
	0x40,
	0x00,
	0x1a,
	0x00,
	0x04,
	0,
	0,
	0x13,
	0x85,
	0x00,
	0x00,
	0x00,
	0x00,
};

static uint8_t *slurp(size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *p;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return p;
}

static uint32_t u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Walk the records after the 24-byte header; return their count and check
 * each holds the tags and a NAS message. */
static size_t count_records(const uint8_t *f, size_t len)
{
	size_t off = 24, n = 0;

	while (off < len) {
		uint32_t incl;

		assert_true(off + 16 <= len);
		incl = u32(f + off + 8);
		assert_int_equal(incl, u32(f + off + 12));
		assert_true(off + 16 + incl <= len);
		assert_true(incl > sizeof(UE_TAGS));
		assert_memory_equal(f + off + 16, UE_TAGS, 12);
		assert_int_equal(f[off + 16 + sizeof(UE_TAGS)], 0x7e);
		off += 16 + incl;
		n++;
	}
	assert_int_equal(off, len);
	return n;
}

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/trace.pcap", dir);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	rmdir(dir);
	return 0;
}

static void test_pcap_writer__exact_bytes(void **state)
{
	static const uint8_t msg[] = { 0x7e, 0x00, 0x58 };
	pcap_writer *w = NULL;
	char err[128];
	uint8_t *f;
	size_t len;
	struct stat st;

	assert_int_equal(pcap_writer_open(&w, path, 0, err, sizeof(err)), 0);
	assert_int_equal(pcap_writer_add(w, PCAP_DIR_UE_TO_CORE, msg, 3), 0);
	/* flushed per record: visible before close */
	f = slurp(&len);
	assert_int_equal(len, 24 + 16 + sizeof(UE_TAGS) + 3);
	free(f);
	assert_int_equal(pcap_writer_add(w, PCAP_DIR_CORE_TO_UE, msg, 3), 0);
	pcap_writer_close(w);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);

	f = slurp(&len);
	assert_int_equal(len, 24 + 2 * (16 + sizeof(UE_TAGS) + 3));
	assert_int_equal(u32(f), 0xa1b2c3d4);
	assert_int_equal(f[4] | f[5] << 8, 2); /* v2.4, host order */
	assert_int_equal(f[6] | f[7] << 8, 4);
	assert_int_equal(u32(f + 16), 65535);
	assert_int_equal(u32(f + 20), 252);
	assert_int_equal(u32(f + 24 + 8), sizeof(UE_TAGS) + 3);
	assert_memory_equal(f + 24 + 16, UE_TAGS, sizeof(UE_TAGS));
	assert_memory_equal(f + 24 + 16 + sizeof(UE_TAGS), msg, 3);
	/* the second record swaps addresses and ports */
	{
		const uint8_t *r = f + 24 + 16 + sizeof(UE_TAGS) + 3 + 16;

		assert_memory_equal(r + 16, "\xc0\x00\x02\x01", 4);
		assert_memory_equal(r + 24, "\xc0\x00\x02\x02", 4);
		assert_memory_equal(r + 40, "\x00\x00\x13\x85", 4);
		assert_memory_equal(r + 48, "\x00\x00\x9c\x40", 4);
	}
	free(f);
}

static void test_pcap_writer__append_and_endpoints(void **state)
{
	static const uint8_t msg[] = { 0x7e, 0x00, 0x57 };
	const pcap_endpoint_t a = { { 10, 0, 0, 1 }, 1 },
	                      b = { { 10, 0, 0, 2 }, 2 };
	pcap_writer *w = NULL;
	uint8_t *f;
	size_t len;

	assert_int_equal(pcap_writer_open(&w, path, 0, NULL, 0), 0);
	assert_int_equal(pcap_writer_add(w, PCAP_DIR_UE_TO_CORE, msg, 3), 0);
	pcap_writer_close(w);
	assert_int_equal(pcap_writer_open(&w, path, PCAP_OPEN_APPEND, NULL, 0),
	    0);
	assert_int_equal(pcap_writer_add(w, PCAP_DIR_UE_TO_CORE, msg, 3), 0);
	pcap_writer_set_endpoints(w, &a, NULL);
	assert_int_equal(pcap_writer_add_addr(w, &a, &b, msg, 3), 0);
	pcap_writer_close(w);
	f = slurp(&len);
	assert_int_equal(len, 24 + 3 * (16 + sizeof(UE_TAGS) + 3));
	/* one header only; the third record carries a -> b */
	{
		const uint8_t *r = f + 24 + 2 * (16 + sizeof(UE_TAGS) + 3) + 16;

		assert_memory_equal(r + 16, "\x0a\x00\x00\x01", 4);
		assert_memory_equal(r + 24, "\x0a\x00\x00\x02", 4);
		assert_memory_equal(r + 40, "\x00\x00\x00\x01", 4);
	}
	free(f);
	/* without APPEND the file starts over */
	assert_int_equal(pcap_writer_open(&w, path, 0, NULL, 0), 0);
	pcap_writer_close(w);
	f = slurp(&len);
	assert_int_equal(len, 24);
	free(f);
}

static void test_pcap_writer__errors(void **state)
{
	pcap_writer *w = (pcap_writer *)1;
	static uint8_t big[PCAP_MAX_PDU + 1];
	char err[128] = "";
	FILE *fp;

	/* a file that is not ours is refused, and left alone */
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fputs("not a pcap file at all, really not", fp);
	fclose(fp);
	assert_int_equal(pcap_writer_open(&w, path, PCAP_OPEN_APPEND, err,
	                     sizeof(err)),
	    PCAP_ERR_FORMAT);
	assert_null(w);
	assert_non_null(strstr(err, "not a link-type-252 pcap"));
	/* a pcap of another link type too */
	fp = fopen(path, "wb");
	assert_non_null(fp);
	{
		uint32_t h[6] = { 0xa1b2c3d4, 2 | 4 << 16, 0, 0, 65535, 1 };

		fwrite(h, sizeof(h), 1, fp);
	}
	fclose(fp);
	assert_int_equal(pcap_writer_open(&w, path, PCAP_OPEN_APPEND, NULL, 0),
	    PCAP_ERR_FORMAT);
	/* unopenable path */
	assert_int_equal(pcap_writer_open(&w, "/nonexistent-dir/x.pcap", 0, err,
	                     sizeof(err)),
	    PCAP_ERR_IO);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(pcap_writer_open(NULL, path, 0, NULL, 0),
	    PCAP_ERR_INVALID_ARG);
	assert_int_equal(pcap_writer_open(&w, NULL, 0, NULL, 0),
	    PCAP_ERR_INVALID_ARG);

	assert_int_equal(pcap_writer_open(&w, path, 0, NULL, 0), 0);
	assert_int_equal(pcap_writer_add(w, PCAP_DIR_UE_TO_CORE, big,
	                     sizeof(big)),
	    PCAP_ERR_TOO_LONG);
	assert_int_equal(pcap_writer_add(w, 7, big, 3), PCAP_ERR_INVALID_ARG);
	assert_int_equal(pcap_writer_add(w, PCAP_DIR_UE_TO_CORE, NULL, 3),
	    PCAP_ERR_INVALID_ARG);
	assert_int_equal(pcap_writer_add(NULL, PCAP_DIR_UE_TO_CORE, big, 3),
	    PCAP_ERR_INVALID_ARG);
	assert_int_equal(pcap_writer_add_addr(w, NULL, NULL, big, 3),
	    PCAP_ERR_INVALID_ARG);
	pcap_writer_close(w);
	pcap_writer_close(NULL);
}

#define THREADS 4
#define PER_THREAD 250

static void *writer_thread(void *arg)
{
	pcap_writer *w = arg;
	uint8_t msg[64];

	msg[0] = 0x7e;
	for (int i = 0; i < PER_THREAD; i++) {
		size_t n = 3 + (size_t)(i % 60);

		memset(msg + 1, i, n - 1);
		if (pcap_writer_add(w, PCAP_DIR_UE_TO_CORE, msg, n) != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_pcap_writer__threads_do_not_interleave(void **state)
{
	pthread_t t[THREADS];
	pcap_writer *w = NULL;
	uint8_t *f;
	size_t len;

	assert_int_equal(pcap_writer_open(&w, path, 0, NULL, 0), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer_thread, w),
		    0);
	for (int i = 0; i < THREADS; i++) {
		void *rv;

		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_null(rv);
	}
	pcap_writer_close(w);
	f = slurp(&len);
	assert_int_equal(count_records(f, len), THREADS * PER_THREAD);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcap_writer__exact_bytes),
		cmocka_unit_test(test_pcap_writer__append_and_endpoints),
		cmocka_unit_test(test_pcap_writer__errors),
		cmocka_unit_test(test_pcap_writer__threads_do_not_interleave),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
