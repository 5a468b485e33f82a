/* ca_tbs_fast.c — a device certificate's TBS assembled from the
 * template's constant DER pieces (signature algorithm, issuer, the
 * constant extensions) and the per-certificate fields, without OpenSSL's
 * template encoder (it walks ~60 nodes and re-canonicalises the subject:
 * ~0.1 M instructions). Only inputs whose encoding is fixed by the rules
 * below take this path; anything else (non-ASCII or over-long subject
 * strings, a serialNumber OpenSSL would refuse, times outside 1950..9999,
 * unusual key parameters) is handed over to the encoder path, which alone
 * decides refusals. tests/server/test_ca_tbs.c proves the two agree. */
#include "ca_tbs_fast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>

struct ca_tbs_fast {
	/* signature algorithm + issuer; per kind the constant extensions */
	unsigned char *mid, *tail[CA_PROFILE_KINDS];
	size_t mid_len, tail_len[CA_PROFILE_KINDS];
	int on[CA_PROFILE_KINDS];
};

#define DER_MAX_LEN 0xffffffu /* lengths up to 4 octets */

/* The length of a tag and definite length of len content octets. */
static size_t der_hdr_len(size_t len)
{
	return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : 5;
}

/* Tag and definite length; returns the position after them. */
static unsigned char *der_hdr(unsigned char *p, unsigned char tag, size_t len)
{
	*p++ = tag;
	if (len < 0x80) {
		*p++ = (unsigned char)len;
	} else if (len < 0x100) {
		*p++ = 0x81;
		*p++ = (unsigned char)len;
	} else if (len < 0x10000) {
		*p++ = 0x82;
		*p++ = (unsigned char)(len >> 8);
		*p++ = (unsigned char)len;
	} else {
		*p++ = 0x83;
		*p++ = (unsigned char)(len >> 16);
		*p++ = (unsigned char)(len >> 8);
		*p++ = (unsigned char)len;
	}
	return p;
}

/* n bytes of v at p; returns the position after them. */
static unsigned char *der_put(unsigned char *p, const void *v, size_t n)
{
	memcpy(p, v, n);
	return p + n;
}

/* A subject string the DER path encodes: 1..64 printable ASCII characters
 * (OpenSSL's bounds for serialNumber, O and CN count characters; ASCII
 * makes them bytes), and for serialNumber only PrintableString ones. */
static int der_str_ok(const char *v, int printable_string)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		unsigned char c = (unsigned char)v[i];

		if (i >= 64 || c < 0x20 || c > 0x7e)
			return 0;
		if (printable_string &&
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') ||
		        strchr(" '()+,-./:=?", c) != NULL))
			return 0;
	}
	return i > 0;
}

/* ASN1_TIME_set's choice: UTCTime for 1950..2049, else GeneralizedTime.
 * 0 outside 1950..9999 (left to OpenSSL). */
static size_t der_time(char out[16], unsigned char *tag, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	int y;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL)
		return 0;
	y = tm.tm_year + 1900;
	if (y < 1950 || y > 9999)
		return 0;
	if (y < 2050) {
		*tag = V_ASN1_UTCTIME;
		snprintf(out, 16, "%02d%02d%02d%02d%02d%02dZ", y % 100,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec);
		return 13;
	}
	*tag = V_ASN1_GENERALIZEDTIME;
	snprintf(out, 16, "%04d%02d%02d%02d%02d%02dZ", y, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 15;
}

/* One RDN: SET { SEQUENCE { OID 2.5.4.x, string } }. */
static size_t rdn_len(size_t n)
{
	size_t atv = 5 + der_hdr_len(n) + n;
	size_t seq = der_hdr_len(atv) + atv;

	return der_hdr_len(seq) + seq;
}

/* Write the RDN of rdn_len(n) bytes at p; returns the position after it. */
static unsigned char *rdn_put(unsigned char *p, unsigned char attr,
    unsigned char tag, const char *v, size_t n)
{
	size_t atv = 5 + der_hdr_len(n) + n;
	size_t seq = der_hdr_len(atv) + atv;

	p = der_hdr(p, V_ASN1_SET | V_ASN1_CONSTRUCTED, seq);
	p = der_hdr(p, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, atv);
	p = der_put(p, "\x06\x03\x55\x04", 4);
	*p++ = attr;
	p = der_hdr(p, tag, n);
	return der_put(p, v, n);
}

/* What varies per certificate, checked to be in the fast path's reach. */
struct tbs_in {
	const char *v[CA_PROFILE_RDNS];
	size_t n[CA_PROFILE_RDNS], n_uri, l1, l2;
	char t1[16], t2[16];
	unsigned char tag1, tag2;
};

/* 1 if the fast path encodes these inputs exactly as OpenSSL would (in
 * fills), 0 to hand over. */
