/* pcap.h — append NAS messages to a pcap file that Wireshark decodes with
 * its own NAS-5GS dissector.
 *
 * File format: classic pcap (magic 0xa1b2c3d4 in host byte order,
 * microsecond timestamps, version 2.4, snaplen 65535) with link type
 * LINKTYPE_WIRESHARK_UPPER_PDU (252). Each record is a list of exported-PDU
 * tags (Wireshark epan/exported_pdu.h: 2-octet tag, 2-octet length, value
 * padded with zeros to a multiple of 4, all big-endian) followed by the NAS
 * message:
 *   tag 12 (dissector name) "nas-5gs" padded to 8 octets,
 *   tag 20/21 (IPv4 source/destination, 4 octets),
 *   tag 24 (port type, 4 octets, 3 = UDP),
 *   tag 25/26 (source/destination port, 4 octets),
 *   tag 0 (end of options, length 0).
 * The addresses only make direction visible in tshark's Source/Destination
 * columns; no IP or UDP header is written.
 *
 * A writer may be shared by threads: records are serialised by a mutex and
 * each one is flushed to the file before pcap_writer_add*() returns.
 */
#ifndef PROVCA_PCAP_H
#define PROVCA_PCAP_H

#include <stddef.h>
#include <stdint.h>

#define PCAP_LINKTYPE_UPPER_PDU 252
#define PCAP_MAX_PDU 60000 /* largest message one record holds */

enum {
	PCAP_OK = 0,
	PCAP_ERR_INVALID_ARG = -1,
	PCAP_ERR_IO = -2,     /* open/read/write/flush failed */
	PCAP_ERR_FORMAT = -3, /* existing file is not our pcap kind */
	PCAP_ERR_NOMEM = -4,
	PCAP_ERR_TOO_LONG = -5, /* pdu longer than PCAP_MAX_PDU */
};

/* Direction of a message; selects the writer's UE and core endpoints. */
enum {
	PCAP_DIR_UE_TO_CORE = 0,
	PCAP_DIR_CORE_TO_UE = 1,
};

/* Open flags. */
#define PCAP_OPEN_APPEND 0x1 /* keep records of an existing file */

/* An IPv4 address (network order octets) and UDP port. */
typedef struct {
	uint8_t addr[4];
	uint16_t port;
} pcap_endpoint_t;

/* Opaque writer. */
typedef struct pcap_writer pcap_writer;

/* Open path for writing (created 0640 if missing). Without
 * PCAP_OPEN_APPEND the file is truncated and a new header written; with
 * it, an existing non-empty file must start with a pcap header of link type
 * 252 in host byte order (else PCAP_ERR_FORMAT) and records are appended.
 * The default endpoints are UE 192.0.2.2:40000 and core 192.0.2.1:4997.
 * Returns 0 and *out, or a PCAP_ERR_* code with a message in err. */
int pcap_writer_open(pcap_writer **out, const char *path, int flags, char *err,
    size_t errlen);

/* Set the endpoints used by pcap_writer_add() (either may be NULL to keep
 * the current one). */
void pcap_writer_set_endpoints(pcap_writer *w, const pcap_endpoint_t *ue,
    const pcap_endpoint_t *core);

/* Append one NAS message of len bytes travelling in direction dir
 * (PCAP_DIR_*), timestamped now. Returns 0 or a PCAP_ERR_* code. */
int pcap_writer_add(pcap_writer *w, int dir, const uint8_t *pdu, size_t len);

/* Append one NAS message from src to dst, timestamped now. */
int pcap_writer_add_addr(pcap_writer *w, const pcap_endpoint_t *src,
    const pcap_endpoint_t *dst, const uint8_t *pdu, size_t len);

/* Flush and close; NULL is allowed. */
void pcap_writer_close(pcap_writer *w);

#endif
