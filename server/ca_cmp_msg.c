/* ca_cmp_msg.c — what a CMP request carries that OpenSSL 3.0 parses but
 * does not hand out (its accessors for these came in 3.2): the header's
 * protectionAlg, senderKID, senderNonce and implicitConfirm, a
 * PKIStatusInfo's status, a certificate template's
 * public key, and an rr's CRLReason. Each is read from the DER OpenSSL
 * itself encodes (i2d of the parsed structure), one TLV at a time with
 * OpenSSL's ASN1_get_object (every length bounded by the enclosing one),
 * and each field is decoded by OpenSSL's own d2i for its type. */
#include "ca_cmp_priv.h"

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* One DER TLV: where it starts, its whole length, tag, class, content. */
struct tlv {
	const unsigned char *der, *content;
	long der_len, len;
	int tag, cls, cons;
};

/* The TLV at *p within *left bytes; *p and *left move past it. Definite
 * lengths only. 0, or -1 when the bytes are not one. */
static int tlv_next(struct tlv *t, const unsigned char **p, long *left)
{
	const unsigned char *start = *p;
	int r;

	if (*left <= 0)
		return -1;
	r = ASN1_get_object(p, &t->len, &t->tag, &t->cls, *left);
	if ((r & 0x80) != 0 || r == (V_ASN1_CONSTRUCTED | 1)) {
		ERR_clear_error();
		return -1;
	}
	t->cons = (r & V_ASN1_CONSTRUCTED) != 0;
	t->der = start;
	t->content = *p;
	t->der_len = (long)(*p - start) + t->len;
	*p += t->len;
	*left -= t->der_len;
	return 0;
}

/* The content of the constructed SEQUENCE at der (len bytes) into *t. */
static int seq_enter(struct tlv *t, const unsigned char *der, long len)
{
	const unsigned char *p = der;

	if (tlv_next(t, &p, &len) != 0 || !t->cons ||
	    t->cls != V_ASN1_UNIVERSAL || t->tag != V_ASN1_SEQUENCE)
		return -1;
	return 0;
}

/* 1 when the generalInfo content (SEQUENCE OF InfoTypeAndValue) holds
 * id-it-implicitConfirm. */
static int info_implicit_confirm(const unsigned char *p, long left)
{
	struct tlv itav, oid;
	const unsigned char *q, *o;
	ASN1_OBJECT *obj;
	long ql;
	int nid;

	while (left > 0) {
		if (tlv_next(&itav, &p, &left) != 0 || !itav.cons)
			return 0;
		q = itav.content;
		ql = itav.len;
		if (tlv_next(&oid, &q, &ql) != 0)
			return 0;
		o = oid.der;
		if ((obj = d2i_ASN1_OBJECT(NULL, &o, oid.der_len)) == NULL) {
			ERR_clear_error();
			return 0;
		}
		nid = OBJ_obj2nid(obj);
		ASN1_OBJECT_free(obj);
		if (nid == NID_id_it_implicitConfirm)
			return 1;
	}
	return 0;
}

/* One tagged header field (EXPLICIT [n]) into out. */
static int hdr_field(ca_cmp_hdr_t *out, const struct tlv *f)
{
	const unsigned char *q = f->content;
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *kid;
	struct tlv seq;

	switch (f->tag) {
	case 1: /* protectionAlg */
		if ((alg = d2i_X509_ALGOR(NULL, &q, f->len)) == NULL)
			return -1;
		out->protection_nid = OBJ_obj2nid(alg->algorithm);
		X509_ALGOR_free(alg);
		return 0;
	case 2: /* senderKID */
		if ((kid = d2i_ASN1_OCTET_STRING(NULL, &q, f->len)) == NULL)
			return -1;
		/* Longer than any reference ProvCA hands out (a signer's
		 * key identifier is 20 bytes): none usable. */
		if (kid->length > 0 &&
		    (size_t)kid->length <= sizeof(out->kid)) {
			memcpy(out->kid, kid->data, (size_t)kid->length);
			out->kid_len = (size_t)kid->length;
		}
		ASN1_OCTET_STRING_free(kid);
		return 0;
	case 5: /* senderNonce */
		if ((kid = d2i_ASN1_OCTET_STRING(NULL, &q, f->len)) == NULL)
			return -1;
		if (kid->length > 0 &&
		    (size_t)kid->length <= sizeof(out->nonce)) {
			memcpy(out->nonce, kid->data, (size_t)kid->length);
			out->nonce_len = (size_t)kid->length;
		}
		ASN1_OCTET_STRING_free(kid);
		return 0;
	case 8: /* generalInfo: [8] EXPLICIT SEQUENCE OF */
		if (seq_enter(&seq, f->content, f->len) != 0)
			return -1;
		out->implicit_confirm =
		    info_implicit_confirm(seq.content, seq.len);
		return 0;
	default: return 0;
	}
}