static int tbs_in_get(struct tbs_in *in, const uint8_t sb[20],
    const ca_device_cert_t *spec)
{
	const ASN1_OBJECT *aobj;
	const void *pval;
	int ptype, i;

	/* A positive INTEGER of 20 content octets, no padding octet. */
	if (sb[0] == 0 || (sb[0] & 0x80) != 0 || spec->csr->blen <= 0 ||
	    (size_t)spec->csr->blen > 65536)
		return 0;
	ca_profile_subject_values(in->v, spec);
	for (i = 0; i < CA_PROFILE_RDNS; i++) {
		if (!der_str_ok(in->v[i],
		        ca_profile_subject[i].der_tag ==
		            V_ASN1_PRINTABLESTRING))
			return 0;
		in->n[i] = strlen(in->v[i]);
	}
	if ((in->l1 = der_time(in->t1, &in->tag1, spec->not_before)) == 0)
		return 0;
	if (spec->not_after == 0) {
		in->tag2 = V_ASN1_GENERALIZEDTIME;
		memcpy(in->t2, CA_PROFILE_NOT_AFTER_NONE,
		    sizeof(CA_PROFILE_NOT_AFTER_NONE));
		in->l2 = sizeof(CA_PROFILE_NOT_AFTER_NONE) - 1;
	} else if ((in->l2 = der_time(in->t2, &in->tag2, spec->not_after)) ==
	    0) {
		return 0;
	}
	/* ca_pubkey_set copies these parameter kinds only. */
	X509_ALGOR_get0(&aobj, &ptype, &pval, spec->csr->alg);
	if (ptype != V_ASN1_OBJECT && ptype != V_ASN1_SEQUENCE &&
	    ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		return 0;
	in->n_uri = strlen(spec->san_uri);
	return in->n_uri <= 4096;
}

/* The subject: one RDN per profile attribute. */
static size_t subject_len(const struct tbs_in *in)
{
	size_t len = 0;
	int i;

	for (i = 0; i < CA_PROFILE_RDNS; i++)
		len += rdn_len(in->n[i]);
	return len;
}

/* Write the subject Name at p; returns the position after it. */
static unsigned char *subject_put(unsigned char *p, const struct tbs_in *in)
{
	int i;

	p = der_hdr(p, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, subject_len(in));
	for (i = 0; i < CA_PROFILE_RDNS; i++)
		p = rdn_put(p, ca_profile_subject[i].oid_arc,
		    (unsigned char)ca_profile_subject[i].der_tag, in->v[i],
		    in->n[i]);
	return p;
}

/* The TBS from the pieces: 1 built, 0 hand over, -1 failure. */
int ca_tbs_fast_build(const ca_tbs_fast_t *s, int k, unsigned char **tbs,
    int *tlen, const uint8_t sb[20], const ca_device_cert_t *spec,
    const EVP_MD *sha1)
{
	static const unsigned char version_serial[7] = { 0xa0, 0x03, 0x02, 0x01,
		0x02, 0x02, 0x14 };
	const ca_csr_t *csr = spec->csr;
	struct tbs_in in;
	unsigned char ski[20], *alg = NULL, *p;
	size_t val, subj, spki, bits, san_gn, san_oct, san, exts, exts_seq,
	    body;
	int alen, rc = -1;

	*tbs = NULL;
	if (k < 0 || k >= CA_PROFILE_KINDS || !s->on[k] ||
	    !tbs_in_get(&in, sb, spec))
		return 0;
	if ((alen = i2d_X509_ALGOR(csr->alg, &alg)) <= 0 ||
	    !ca_profile_ski(ski, sha1, csr->bits, csr->blen))
		goto out;

	val = 2 + in.l1 + 2 + in.l2;
	subj = subject_len(&in);
	bits = (size_t)csr->blen + 1;
	spki = (size_t)alen + der_hdr_len(bits) + bits;
	san_gn = der_hdr_len(in.n_uri) + in.n_uri; /* [6] uri */
	san_oct = der_hdr_len(san_gn) + san_gn;    /* GeneralNames */
	san = 5 + der_hdr_len(san_oct) + san_oct;  /* OID + OCTET STRING */
	exts_seq = 31 + der_hdr_len(san) + san + s->tail_len[k];
	exts = der_hdr_len(exts_seq) + exts_seq;
	body = sizeof(version_serial) + 20 + s->mid_len + der_hdr_len(val) +
	    val + der_hdr_len(subj) + subj + der_hdr_len(spki) + spki +
	    der_hdr_len(exts) + exts;
	if (body > DER_MAX_LEN - 8 ||
	    (*tbs = OPENSSL_malloc(der_hdr_len(body) + body)) == NULL)
		goto out;

	p = der_hdr(*tbs, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, body);
	p = der_put(p, version_serial, sizeof(version_serial));
	p = der_put(p, sb, 20);
	p = der_put(p, s->mid, s->mid_len);
	p = der_hdr(p, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, val);
	p = der_hdr(p, in.tag1, in.l1);
	p = der_put(p, in.t1, in.l1);
	p = der_hdr(p, in.tag2, in.l2);
	p = der_put(p, in.t2, in.l2);
	p = subject_put(p, &in);
	p = der_hdr(p, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, spki);
	p = der_put(p, alg, (size_t)alen);
	p = der_hdr(p, V_ASN1_BIT_STRING, bits);
	*p++ = 0x00; /* no unused bits */
	p = der_put(p, csr->bits, (size_t)csr->blen);
	p = der_hdr(p, 0xa3, exts); /* [3] EXPLICIT */
	p = der_hdr(p, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, exts_seq);
	/* subjectKeyIdentifier: OCTET STRING { OCTET STRING sha1 } */
	p = der_put(p, "\x30\x1d\x06\x03\x55\x1d\x0e\x04\x16\x04\x14", 11);
	p = der_put(p, ski, 20);
	/* subjectAltName: OCTET STRING { SEQUENCE { [6] uri } } */
	p = der_hdr(p, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, san);
	p = der_put(p, "\x06\x03\x55\x1d\x11", 5);
	p = der_hdr(p, V_ASN1_OCTET_STRING, san_oct);
	p = der_hdr(p, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, san_gn);
	p = der_hdr(p, 0x86, in.n_uri);
	p = der_put(p, spec->san_uri, in.n_uri);
	p = der_put(p, s->tail[k], s->tail_len[k]);
	if ((size_t)(p - *tbs) != der_hdr_len(body) + body) {
		OPENSSL_free(*tbs); /* cannot happen: lengths above */
		*tbs = NULL;
		goto out;
	}
	*tlen = (int)(p - *tbs);
	rc = 1;
out:
	OPENSSL_free(alg);
	return rc;
}

/* The constant pieces of one template: signature algorithm + issuer
 * (once, from kind 0) and the extensions after SKI and SAN. */
static int pieces_take(ca_tbs_fast_t *s, X509 *t, int k)
{
	unsigned char *p;
	int i, n, a, b, len;

	if (k == 0) {
		a = i2d_X509_ALGOR(X509_get0_tbs_sigalg(t), NULL);
		b = i2d_X509_NAME(X509_get_issuer_name(t), NULL);
		if (a <= 0 || b <= 0 ||
		    (s->mid = OPENSSL_malloc((size_t)(a + b))) == NULL)
			return 0;
		p = s->mid;
		if (i2d_X509_ALGOR(X509_get0_tbs_sigalg(t), &p) != a ||
		    i2d_X509_NAME(X509_get_issuer_name(t), &p) != b)
			return 0;
		s->mid_len = (size_t)(a + b);
	}
	n = X509_get_ext_count(t);
	if (n != CA_PROFILE_EXT_SAN + 1 + CA_PROFILE_EXTS)
		return 0;
	for (len = 0, i = CA_PROFILE_EXT_SAN + 1; i < n; i++) {
		if ((a = i2d_X509_EXTENSION(X509_get_ext(t, i), NULL)) <= 0)
			return 0;
		len += a;
	}
	if ((s->tail[k] = OPENSSL_malloc((size_t)len)) == NULL)
		return 0;
	p = s->tail[k];
	for (i = CA_PROFILE_EXT_SAN + 1; i < n; i++)
		if (i2d_X509_EXTENSION(X509_get_ext(t, i), &p) <= 0)
			return 0;
	s->tail_len[k] = (size_t)len;
	return 1;
}

/* Take both kinds' pieces; every kind starts disabled. */
int ca_tbs_fast_new(ca_tbs_fast_t **out, X509 *const tmpl[CA_PROFILE_KINDS])
{
	ca_tbs_fast_t *s;
	int k;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CA_ERR_INTERNAL;
	for (k = 0; k < CA_PROFILE_KINDS; k++)
		if (!pieces_take(s, tmpl[k], k)) {
			ca_tbs_fast_free(s);
			return CA_ERR_INTERNAL;
		}
	*out = s;
	return CA_OK;
}

/* Free the pieces; NULL-safe. */
void ca_tbs_fast_free(ca_tbs_fast_t *f)
{
	int k;

	if (f == NULL)
		return;
	OPENSSL_free(f->mid);
	for (k = 0; k < CA_PROFILE_KINDS; k++)
		OPENSSL_free(f->tail[k]);
	free(f);
}

/* Let kind take the fast path, or not. */
void ca_tbs_fast_enable(ca_tbs_fast_t *f, int kind, int on)
{
	if (f != NULL && kind >= 0 && kind < CA_PROFILE_KINDS)
		f->on[kind] = on != 0;
}