int ca_cmp_hdr_read(ca_cmp_hdr_t *out, const OSSL_CMP_MSG *msg)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	struct tlv t, f;
	long left;
	int n, rc = -1;

	memset(out, 0, sizeof(*out));
	out->protection_nid = NID_undef;
	if ((n = i2d_OSSL_CMP_PKIHEADER(OSSL_CMP_MSG_get0_header(msg), &der)) <=
	        0 ||
	    seq_enter(&t, der, n) != 0)
		goto out;
	p = t.content;
	left = t.len;
	while (left > 0) {
		if (tlv_next(&f, &p, &left) != 0)
			goto out;
		if (f.cls == V_ASN1_CONTEXT_SPECIFIC && f.cons &&
		    hdr_field(out, &f) != 0)
			goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	ERR_clear_error();
	return rc;
}

EVP_PKEY *ca_cmp_tmpl_pubkey(const OSSL_CRMF_MSG *crm)
{
	unsigned char *der = NULL, *spki = NULL, *w;
	const unsigned char *p, *q;
	EVP_PKEY *pk = NULL;
	struct tlv t, f;
	long left;
	int n, sz;

	if ((n = i2d_OSSL_CRMF_CERTTEMPLATE(OSSL_CRMF_MSG_get0_tmpl(crm),
	         &der)) <= 0 ||
	    seq_enter(&t, der, n) != 0)
		goto out;
	p = t.content;
	left = t.len;
	while (left > 0) {
		if (tlv_next(&f, &p, &left) != 0)
			goto out;
		/* publicKey [6] IMPLICIT SubjectPublicKeyInfo: its content
		 * under a SEQUENCE header is the SPKI. */
		if (f.cls != V_ASN1_CONTEXT_SPECIFIC || f.tag != 6 || !f.cons)
			continue;
		sz = ASN1_object_size(1, f.len, V_ASN1_SEQUENCE);
		if (sz <= 0 || (spki = OPENSSL_malloc((size_t)sz)) == NULL)
			goto out;
		w = spki;
		ASN1_put_object(&w, 1, f.len, V_ASN1_SEQUENCE,
		    V_ASN1_UNIVERSAL);
		memcpy(w, f.content, (size_t)f.len);
		q = spki;
		if ((pk = d2i_PUBKEY(NULL, &q, sz)) != NULL && q != spki + sz) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
		goto out;
	}
out:
	OPENSSL_free(der);
	OPENSSL_free(spki);
	ERR_clear_error();
	return pk;
}

/* The CRLReason of the crlEntryDetails (Extensions, DER at der) or -1. */
static int ext_reason(const unsigned char *der, long len)
{
	STACK_OF(X509_EXTENSION) * exts;
	ASN1_ENUMERATED *e;
	long v = -1;
	int crit = 0;

	if ((exts = d2i_X509_EXTENSIONS(NULL, &der, len)) == NULL)
		return -1;
	if ((e = X509V3_get_d2i(exts, NID_crl_reason, &crit, NULL)) != NULL) {
		v = ASN1_ENUMERATED_get(e);
		ASN1_ENUMERATED_free(e);
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return v >= 0 && v <= 10 ? (int)v : -1;
}

int ca_cmp_rr_reason(const OSSL_CMP_MSG *msg)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	struct tlv t, f;
	long left;
	int n, reason = -1;

	/* PKIMessage { header, body [11] RevReqContent, ... };
	 * RevReqContent ::= SEQUENCE OF RevDetails (OpenSSL answers only
	 * one); RevDetails ::= { certDetails, crlEntryDetails OPTIONAL }. */
	if ((n = i2d_OSSL_CMP_MSG(msg, &der)) <= 0 || seq_enter(&t, der, n))
		goto out;
	p = t.content;
	left = t.len;
	if (tlv_next(&f, &p, &left) != 0 || tlv_next(&f, &p, &left) != 0 ||
	    f.cls != V_ASN1_CONTEXT_SPECIFIC || f.tag != 11 ||
	    seq_enter(&t, f.content, f.len) != 0 || /* RevReqContent */
	    seq_enter(&t, t.content, t.len) != 0)   /* first RevDetails */
		goto out;
	p = t.content;
	left = t.len;
	if (tlv_next(&f, &p, &left) != 0 || left <= 0 || /* certDetails */
	    tlv_next(&f, &p, &left) != 0)
		goto out;
	reason = ext_reason(f.der, f.der_len);
out:
	OPENSSL_free(der);
	ERR_clear_error();
	return reason;
}

int ca_cmp_pkisi_status(const OSSL_CMP_PKISI *si)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	ASN1_INTEGER *st = NULL;
	struct tlv t, f;
	long left, v = -1;
	int n;

	/* PKIStatusInfo ::= SEQUENCE { status PKIStatus (INTEGER), ... } */
	if ((n = i2d_OSSL_CMP_PKISI(si, &der)) <= 0 || seq_enter(&t, der, n))
		goto out;
	p = t.content;
	left = t.len;
	if (tlv_next(&f, &p, &left) != 0)
		goto out;
	p = f.der;
	if ((st = d2i_ASN1_INTEGER(NULL, &p, f.der_len)) != NULL)
		v = ASN1_INTEGER_get(st);
out:
	ASN1_INTEGER_free(st);
	OPENSSL_free(der);
	ERR_clear_error();
	return v >= 0 && v <= 6 ? (int)v : -1;
}
